/**
 * Backup ingest failover drill (issue 11), dispatched from drill.ts:
 *
 *   npm run drill -- ingest [--viewers=4] [--max-gap-ms=2000] [--failback-s=4]
 *
 * A real server in this process (WEBHOOK_URLS at a local receiver), a room
 * with two OBS-like WHIP encoders (node-datachannel + ffmpeg; the backup a
 * different picture: 426x240 at 15 fps against 640x360 at 30 fps) and N
 * werift viewers. The primary's ffmpeg is frozen (SIGSTOP): per viewer, the
 * interruption from the primary's last packet to the first packet of the
 * backup, whether it kept its one consumer per kind, RTP sequence losses;
 * the ingest_failover alert and the signed ingest.switched webhook. Then
 * SIGCONT and the fail-back after --failback-s. PASS when every viewer is
 * back within --max-gap-ms without rejoining and the alert and webhook came.
 *
 * `BackupIngestRig` is also the backup-switch bench's stage (scripts/bench/backup-switch.ts).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodeDataChannel from 'node-datachannel';
import type { FloodlightServer } from '../../server/app.js';
import type { ProgramSlot } from '../../server/contracts/programApi.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { HeadlessViewer } from '../../test/helpers/headlessViewer.js';
import { WhipEncoder, type WhipEncoderOptions } from '../../test/helpers/whipEncoder.js';
import { MediaGapMonitor } from '../../test/helpers/mediaGapMonitor.js';
import { waitFor } from '../../test/helpers/wait.js';
import type { BenchRun } from '../bench/lib/lifecycle.js';
import { machineInfo } from '../bench/lib/machine.js';
import { fmt, formatTable, numberArg, progress, summarize, writeResult } from '../bench/lib/results.js';
import { WebhookReceiver } from './webhookReceiver.js';

const ROOM = 'ingest-drill';

export interface BackupIngestRigOptions {
  viewers: number;
  failbackSeconds: number;
  /** Encoder settings per slot (defaults: the same 640x360@30 picture on both). */
  encoders?: Partial<Record<ProgramSlot, WhipEncoderOptions>>;
  /** Extra server environment. */
  env?: Record<string, string>;
}

/** One measured switch: who stalled, and each viewer's interruption (ms, null: never came back). */
export interface SwitchMeasure {
  stalled: ProgramSlot;
  interruptionsMs: Array<number | null>;
}

/** A server, a room with a primary and a backup WHIP encoder, and werift viewers. */
export class BackupIngestRig {
  readonly server: FloodlightServer;
  readonly hooks: WebhookReceiver;
  readonly encoders: Record<ProgramSlot, WhipEncoder>;
  readonly viewers: HeadlessViewer[] = [];
  readonly #keysDir: string;

  private constructor(server: FloodlightServer, hooks: WebhookReceiver, encoders: Record<ProgramSlot, WhipEncoder>, keysDir: string) {
    this.server = server;
    this.hooks = hooks;
    this.encoders = encoders;
    this.#keysDir = keysDir;
  }

  static async start(run: BenchRun, options: BackupIngestRigOptions): Promise<BackupIngestRig> {
    const keysDir = run.defer('keys dir', fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-ingest-drill-')), (dir) =>
      fs.rmSync(dir, { recursive: true, force: true }),
    );
    const hooks = run.defer('webhook receiver', await WebhookReceiver.start('ingest-drill-secret'), (h) => h.close());
    const server = run.defer(
      'server',
      await startTestServer({
        STREAM_KEYS_DIR: keysDir,
        HLS_ENABLED: 'false',
        INGEST_FAILBACK_S: String(options.failbackSeconds),
        WEBHOOK_URLS: hooks.url,
        WEBHOOK_SECRET: hooks.secret,
        ...options.env,
      }),
      (s) => s.close(),
    );
    // Registered before the peers: runs after they closed (cleanups run newest first).
    run.defer('libdatachannel', null, () => nodeDataChannel.cleanup());
    const encoders: Record<ProgramSlot, WhipEncoder> = {
      primary: run.defer('primary encoder', new WhipEncoder({ name: 'primary', ...options.encoders?.primary }), (e) => e.close()),
      backup: run.defer(
        'backup encoder',
        new WhipEncoder({ name: 'backup', audioSsrc: 0x2222_0001, videoSsrc: 0x2222_0002, toneHz: 660, ...options.encoders?.backup }),
        (e) => e.close(),
      ),
    };
    const rig = new BackupIngestRig(server, hooks, encoders, keysDir);
    for (const slot of ['primary', 'backup'] as const) await rig.#connect(slot);
    for (let i = 0; i < options.viewers; i++) {
      rig.viewers.push(run.defer(`viewer ${i}`, new HeadlessViewer({ url: server.url, room: ROOM, name: `viewer-${i}` }), (v) => v.close()));
    }
    await Promise.all(rig.viewers.map((v) => v.join()));
    await Promise.all(rig.viewers.map((v) => v.waitForNewFrames(30, 30_000)));
    return rig;
  }

