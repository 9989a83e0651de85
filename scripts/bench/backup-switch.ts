/**
 * Backup ingest switch benchmark (issue 11):
 *
 *   npm run bench -- backup-switch [--switches=20] [--viewers=4] [--max-gap-ms=2000] [--hls-clients=3]
 *
 * A room with two OBS-like WHIP encoders on its primary and backup keys
 * (same 640x360@30 H.264 picture, key frame every second; the drill's rig,
 * scripts/drill/ingestDrill.ts) and N werift viewers. Each switch freezes
 * the encoder on air (SIGSTOP); the program fails over to the other one
 * (the stall rule, INGEST_STALL_MS default 1000) and every viewer's
 * interruption is measured from the frozen encoder's last packet to the
 * first packet of the other one; then the frozen encoder resumes (SIGCONT)
 * and the next switch freezes the other side. Fail-back is set out of the way
 * (INGEST_FAILBACK_S=600) so that every switch is a stall switch.
 *
 * Also the relay's cost: its packet rate, the Node process' and the workers'
 * CPU in steady state, and Node CPU per relayed packet measured alone (RTP
 * rewrite + DirectTransport send of synthetic packets on the room's router).
 *
 * HLS through the switches (--hls-clients, 0 turns HLS off): before each
 * switch, fresh LL-HLS players (scripts/loadtest/llHlsClient.ts: loads what
 * hls.js in low-latency mode loads and simulates playback, counting stalls)
 * join the room at the live edge and play until the switch is over. Fresh per
 * switch because a simulated player does not catch up after a stall: one that
 * fell behind live would have seconds of buffer and ride through every later
 * switch, where hls.js returns to its target latency between switches.
 *
 * Targets: every viewer receives the other encoder's frames within 2 s of the
 * frozen encoder's last packet (max over all switches and viewers); an HLS
 * player plays through a switch with at most one stall.
 */
import type { types as ms } from 'mediasoup';
import { RtpTimeline } from '../../server/rooms/programRelayRtp.js';
import { BackupIngestRig, type SwitchMeasure } from '../drill/ingestDrill.js';
import { HlsSwitchPlayers, type HlsSwitchMeasure } from './lib/hlsSwitchPlayers.js';
import { stopAllTracked } from '../../test/helpers/processes.js';
import { waitFor } from '../../test/helpers/wait.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult } from './lib/results.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'backup-switch';

