/**
 * Failure drills (run through scripts/drill/run, which sets MEDIASOUP_WORKER_BIN):
 *
 *   npm run drill -- worker [--viewers=8] [--target=publisher|consumer] [--max-gap-ms=2000] [--hls]
 *   npm run drill -- ffmpeg [--max-gap-ms=5000]
 *   npm run drill -- node-edge|node-origin|redis|drain [--viewers=6] …   (clusterDrills.ts)
 *   npm run drill -- ingest [--viewers=4] [--max-gap-ms=2000] [--failback-s=4]   (ingestDrill.ts)
 *
 * worker: a real server in this process (2 mediasoup workers, a low
 * MAX_CONSUMERS_PER_ROUTER so the viewers span both workers, WEBHOOK_URLS at
 * a local receiver), a HeadlessPublisher (ffmpeg test pattern, VP8 + Opus)
 * and N HeadlessViewers. Every viewer is sampled every ~20 ms (complete video
 * frames, keyframes, audio packets and the exact arrival time of the newest
 * packet) so the gap around the crash is known to the packet. Then the chosen
 * worker is SIGKILLed: `publisher` = the worker of the publisher's router
 * (every viewer loses media: the room is rebuilt), `consumer` = a worker
 * with only a consumer router of the room (its viewers rejoin elsewhere).
 * Per viewer: worker before → after, rejoined, video gap (last frame of the
 * old session → first complete frame of the new one), when video and audio
 * came back after the kill, the first keyframe. PASS when video and audio are
 * back within --max-gap-ms (2 s) of the kill. Also: did the worker_died alert
 * fire and resolve (server.alerts and the signed webhook deliveries), when.
 *
 * ffmpeg: a server with HLS, a publisher; the room's HLS ffmpeg is SIGKILLed
 * (server.hls.ffmpegPid). The first media playlist is polled every 50 ms: the
 * gap is from the last part before the kill to the first part after the
 * discontinuity the restart brings.
 *
 * Output: a Markdown table, bench-results/drill-<name>-<timestamp>.json,
 * exit 1 on FAIL. Everything started is stopped, also on errors and Ctrl-C.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as mediasoup from 'mediasoup';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer, type ViewerStats } from '../../test/helpers/headlessPeer.js';
import { stopAllTracked } from '../../test/helpers/processes.js';
import { waitFor, WaitTimeoutError } from '../../test/helpers/wait.js';
import { BenchRun, sleep } from '../bench/lib/lifecycle.js';
import { machineInfo } from '../bench/lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, writeResult } from '../bench/lib/results.js';
import { clusterDrills } from './clusterDrills.js';
import { ingestDrill } from './ingestDrill.js';
import { WebhookReceiver, type WebhookDelivery } from './webhookReceiver.js';

const ROOM = 'drill';
const SAMPLE_MS = 20;

// ------------------------------------------------------------------ alerts (server.alerts, see the contract)

interface AlertLike {
  id: string;
  rule: string;
  state: string;
  worker: number | null;
  room: string | null;
  firedAt: string | number;
  resolvedAt: string | number | null;
  message?: string;
}
interface AlertsApi {
  active(): AlertLike[];
  history(): AlertLike[];
}

function alertsOf(server: FloodlightServer): AlertsApi | undefined {
  const alerts = (server as unknown as { alerts?: Partial<AlertsApi> }).alerts;
  return alerts && typeof alerts.active === 'function' && typeof alerts.history === 'function' ? (alerts as AlertsApi) : undefined;
}

function epochMs(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  const ms = typeof value === 'number' ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** Every alert the server knows (active and history), newest state per id. */
function allAlerts(api: AlertsApi | undefined): AlertLike[] {
  if (!api) return [];
  const byId = new Map<string, AlertLike>();
  for (const alert of [...api.active(), ...api.history()]) {
    const previous = byId.get(alert.id);
    if (!previous || (previous.state !== 'resolved' && alert.state === 'resolved')) byId.set(alert.id, alert);
  }
  return [...byId.values()];
}

// ------------------------------------------------------------------ which worker a consumer lives on

/**
 * consumerId → worker index, from mediasoup's observer API (registered before
 * the server creates its workers; the pid → index lookup happens when the
 * consumer is created, so replaced workers are told apart).
 */
class ConsumerPlacement {
  readonly #workerOf = new Map<string, number>();
  #server: FloodlightServer | undefined;