  get keysDir(): string {
    return this.#keysDir;
  }

  active(): ProgramSlot | undefined {
    return this.server.rooms.get(ROOM)?.programStatus().active ?? undefined;
  }

  /**
   * Freezes `slot`'s encoder (SIGSTOP) and measures every viewer's video
   * interruption from its last packet to the first one after the switch.
   * The encoder stays frozen; `resume(slot)` lets it go on.
   */
  async stall(slot: ProgramSlot, timeoutMs = 10_000): Promise<SwitchMeasure> {
    const monitors = this.viewers.map((v) => new MediaGapMonitor(() => v.stats().video.packets));
    try {
      // The monitors must see the stream flowing before the stall.
      await waitFor(() => monitors.every((m) => m.growths >= 3), { description: 'every viewer receiving video', timeoutMs: 10_000, progressEveryMs: 0 });
      const encoder = this.encoders[slot];
      encoder.signalMedia('SIGSTOP');
      const stoppedAt = Date.now();
      // The encoder's last packet: what it handed to libdatachannel before the freeze.
      const lastPacketAt = Math.min(stoppedAt, encoder.lastSentAt ?? stoppedAt);
      await waitFor(() => monitors.every((m) => m.resumedAfter(stoppedAt) !== undefined), {
        description: `every viewer to receive video after the ${slot} encoder stalled`,
        timeoutMs,
        progressEveryMs: 0,
      }).catch(() => undefined);
      const interruptionsMs = monitors.map((m) => {
        const resumed = m.resumedAfter(stoppedAt);
        return resumed === undefined ? null : resumed - lastPacketAt;
      });
      return { stalled: slot, interruptionsMs };
    } finally {
      for (const m of monitors) m.stop();
    }
  }

  resume(slot: ProgramSlot): void {
    this.encoders[slot].signalMedia('SIGCONT');
  }

  /** Viewers that rejoined or lost a consumer (should be none). */
  viewersWithNewConsumers(): string[] {
    return this.viewers
      .filter((v) => v.stats().joins !== 1 || v.stats().consumers.length !== 2 || v.stats().consumers.some((c) => c.closed))
      .map((v) => v.name);
  }

  async #connect(slot: ProgramSlot): Promise<void> {
    const keyResponse = await fetch(`${this.server.url}/api/rooms/${ROOM}/keys`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await this.server.tokens.issue({ room: '*', role: 'admin' }, 3600)}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ slot }),
    });
    if (keyResponse.status !== 201) throw new Error(`creating the ${slot} key: HTTP ${keyResponse.status}`);
    const { key } = ((await keyResponse.json()) as { key: { key: string } }).key;
    const encoder = this.encoders[slot];
    const response = await encoder.publish(`${this.server.url}/whip/${ROOM}`, key);
    if (response.status !== 201) throw new Error(`the ${slot} WHIP publish: HTTP ${response.status} ${await response.text()}`);
    await encoder.startMedia();
    await waitFor(
      () =>
        this.server.rooms
          .get(ROOM)
          ?.programStatus()
          .slots.find((s) => s.slot === slot)?.healthy === true,
      {
        description: `the ${slot} encoder to deliver video`,
        timeoutMs: 20_000,
      },
    );
  }
}