/** Node CPU (user + system, µs) per packet to rewrite and send `count` synthetic RTP packets through a DirectTransport producer. */
async function relayCpuPerPacket(router: ms.Router, count: number): Promise<number> {
  const transport = await router.createDirectTransport();
  try {
    const codec = router.rtpCapabilities.codecs?.find((c) => c.mimeType === 'video/H264');
    if (!codec?.preferredPayloadType) throw new Error('the router has no H.264');
    const producer = await transport.produce({
      kind: 'video',
      rtpParameters: {
        codecs: [
          {
            mimeType: codec.mimeType,
            payloadType: codec.preferredPayloadType,
            clockRate: codec.clockRate,
            parameters: codec.parameters ?? {},
            rtcpFeedback: [],
          },
        ],
        encodings: [{ ssrc: 0x4242_4242 }],
      },
    });
    const timeline = new RtpTimeline({ ssrc: 0x4242_4242, payloadType: codec.preferredPayloadType, clockRate: 90_000, minStep: 3000 });
    const template = Buffer.alloc(1200);
    template[0] = 0x80;
    template[12] = 0x41; // a non-IDR slice
    const start = process.cpuUsage();
    for (let i = 0; i < count; i++) {
      const packet = Buffer.from(template);
      packet.writeUInt16BE(i & 0xffff, 2);
      packet.writeUInt32BE(Math.floor(i / 10) * 3000, 4);
      timeline.rewrite(packet, Date.now());
      producer.send(packet);
      // Yield now and then, as the real relay does between packets.
      if (i % 500 === 499) await sleep(0);
    }
    const used = process.cpuUsage(start);
    return (used.user + used.system) / count;
  } finally {
    transport.close();
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), ['switches', 'viewers', 'max-gap-ms', 'hls-clients']);
  const switches = Math.max(20, Math.round(numberArg(args, 'switches', 20)));
  const viewerCount = Math.round(numberArg(args, 'viewers', 4));
  const maxGapMs = numberArg(args, 'max-gap-ms', 2000);
  const hlsClients = Math.round(numberArg(args, 'hls-clients', 3));
  const run = new BenchRun(NAME, 900_000);
  try {
    const machine = machineInfo();
    progress(NAME, `${describeMachine(machine)}; ${switches} switches, ${viewerCount} viewers, ${hlsClients} LL-HLS players`);
    const rig = await BackupIngestRig.start(run, {
      viewers: viewerCount,
      failbackSeconds: 600,
      env: { HLS_ENABLED: String(hlsClients > 0) },
      encoders: { primary: { video: { keyframeIntervalSec: 1 } }, backup: { video: { keyframeIntervalSec: 1 } } },
    });
    const room = rig.server.rooms.get('ingest-drill')!;

    // Steady state: the relay's packet rate and what the process and the workers spend.
    const relay = room.program.relay;
    if (!relay) throw new Error('the room is not relayed');
    const forwarded0 = relay.forwarded;
    const cpu0 = process.cpuUsage();
    const workers0 = rig.server.pool.details().reduce((n, w) => n + w.cpu, 0);
    const t0 = performance.now();
    await sleep(5000);
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const relayPps = (relay.forwarded - forwarded0) / seconds;
    const nodeCpuPercent = ((cpu.user + cpu.system) / 1e6 / seconds) * 100;
    const workersCpu = (workers0 + rig.server.pool.details().reduce((n, w) => n + w.cpu, 0)) / 2;
    const perPacketUs = await relayCpuPerPacket(room.programMedia()!.router, 20_000);
    progress(
      NAME,
      `relay: ${fmt(relayPps, 0)} packets/s; Node CPU per relayed packet ${fmt(perPacketUs, 1)} µs → ${fmt((relayPps * perPacketUs) / 1e4, 2)} % of a core`,
    );

    const measures: SwitchMeasure[] = [];
    const hlsMeasures: HlsSwitchMeasure[] = [];
    const hlsUrl = `${rig.server.url}/hls/${room.id}/index.m3u8`;
    for (let i = 0; i < switches; i++) {
      const onAir = rig.active();
      if (!onAir) throw new Error('nothing on air');
      const players = hlsClients > 0 ? run.defer(`HLS players ${i}`, await HlsSwitchPlayers.join(hlsUrl, hlsClients, `switch${i}`), (p) => p.close()) : null;
      const measure = await rig.stall(onAir);
      measures.push(measure);
      const worst = Math.max(...measure.interruptionsMs.map((v) => v ?? Infinity));
      rig.resume(onAir);
      // The resumed encoder must be healthy again before it can take over at the next switch.
      await waitFor(() => room.programStatus().slots.every((s) => s.healthy), { description: 'both encoders healthy', timeoutMs: 15_000, progressEveryMs: 0 });
      const hls = players ? await players.finish() : null;
      if (hls) hlsMeasures.push(hls);
      progress(
        NAME,
        `switch ${i + 1}/${switches}: ${onAir} frozen → ${rig.active() ?? 'nothing'}; worst viewer ${fmt(worst, 0)} ms` +
          (hls
            ? `; HLS stalls per player ${hls.players.map((p) => `${p.stalls} (${fmt(p.stallMs, 0)} ms)`).join(', ')}, ` +
              `PART-TARGET ${fmt(hls.before.partTarget, 3)} → ${fmt(hls.after.partTarget, 3)} s`
            : ''),
      );
      await sleep(1500);
    }

    const all = measures.flatMap((m) => m.interruptionsMs);
    const values = all.filter((v): v is number => v !== null);
    const summary = summarize(values);
    const perViewer = rig.viewers.map((v, i) => ({ name: v.name, summary: summarize(measures.map((m) => m.interruptionsMs[i] ?? Number.NaN)) }));
    console.log(
      formatTable(
        ['viewer', 'switches', 'p50 ms', 'p95 ms', 'max ms'],
        perViewer.map((v) => [v.name, String(v.summary.count), fmt(v.summary.p50, 0), fmt(v.summary.p95, 0), fmt(v.summary.max, 0)]),
      ),
    );
    const rejoined = rig.viewersWithNewConsumers();
    const missing = all.length - values.length;
    const hlsReport = hlsMeasures.length ? HlsSwitchPlayers.report(hlsMeasures) : null;
    const pass = missing === 0 && summary.max <= maxGapMs && rejoined.length === 0 && (hlsReport?.pass ?? true);
    console.log(
      `\nall viewers × switches: n=${summary.count}, p50 ${fmt(summary.p50, 0)} ms, p95 ${fmt(summary.p95, 0)} ms, max ${fmt(summary.max, 0)} ms (target ≤ ${maxGapMs}); ` +
        `never resumed: ${missing}; viewers that rejoined or got a new consumer: ${rejoined.length}\n` +
        `relay: ${fmt(relayPps, 0)} packets/s, ${fmt(perPacketUs, 1)} µs Node CPU per packet (≈ ${fmt((relayPps * perPacketUs) / 1e4, 2)} % of a core); ` +
        `steady state: Node process ${fmt(nodeCpuPercent, 1)} % (it also runs the encoders and viewers), workers ${fmt(workersCpu * 100, 1)} %`,
    );
    if (hlsReport) console.log(`\nLL-HLS players through the switches (target: at most one stall per switch)\n\n${hlsReport.text}`);
    const file = writeResult(NAME, {
      machine,
      switches,
      viewers: viewerCount,
      maxGapMs,
      summary,
      perViewer,
      measures,
      relay: { packetsPerSecond: relayPps, nodeCpuMicrosPerPacket: perPacketUs },
      steadyState: { nodeProcessCpuPercent: nodeCpuPercent, workersCpu },
      rejoined,
      hls: hlsReport ? { clientsPerSwitch: hlsClients, ...hlsReport.figures, measures: hlsMeasures } : null,
      pass,
    });
    progress(NAME, `${pass ? 'PASS' : 'FAIL'}; results in ${file}`);
    return pass ? 0 : 1;
  } finally {
    await run.cleanup();
    await stopAllTracked();
  }
}

await exitAfter(NAME, main);