  constructor() {
    mediasoup.observer.on('newworker', (worker) => {
      worker.observer.on('newrouter', (router) => {
        router.observer.on('newtransport', (transport) => {
          transport.observer.on('newconsumer', (consumer) => {
            const index = this.#server?.pool.details().find((w) => w.pid === worker.pid)?.index;
            if (index !== undefined) this.#workerOf.set(consumer.id, index);
          });
        });
      });
    });
  }

  attach(server: FloodlightServer): void {
    this.#server = server;
  }

  /** The worker of the viewer's newest video consumer. */
  workerOf(stats: ViewerStats): number | undefined {
    const video = stats.consumers.filter((c) => c.kind === 'video').sort((a, b) => b.session - a.session);
    for (const consumer of video) {
      const index = this.#workerOf.get(consumer.consumerId);
      if (index !== undefined) return index;
    }
    return undefined;
  }
}

// ------------------------------------------------------------------ sampling

interface Sample {
  t: number;
  completeFrames: number;
  keyframes: number;
  audioPackets: number;
  videoLastPacketAt: number | undefined;
  audioLastPacketAt: number | undefined;
}

/** Samples every viewer every SAMPLE_MS; turns count increases into arrival events (exact packet times). */
class Sampler {
  readonly samples: Sample[][];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly viewers: HeadlessViewer[]) {
    this.samples = viewers.map(() => []);
  }

  start(): void {
    this.#timer = setInterval(() => this.sample(), SAMPLE_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  sample(): void {
    const t = performance.now();
    this.viewers.forEach((viewer, i) => {
      const s = viewer.stats();
      this.samples[i]!.push({
        t,
        completeFrames: s.video.completeFrames,
        keyframes: s.video.keyframes,
        audioPackets: s.audio.packets,
        videoLastPacketAt: s.video.lastPacketAt,
        audioLastPacketAt: s.audio.lastPacketAt,
      });
    });
  }

  /** The longest pause between two sampling ticks in [from, to]: this process's own event-loop stall. */
  loopStall(from: number, to: number): { gap: number; end: number } | null {
    return maxGap(this.samples[0]?.map((s) => s.t) ?? [], from, to);
  }

  /** Arrival times (performance.now()) of complete video frames / keyframes / audio packets, as sampled. */
  events(index: number, pick: (s: Sample) => number, at: (s: Sample) => number | undefined): number[] {
    const list = this.samples[index]!;
    const times: number[] = [];
    for (let i = 1; i < list.length; i++) {
      if (pick(list[i]!) > pick(list[i - 1]!)) times.push(at(list[i]!) ?? list[i]!.t);
    }
    return times;
  }
}

// ------------------------------------------------------------------ worker drill

interface ViewerResult {
  name: string;
  workerBefore: number | null;
  workerAfter: number | null;
  rejoined: boolean;
  joins: number;
  /** ms, relative to the kill (negative: before). */
  lastVideoBefore: number | null;
  firstVideoFrameAfter: number | null;
  firstKeyframeAfter: number | null;
  lastAudioBefore: number | null;
  firstAudioAfter: number | null;
  /** Media gaps (ms): the longest silence around the kill. */
  videoGapMs: number | null;
  audioGapMs: number | null;
  pass: boolean;
  note: string | null;
}

function maxGap(times: number[], from: number, to: number): { gap: number; end: number } | null {
  const within = times.filter((t) => t >= from && t <= to);
  let best: { gap: number; end: number } | null = null;
  for (let i = 1; i < within.length; i++) {
    const gap = within[i]! - within[i - 1]!;
    if (!best || gap > best.gap) best = { gap, end: within[i]! };
  }
  return best;
}