export async function ingestDrill(run: BenchRun, args: Map<string, string>): Promise<boolean> {
  const name = 'drill-ingest';
  const viewerCount = Math.round(numberArg(args, 'viewers', 4));
  const maxGapMs = numberArg(args, 'max-gap-ms', 2000);
  const failbackSeconds = numberArg(args, 'failback-s', 4);
  progress(name, `starting: a server, primary + backup WHIP encoders, ${viewerCount} viewers`);
  const rig = await BackupIngestRig.start(run, {
    viewers: viewerCount,
    failbackSeconds,
    encoders: { primary: { video: { width: 640, height: 360, fps: 30 } }, backup: { video: { width: 426, height: 240, fps: 15, bitrateKbps: 400 } } },
  });
  progress(name, `on air: ${rig.active() ?? 'nothing'}; freezing the primary encoder (SIGSTOP)`);
  const measure = await rig.stall('primary');
  const onBackup = rig.active();
  const alert = rig.server.alerts.active().find((a) => a.rule === 'ingest_failover' && a.room === ROOM);
  rig.resume('primary');
  progress(name, `primary resumed (SIGCONT); waiting for the fail-back after ${failbackSeconds} s`);
  const resumedAt = Date.now();
  const failedBack = await waitFor(() => rig.active() === 'primary', {
    description: 'the fail-back',
    timeoutMs: failbackSeconds * 1000 + 10_000,
    progressEveryMs: 0,
  }).then(
    () => Date.now() - resumedAt,
    () => null,
  );
  await waitFor(() => rig.hooks.deliveries.filter((d) => d.type === 'ingest.switched').length >= 2, {
    description: 'the ingest.switched webhooks',
    timeoutMs: 10_000,
    progressEveryMs: 0,
  }).catch(() => undefined);
  const switchedHooks = rig.hooks.deliveries.filter((d) => d.type === 'ingest.switched');
  const rejoined = rig.viewersWithNewConsumers();

  const rows = rig.viewers.map((v, i) => {
    const ms = measure.interruptionsMs[i] ?? null;
    const stats = v.stats();
    return [
      v.name,
      ms === null ? 'never' : fmt(ms, 0),
      String(stats.joins - 1),
      String(stats.consumers.length),
      String(stats.video.lost),
      ms !== null && ms <= maxGapMs ? 'PASS' : 'FAIL',
    ];
  });
  console.log(formatTable(['viewer', 'interruption ms', 'rejoins', 'consumers', 'video lost', 'verdict'], rows));
  const summary = summarize(measure.interruptionsMs.filter((v): v is number => v !== null));
  console.log(
    `\ninterruption p50 ${fmt(summary.p50, 0)} ms, max ${fmt(summary.max, 0)} ms (limit ${maxGapMs}); on air after the stall: ${onBackup ?? 'nothing'}; ` +
      `ingest_failover alert: ${alert ? `fired (${alert.message})` : 'MISSING'}; ingest.switched webhooks: ${switchedHooks.length} (signed: ${switchedHooks.every((d) => d.signatureOk)}); ` +
      `fail-back after SIGCONT: ${failedBack === null ? 'NONE' : `${fmt(failedBack / 1000, 1)} s`}`,
  );
  const pass =
    measure.interruptionsMs.every((ms) => ms !== null && ms <= maxGapMs) &&
    onBackup === 'backup' &&
    !!alert &&
    switchedHooks.length >= 2 &&
    switchedHooks.every((d) => d.signatureOk) &&
    failedBack !== null &&
    rejoined.length === 0;
  const file = writeResult(name, {
    machine: machineInfo(),
    viewers: viewerCount,
    maxGapMs,
    failbackSeconds,
    interruptionsMs: measure.interruptionsMs,
    summary,
    onBackup,
    alert: alert ?? null,
    webhooks: switchedHooks,
    failbackMs: failedBack,
    rejoined,
    pass,
  });
  progress(name, `${pass ? 'PASS' : 'FAIL'}; results in ${file}`);
  return pass;
}