async function workerDrill(run: BenchRun, args: Map<string, string>): Promise<boolean> {
  const viewerCount = Math.round(numberArg(args, 'viewers', 8));
  const maxGapMs = numberArg(args, 'max-gap-ms', 2000);
  const target = args.get('target') ?? 'publisher';
  if (target !== 'publisher' && target !== 'consumer') throw new Error(`--target must be publisher or consumer, got ${target}`);
  if (viewerCount < 2) throw new Error('--viewers must be at least 2 (they must span both workers)');
  const withHls = (args.get('hls') ?? 'false') !== 'false';

  const placement = new ConsumerPlacement();
  const secret = randomBytes(24).toString('base64url');
  const receiver = run.defer('webhook receiver', await WebhookReceiver.start(secret), (r) => r.close());
  // Half the viewers per router (2 consumers each): the audience spans two routers, one per worker.
  const perRouter = Math.max(2, 2 * Math.ceil(viewerCount / 2));
  progress('drill-worker', `starting a server (2 workers, MAX_CONSUMERS_PER_ROUTER=${perRouter}, HLS ${withHls ? 'on' : 'off'}, webhook → ${receiver.url})`);
  const server = run.defer(
    'server',
    await startTestServer({
      MAX_CONSUMERS_PER_ROUTER: String(perRouter),
      WEBHOOK_URLS: receiver.url,
      WEBHOOK_SECRET: secret,
      HLS_ENABLED: withHls ? 'true' : 'false',
      LOG_LEVEL: process.env['DRILL_LOG_LEVEL'] ?? 'error',
    }),
    (s) => s.close(),
  );
  placement.attach(server);
  const alertsApi = alertsOf(server);
  if (!alertsApi) progress('drill-worker', 'warning: this server has no alerts API (server.alerts); alert timings will be missing');

  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 3600);
  const publisher = run.defer(
    'publisher',
    new HeadlessPublisher({
      url: server.url,
      room: ROOM,
      token,
      name: 'publisher',
      video: { width: 640, height: 360, bitrateKbps: 600, keyframeIntervalSec: 1 },
    }),
    (p) => p.close(),
  );
  await publisher.publish();
  progress('drill-worker', `publisher live; joining ${viewerCount} viewers`);
  const viewers = Array.from({ length: viewerCount }, (_, i) =>
    run.defer(`viewer-${i}`, new HeadlessViewer({ url: server.url, room: ROOM, name: `viewer-${i}` }), (v) => v.close()),
  );
  for (let i = 0; i < viewers.length; i += 4) await Promise.all(viewers.slice(i, i + 4).map((v) => v.join()));
  const startFrames = viewers.map((v) => v.stats().video.completeFrames);
  await waitFor(() => viewers.every((v, i) => v.stats().video.completeFrames - startFrames[i]! >= 30 && v.stats().audio.packets > 20), {
    description: 'media at every viewer before the crash',
    timeoutMs: 30_000,
    progress: () => viewers.map((v) => v.summary()).join('\n'),
  });

  const room = server.rooms.get(ROOM);
  if (!room) throw new Error('the drill room is gone');
  const layout = room.routerLayout();
  progress('drill-worker', `routers: ${layout.map((r) => `worker ${r.workerIndex}${r.publisher ? ' (publisher)' : ''}: ${r.viewers} viewers`).join(', ')}`);
  const publisherWorker = layout.find((r) => r.publisher)?.workerIndex;
  const consumerWorker = layout.find((r) => !r.publisher && r.workerIndex !== publisherWorker)?.workerIndex;
  const victim = target === 'publisher' ? publisherWorker : consumerWorker;
  if (victim === undefined) throw new Error(`no ${target} worker to kill (layout: ${JSON.stringify(layout)})`);
  if (new Set(layout.map((r) => r.workerIndex)).size < 2) progress('drill-worker', 'warning: the room does not span both workers');

  const sampler = new Sampler(viewers);
  sampler.start();
  run.defer('sampler', sampler, (s) => s.stop());
  await sleep(2_000); // steady state before the kill

  const before = viewers.map((v) => v.stats());
  const workersBefore = before.map((s) => placement.workerOf(s) ?? null);
  const victimBefore = server.pool.details()[victim]!;
  const pid = victimBefore.pid;
  if (!pid) throw new Error(`worker ${victim} has no pid`);
  progress('drill-worker', `SIGKILL worker ${victim} (pid ${pid}, the ${target} worker)`);
  const killWall = Date.now();
  const killAt = performance.now();
  process.kill(pid, 'SIGKILL');
  // When the pool has a new worker in the slot (measured from the kill, in the background).
  const replaced = waitFor(() => server.pool.allAlive && server.pool.details()[victim]!.generation > victimBefore.generation, {
    description: `worker ${victim} replaced`,
    timeoutMs: 15_000,
    intervalMs: 10,
    progressEveryMs: 0,
  }).then(
    () => Date.now() - killWall,
    () => null,
  );

  // Recovery: every viewer has 15 complete frames and 25 audio packets more than at the kill.
  const framesAtKill = before.map((s) => s.video.completeFrames);
  const audioAtKill = before.map((s) => s.audio.packets);
  const recovered = () => viewers.map((v, i) => v.stats().video.completeFrames - framesAtKill[i]! >= 15 && v.stats().audio.packets - audioAtKill[i]! >= 25);
  let recoveryTimedOut = false;
  try {
    await waitFor(() => recovered().every(Boolean), {
      description: 'media at every viewer after the crash',
      timeoutMs: 30_000,
      intervalMs: 50,
      progress: () => viewers.map((v) => v.summary()).join('\n'),
    });
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    recoveryTimedOut = true;
    progress('drill-worker', `not every viewer recovered within 30 s`);
  }
  const recoveredAt = performance.now() - killAt;
  await sleep(1_000);
  sampler.stop();
  const replacedAfterMs = await replaced;
  if (replacedAfterMs === null) progress('drill-worker', `worker ${victim} was not replaced within 15 s`);

  // Alerts: worker_died for the victim, fired after the kill; wait for it to resolve (server and webhook).
  const isOurs = (a: { rule?: string; worker?: number | null; firedAt?: string | number }) =>
    a.rule === 'worker_died' && a.worker === victim && (epochMs(a.firedAt) ?? 0) >= killWall - 1000;
  const hookFor = (type: string) => receiver.deliveries.find((d: WebhookDelivery) => d.type === type && d.alert !== null && isOurs(d.alert));
  if (alertsApi) {
    await waitFor(() => allAlerts(alertsApi).some((a) => isOurs(a) && a.state === 'resolved') && hookFor('alert.resolved') !== undefined, {
      description: 'worker_died alert resolved (server and webhook)',
      timeoutMs: 20_000,
      progressEveryMs: 5_000,
    }).catch(() => progress('drill-worker', 'the worker_died alert did not fire and resolve (server and webhook) within 20 s'));
  }
  const alert = allAlerts(alertsApi).find(isOurs) ?? null;
  const firedHook = hookFor('alert.fired') ?? null;
  const resolvedHook = hookFor('alert.resolved') ?? null;

  // ---- per viewer
  const after = viewers.map((v) => v.stats());
  const loopStall = sampler.loopStall(killAt - 200, killAt + recoveredAt + 1000);
  const results: ViewerResult[] = viewers.map((viewer, i) => {
    const s0 = before[i]!;
    const s1 = after[i]!;
    const rejoined = s1.joins > s0.joins;
    const rel = (t: number | null | undefined) => (t === null || t === undefined ? null : t - killAt);
    const frames = sampler.events(
      i,
      (s) => s.completeFrames,
      (s) => s.videoLastPacketAt,
    );
    const keyframes = sampler.events(
      i,
      (s) => s.keyframes,
      (s) => s.videoLastPacketAt,
    );
    const audio = sampler.events(
      i,
      (s) => s.audioPackets,
      (s) => s.audioLastPacketAt,
    );
    const end = killAt + recoveredAt + 1000;
    let lastVideoBefore: number | null;
    let firstVideo: number | null;
    let firstKey: number | null;
    let lastAudioBefore: number | null;
    let firstAudio: number | null;
    if (rejoined) {
      // The old session's last packets (in-flight ones included) vs the new session's first ones.
      const old = s1.consumers.filter((c) => c.session <= s0.joins);
      const fresh = s1.consumers.filter((c) => c.session > s0.joins);
      const maxOf = (list: number[]) => (list.length ? Math.max(...list) : null);
      const minOf = (list: number[]) => (list.length ? Math.min(...list) : null);
      lastVideoBefore = maxOf(old.filter((c) => c.kind === 'video' && c.lastPacketAt !== undefined).map((c) => c.lastPacketAt!));
      lastAudioBefore = maxOf(old.filter((c) => c.kind === 'audio' && c.lastPacketAt !== undefined).map((c) => c.lastPacketAt!));
      const firstVideoPacket = minOf(fresh.filter((c) => c.kind === 'video' && c.firstPacketAt !== undefined).map((c) => c.firstPacketAt!));
      firstVideo = firstVideoPacket === null ? null : (frames.find((t) => t >= firstVideoPacket) ?? null);
      firstKey = minOf(fresh.filter((c) => c.kind === 'video' && c.firstKeyframeAt !== undefined).map((c) => c.firstKeyframeAt!));
      firstAudio = minOf(fresh.filter((c) => c.kind === 'audio' && c.firstPacketAt !== undefined).map((c) => c.firstPacketAt!));
    } else {
      // Not affected: the media kept flowing; the longest silence after the kill is its gap.
      const v = maxGap(frames, killAt - 200, end);
      const a = maxGap(audio, killAt - 200, end);
      lastVideoBefore = v ? v.end - v.gap : null;
      firstVideo = v ? v.end : null;
      lastAudioBefore = a ? a.end - a.gap : null;
      firstAudio = a ? a.end : null;
      firstKey = keyframes.find((t) => t > killAt) ?? null;
    }
    const videoBack = rel(firstVideo);
    const audioBack = rel(firstAudio);
    const videoGapMs = firstVideo !== null && lastVideoBefore !== null ? firstVideo - lastVideoBefore : null;
    const audioGapMs = firstAudio !== null && lastAudioBefore !== null ? firstAudio - lastAudioBefore : null;
    // PASS: media again within maxGapMs of the kill (not affected: no silence longer than that).
    const back = (t: number | null) => t !== null && Math.max(0, t) <= maxGapMs;
    const pass = rejoined ? back(videoBack) && back(audioBack) : videoGapMs !== null && audioGapMs !== null && videoGapMs <= maxGapMs && audioGapMs <= maxGapMs;
    let note: string | null = null;
    if (!rejoined && recovered()[i] === false) note = 'no media after the crash';
    else if (!rejoined && (videoGapMs ?? 0) > 150) {
      // Packets are timed when this process handles them: a stall of its event loop looks like a media gap.
      const overlapsStall = loopStall !== null && loopStall.gap >= 100 && firstVideo !== null && Math.abs(firstVideo - loopStall.end) < 50;
      note = overlapsStall ? 'drill event-loop stall' : 'not rejoined, but media stalled';
    }
    return {
      name: viewer.name,
      workerBefore: workersBefore[i] ?? null,
      workerAfter: placement.workerOf(s1) ?? null,
      rejoined,
      joins: s1.joins,
      lastVideoBefore: rel(lastVideoBefore),
      firstVideoFrameAfter: videoBack,
      firstKeyframeAfter: rel(firstKey),
      lastAudioBefore: rel(lastAudioBefore),
      firstAudioAfter: audioBack,
      videoGapMs,
      audioGapMs,
      pass,
      note,
    };
  });

  const ms = (v: number | null) => (v === null ? '—' : fmt(v, 0));
  const signed = (v: number | null) => (v === null ? '—' : `${v >= 0 ? '+' : ''}${fmt(v, 0)}`);
  const worker = (v: number | null) => (v === null ? '?' : String(v));
  const table = formatTable(
    ['Viewer', 'Worker', 'Rejoined', 'Video gap ms', 'Last frame', 'First frame', 'Keyframe', 'Audio gap ms', 'Audio back', 'Result'],
    results.map((r) => [
      r.name,
      `${worker(r.workerBefore)} → ${worker(r.workerAfter)}`,
      r.rejoined ? 'yes' : 'no',
      ms(r.videoGapMs),
      signed(r.lastVideoBefore),
      signed(r.firstVideoFrameAfter),
      signed(r.firstKeyframeAfter),
      ms(r.audioGapMs),
      signed(r.firstAudioAfter),
      (r.pass ? 'PASS' : 'FAIL') + (r.note ? ` (${r.note})` : ''),
    ]),
  );

  const affected = results.filter((r) => r.rejoined);
  const worstBack = Math.max(...affected.map((r) => Math.max(r.firstVideoFrameAfter ?? Infinity, r.firstAudioAfter ?? Infinity)), -Infinity);
  const alertFiredMs = alert ? (epochMs(alert.firedAt) ?? NaN) - killWall : null;
  const alertResolvedMs = alert && alert.state === 'resolved' ? (epochMs(alert.resolvedAt) ?? NaN) - killWall : null;
  const alertOk = !!alert && alert.state === 'resolved' && !!firedHook && !!resolvedHook && firedHook.signatureOk && resolvedHook.signatureOk;
  const mediaPass = results.every((r) => r.pass) && !recoveryTimedOut;
  // Alerting is part of the drill when the server has it: fired and resolved, in the API and at the webhook.
  const overall = mediaPass && (alertOk || !alertsApi);

  console.log(`\n## Worker crash drill: SIGKILL of worker ${victim} (${target}), ${viewerCount} viewers\n`);
  console.log('Times in ms relative to the kill. Video gap: last frame of the old session → first complete frame of the new one.');
  console.log('The headless publisher (ffmpeg) does not answer PLIs: a keyframe comes every 1 s, so "Keyframe" can trail "First frame".\n');
  console.log(table);
  console.log('');
  console.log(
    `- viewers affected (rejoined): ${affected.length}/${viewerCount}; all media back at every viewer ${affected.length ? `${fmt(worstBack, 0)} ms` : '—'} after the kill (target ≤ ${maxGapMs} ms)`,
  );
  if (loopStall && loopStall.gap >= 100) {
    console.log(
      `- this process (server, werift peers and sampler share one event loop) stalled ${fmt(loopStall.gap, 0)} ms, until +${fmt(loopStall.end - killAt, 0)} ms: packets are timed when handled here, so that stall shows in every viewer's figures`,
    );
  }
  console.log(`- worker ${victim} replaced (pool healthy again): ${replacedAfterMs === null ? 'NOT within 15 s' : `+${replacedAfterMs} ms`}`);
  console.log(
    `- worker_died alert (server.alerts): ${alert ? `fired +${fmt(alertFiredMs, 0)} ms, ${alert.state === 'resolved' ? `resolved +${fmt(alertResolvedMs, 0)} ms` : 'NOT resolved'}` : alertsApi ? 'NOT fired' : 'n/a (no server.alerts)'}`,
  );
  console.log(
    `- webhook: alert.fired ${firedHook ? `received +${firedHook.receivedAt - killWall} ms (signature ${firedHook.signatureOk ? 'ok' : 'BAD'})` : 'NOT received'}, alert.resolved ${resolvedHook ? `received +${resolvedHook.receivedAt - killWall} ms (signature ${resolvedHook.signatureOk ? 'ok' : 'BAD'})` : 'NOT received'}`,
  );
  console.log(`\nMedia:    ${mediaPass ? 'PASS' : 'FAIL'} (every viewer receives media again within ${maxGapMs} ms of the crash)`);
  console.log(`Alerting: ${alertsApi ? (alertOk ? 'PASS' : 'FAIL') : 'n/a'} (worker_died fired and resolved, in server.alerts and at the webhook, signed)`);
  console.log(`Overall:  ${overall ? 'PASS' : 'FAIL'}`);

  const file = writeResult('drill-worker', {
    drill: 'worker',
    target,
    victim,
    viewers: viewerCount,
    maxGapMs,
    hls: withHls,
    killedAt: new Date(killWall).toISOString(),
    layout,
    results,
    eventLoopStall: loopStall ? { ms: loopStall.gap, endedAfterKillMs: loopStall.end - killAt } : null,
    recoveryTimedOut,
    workerReplacedAfterMs: replacedAfterMs,
    alert: alert ? { ...alert, firedAfterMs: alertFiredMs, resolvedAfterMs: alertResolvedMs } : null,
    webhook: {
      fired: firedHook ? { receivedAfterMs: firedHook.receivedAt - killWall, signatureOk: firedHook.signatureOk } : null,
      resolved: resolvedHook ? { receivedAfterMs: resolvedHook.receivedAt - killWall, signatureOk: resolvedHook.signatureOk } : null,
      deliveries: receiver.deliveries.map((d) => ({ ...d, receivedAfterMs: d.receivedAt - killWall })),
    },
    mediaPass,
    alertOk,
    pass: overall,
    machine: machineInfo(),
  });
  console.log(`\nResults: ${file}`);
  return overall;
}

// ------------------------------------------------------------------ ffmpeg drill

interface PartSeen {
  uri: string;
  /** Discontinuity epoch of its segment (stable across reloads). */
  epoch: number;
  seenAt: number;
}

/** Parts of a media playlist with their discontinuity epoch. */
function parseParts(playlist: string): Array<{ uri: string; epoch: number }> {
  let epoch = 0;
  const parts: Array<{ uri: string; epoch: number }> = [];
  for (const line of playlist.split('\n')) {
    const sequence = /^#EXT-X-DISCONTINUITY-SEQUENCE:(\d+)/.exec(line);
    if (sequence) epoch = Number(sequence[1]);
    else if (line.startsWith('#EXT-X-DISCONTINUITY')) epoch++;
    const part = /^#EXT-X-PART:.*URI="([^"]+)"/.exec(line);
    if (part) parts.push({ uri: part[1]!, epoch });
  }
  return parts;
}

async function ffmpegDrill(run: BenchRun, args: Map<string, string>): Promise<boolean> {
  const maxGapMs = numberArg(args, 'max-gap-ms', 5000);
  progress('drill-ffmpeg', 'starting a server with HLS');
  const server = run.defer('server', await startTestServer({ LOG_LEVEL: process.env['DRILL_LOG_LEVEL'] ?? 'error' }), (s) => s.close());
  const hls = server.hls;
  if (!hls?.enabled) throw new Error(`HLS is not available on this machine (${hls?.disabledReason ?? 'disabled'})`);
  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 3600);
  const publisher = run.defer(
    'publisher',
    new HeadlessPublisher({
      url: server.url,
      room: ROOM,
      token,
      name: 'publisher',
      video: { width: 640, height: 360, bitrateKbps: 600, keyframeIntervalSec: 1 },
    }),
    (p) => p.close(),
  );
  await publisher.publish();
  await waitFor(() => hls.status(ROOM)?.available === true, { description: 'HLS available', timeoutMs: 30_000 });
  const master = await (await fetch(`${server.url}/hls/${ROOM}/index.m3u8`)).text();
  const variant = master.split('\n').find((line) => line.trim() && !line.startsWith('#'));
  if (!variant) throw new Error(`no variant in the master playlist:\n${master}`);
  const mediaUrl = new URL(variant.trim(), `${server.url}/hls/${ROOM}/index.m3u8`).toString();
  progress('drill-ffmpeg', `polling ${mediaUrl} every 50 ms`);

  const seen = new Map<string, PartSeen>();
  // Not a `let polling` flag: inside the async IIFE TypeScript narrows it to its
  // initial value as if the loop ran at once.
  const polling = new AbortController();
  let pollErrors = 0;
  const poller = (async () => {
    while (!polling.signal.aborted) {
      try {
        const text = await (await fetch(mediaUrl, { signal: AbortSignal.timeout(2_000) })).text();
        const now = performance.now();
        for (const part of parseParts(text)) if (!seen.has(part.uri)) seen.set(part.uri, { ...part, seenAt: now });
      } catch {
        pollErrors++;
      }
      await sleep(50);
    }
  })();
  run.defer('playlist poller', null, async () => {
    polling.abort();
    await poller;
  });
  await sleep(3_000);

  const pid = hls.ffmpegPid(ROOM);
  if (!pid) throw new Error('no HLS ffmpeg running for the room');
  const epochAtKill = Math.max(0, ...[...seen.values()].map((p) => p.epoch));
  progress('drill-ffmpeg', `SIGKILL ffmpeg (pid ${pid})`);
  const killWall = Date.now();
  const killAt = performance.now();
  process.kill(pid, 'SIGKILL');
  const firstAfter = () => [...seen.values()].filter((p) => p.seenAt > killAt && p.epoch > epochAtKill).sort((a, b) => a.seenAt - b.seenAt)[0];
  await waitFor(() => firstAfter() !== undefined, { description: 'a part after the discontinuity', timeoutMs: 30_000 }).catch(() => undefined);
  await sleep(1_000);
  polling.abort();
  await poller;

  // The old ffmpeg's last part (it may have been listed just after the kill, from data already received).
  const lastBefore = [...seen.values()].filter((p) => p.epoch <= epochAtKill).sort((a, b) => b.seenAt - a.seenAt)[0];
  const after = firstAfter();
  const newPid = hls.ffmpegPid(ROOM);
  const gapMs = after && lastBefore ? after.seenAt - lastBefore.seenAt : null;
  const backMs = after ? after.seenAt - killAt : null;
  const pass = backMs !== null && backMs <= maxGapMs;
  const api = alertsOf(server);
  const hlsAlerts = allAlerts(api).filter((a) => a.rule === 'hls_stale' && (epochMs(a.firedAt) ?? 0) >= killWall - 1000);

  console.log(`\n## HLS ffmpeg crash drill\n`);
  console.log('Times in ms relative to the kill, as seen by polling the first media playlist every 50 ms.\n');
  console.log(
    formatTable(
      ['ffmpeg pid', 'Last part before (ms)', 'First part after discontinuity (ms)', 'Playlist gap ms', 'Result'],
      [
        [
          `${pid} → ${newPid ?? '?'}`,
          lastBefore ? `${lastBefore.uri} (${lastBefore.seenAt - killAt >= 0 ? '+' : ''}${fmt(lastBefore.seenAt - killAt, 0)})` : '—',
          after ? `${after.uri} (+${fmt(after.seenAt - killAt, 0)})` : '—',
          gapMs === null ? '—' : fmt(gapMs, 0),
          pass ? 'PASS' : 'FAIL',
        ],
      ],
    ),
  );
  console.log(
    `\n- hls_stale alerts after the kill: ${api ? (hlsAlerts.length ? hlsAlerts.map((a) => `${a.state} (fired +${(epochMs(a.firedAt) ?? 0) - killWall} ms)`).join(', ') : 'none') : 'n/a'}; playlist poll errors: ${pollErrors}`,
  );
  console.log(`\nOverall: ${pass ? 'PASS' : 'FAIL'} (a new HLS part within ${maxGapMs} ms of the ffmpeg crash)`);
  const file = writeResult('drill-ffmpeg', {
    drill: 'ffmpeg',
    killedAt: new Date(killWall).toISOString(),
    pid,
    newPid: newPid ?? null,
    mediaUrl,
    lastPartBefore: lastBefore ? { uri: lastBefore.uri, epoch: lastBefore.epoch, atMs: lastBefore.seenAt - killAt } : null,
    firstPartAfter: after ? { uri: after.uri, epoch: after.epoch, atMs: after.seenAt - killAt } : null,
    gapMs,
    maxGapMs,
    hlsStaleAlerts: hlsAlerts,
    pass,
    machine: machineInfo(),
  });
  console.log(`\nResults: ${file}`);
  return pass;
}

// ------------------------------------------------------------------ main

/**
 * Child processes of this process still alive, apart from the two that end
 * with it by design: tsx's esbuild service and the process watchdog `sh` of
 * test/helpers/processes.ts.
 */
function leftoverChildren(): string[] {
  let lines: string[];
  try {
    lines = execFileSync('ps', ['-o', 'pid=,comm=', '--ppid', String(process.pid)], { encoding: 'utf8' }).split('\n');
  } catch {
    return []; // ps exits 1 when nothing matches
  }
  return lines.map((l) => l.trim()).filter((l) => l && !/\s(ps|esbuild|sh)$/.test(l));
}

/** Waits (up to 5 s) for closed workers and ffmpeg to exit; returns what is still there. */
async function waitForChildrenToExit(): Promise<string[]> {
  const deadline = Date.now() + 5_000;
  let left = leftoverChildren();
  while (left.length > 0 && Date.now() < deadline) {
    await sleep(100);
    left = leftoverChildren();
  }
  return left;
}

async function main(): Promise<number> {
  const [name, ...rest] = process.argv.slice(2);
  const drills: Record<string, { known: string[]; run: (run: BenchRun, args: Map<string, string>) => Promise<boolean> }> = {
    worker: { known: ['viewers', 'target', 'max-gap-ms', 'hls'], run: workerDrill },
    ffmpeg: { known: ['max-gap-ms'], run: ffmpegDrill },
    ...clusterDrills,
    ingest: { known: ['viewers', 'max-gap-ms', 'failback-s'], run: ingestDrill },
  };
  const drill = name ? drills[name] : undefined;
  if (!drill) {
    console.error(`usage: npm run drill -- <${Object.keys(drills).join('|')}> [--options]; unknown drill '${name ?? ''}'`);
    return 2;
  }
  const args = parseArgs(rest, drill.known);
  const run = new BenchRun(`drill-${name}`, 300_000);
  let pass = false;
  try {
    pass = await drill.run(run, args);
  } finally {
    await run.cleanup();
    await stopAllTracked();
    const left = await waitForChildrenToExit();
    progress(
      `drill-${name}`,
      left.length ? `processes left behind: ${left.join(', ')}` : 'cleaned up: no mediasoup worker, ffmpeg or other child process left',
    );
    if (left.length > 0) pass = false;
  }
  return pass ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
