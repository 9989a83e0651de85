/**
 * WebRTC viewers: what one 720p broadcast costs the SFU per viewer, and how
 * fast a viewer gets its first picture.
 *
 * One real server (HLS off: only the SFU is measured) and one Chromium whose
 * /broadcast page publishes a 1280x720@30 canvas (the webrtc-latency source,
 * three simulcast layers, top layer capped at 1.5 Mbit/s by the SDK) or the
 * page's own fake camera (--source=camera). A real browser answers the SFU's
 * keyframe requests (PLI) as a real broadcaster does, so the time to the
 * first frame is the SFU's and the broadcaster's, not some GOP length.
 *
 * Viewers are headless werift peers (test/helpers/headlessViewer.ts) spread
 * over --agents child processes (scripts/bench/lib/viewerAgent.ts). They are
 * the load generator, not the system under test, so on a small machine they
 * run at nice --agent-nice (10) and the broadcasting Chromium, standing in
 * for a broadcaster on its own machine, at --publisher-nice (-5); the SFU
 * (mediasoup workers, server) stays at 0. For each viewer count N:
 *   1. N viewers join, staggered at --join-rate per second (an audience);
 *   2. after --settle seconds, a --window second steady window: CPU time of
 *      the mediasoup workers (/proc/<pid>/stat, all workers summed), RTP
 *      received per viewer (bitrate, packets, loss from sequence gaps), UDP
 *      receive-buffer drops (SFU sockets vs the rest), CPU of the viewer
 *      processes, Chromium and everything else on the machine; measured
 *      again (up to --retries times) when others used > 0.3 cores;
 *   3. --probes more viewers join one per second from a process at normal
 *      priority while the N watch (the join time of "one more viewer"), then
 *      --browser-probes real /watch pages in Chromium, one per second, each
 *      timed from navigation start to its first presented frame;
 *   4. all leave; then N viewers join at once (a burst) and leave again.
 * Every join is also timed on the server (mediasoup observer: transport
 * created, consumer resumed, DTLS connected, first keyframe sent), so the
 * join time splits into signaling, ICE/DTLS and waiting for a keyframe.
 *
 * A window with the publisher alone gives the baseline the SFU spends on the
 * broadcast itself; CPU per viewer = (workers' CPU − baseline) / N, viewers
 * per core = 1 / CPU per viewer (also given without subtracting), and, since
 * the broadcast may run below full rate while measured, the same from the
 * worker's CPU per forwarded packet × the packets of a full-rate viewer.
 *
 *   bash scripts/bench/run viewers [--counts=25,50,100,200] [--workers=1,2] [--window=20]
 *        [--join-rate=10] [--agents=3] [--settle=3] [--probes=10] [--source=canvas|camera]
 *        [--codec=vp8|h264] [--burst=true|false] [--retries=2] [--agent-nice=10] [--publisher-nice=-5]
 *        [--browser-probes=10]
 *
 * With 2 workers the viewers are split evenly over both (a fresh server per N
 * with MAX_CONSUMERS_PER_ROUTER = N, so half of them sit on a router on the
 * second worker, fed through a pipe transport).
 *
 * Targets: ≥ 400 viewers per core (from worker CPU), join p95 ≤ 300 ms with 100 viewers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import * as mediasoup from 'mediasoup';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../../test/helpers/chromium.js';
import { browserScript } from './lib/browserBundle.js';
import { cpuSnapshot, cpuUsage, processCpuSeconds, processCpuSplit, processesCpuSeconds, type CpuUsage } from './lib/cpu.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { renice, reniceBrowser, udpDropsBetween, udpSocketDrops } from './lib/system.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, REPO_ROOT, summarize, writeResult, type Summary } from './lib/results.js';
import type { AgentStats, AgentViewerStats } from './lib/viewerAgent.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'viewers';
const TARGET_VIEWERS_PER_CORE = 400;
const TARGET_JOIN_P95_MS = 300;
const TARGET_JOIN_AT = 100;
/** Others' CPU above this during a window: the window is measured again (up to --retries times). */
const DISTURBED_CORES = 0.3;

const args = parseArgs(process.argv.slice(2), [
  'counts',
  'workers',
  'window',
  'join-rate',
  'agents',
  'settle',
  'source',
  'codec',
  'burst',
  'retries',
  'content',
  'agent-nice',
  'probes',
  'publisher-nice',
  'browser-probes',
]);
const COUNTS = (args.get('counts') ?? '25,50,100,200').split(',').map((v) => Number(v.trim()));
for (const n of COUNTS) if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error(`--counts: ${n} is not a viewer count between 1 and 1000`);
const WORKERS = (args.get('workers') ?? '1,2').split(',').map((v) => Number(v.trim()));
for (const w of WORKERS) if (!Number.isInteger(w) || w < 1 || w > 8) throw new Error(`--workers: ${w} is not between 1 and 8`);
const WINDOW_MS = numberArg(args, 'window', 20) * 1000;
const JOIN_RATE = numberArg(args, 'join-rate', 10);
const AGENTS = Math.round(numberArg(args, 'agents', 3));
const SETTLE_MS = numberArg(args, 'settle', 3) * 1000;
const RETRIES = Math.round(Number(args.get('retries') ?? 2));
const SOURCE = args.get('source') ?? 'canvas';
if (SOURCE !== 'canvas' && SOURCE !== 'camera') throw new Error(`--source must be canvas or camera, got ${SOURCE}`);
const CONTENT = args.get('content') ?? 'camera';
const CODEC = (args.get('codec') ?? 'vp8').toLowerCase();
if (CODEC !== 'vp8' && CODEC !== 'h264') throw new Error(`--codec must be vp8 or h264, got ${CODEC}`);
if (SOURCE === 'camera' && CODEC !== 'vp8') throw new Error("--source=camera publishes with the page's default codec (VP8); use --source=canvas for H.264");
const BURST = (args.get('burst') ?? 'true') !== 'false';
/**
 * The viewer processes are the load generator, not the system under test: they run
 * at a lower priority so that on a small machine the SFU worker and the broadcasting
 * Chromium get the CPU first (a starved publisher's bandwidth estimate collapses).
 */
const AGENT_NICE = Math.round(Number(args.get('agent-nice') ?? 10));
/**
 * …and the broadcasting Chromium, which stands for a broadcaster on its own machine,
 * runs above normal priority: when it is starved, its send-side bandwidth estimate
 * collapses (delay and loss on loopback) and the SFU gets less to forward. The SFU
 * (mediasoup workers, server) stays at normal priority.
 */
const PUBLISHER_NICE = Math.round(Number(args.get('publisher-nice') ?? -5));
/**
 * Probe viewers: once N viewers watch, this many more join one at a time (1/s) from
 * their own process at normal priority, so their join time is the SFU's and the
 * publisher's, not the load generator's (whose lagging event loops also delay the
 * handshakes of the viewers it runs).
 */
const PROBES = Math.round(Number(args.get('probes') ?? 10));
/** Real /watch pages opened one at a time while the N watch: page start → first frame on screen. */
const BROWSER_PROBES = Math.round(Number(args.get('browser-probes') ?? 10));
/** How long a viewer may take to its first keyframe before it counts as failed. */
const FIRST_FRAME_TIMEOUT_MS = 30_000;

// ------------------------------------------------------------------ viewer agents (child processes)

class Agent {
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #seq = 1;
  #exited = false;
  private constructor(readonly child: ChildProcess) {
    child.on('message', (message: { seq: number; ok: boolean; data?: unknown; error?: string }) => {
      const pending = this.#pending.get(message.seq);
      if (!pending) return;
      this.#pending.delete(message.seq);
      clearTimeout(pending.timer);
      if (message.ok) pending.resolve(message.data);
      else pending.reject(new Error(message.error ?? 'agent error'));
    });
    child.once('exit', (code, signal) => {
      this.#exited = true;
      for (const [, p] of this.#pending) {
        clearTimeout(p.timer);
        p.reject(new Error(`viewer agent ${child.pid} exited (${signal ?? code})`));
      }
      this.#pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  static start(nice = AGENT_NICE): Promise<Agent> {
    const child = fork(path.join(REPO_ROOT, 'scripts/bench/lib/viewerAgent.ts'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env },
    });
    const agent = new Agent(child);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('viewer agent did not start within 30 s')), 30_000);
      agent.#pending.set(0, {
        resolve: () => {
          clearTimeout(timer);
          // Every thread (the process is up: Node's threads exist by now).
          if (child.pid && nice) renice([child.pid], nice);
          resolve(agent);
        },
        reject,
        timer,
      });
    });
  }

  request<T>(message: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.#exited) return Promise.reject(new Error(`viewer agent ${this.pid} has exited`));
    const seq = this.#seq++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`viewer agent ${this.pid}: ${String(message['type'])} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.child.send({ ...message, seq });
    });
  }

  async stop(): Promise<void> {
    if (this.#exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    try {
      this.child.send({ seq: this.#seq++, type: 'exit' });
    } catch {
      // channel already closed
    }
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 8_000);
    await exited;
    clearTimeout(timer);
  }
}

async function allStats(agents: Agent[], resetLag = false): Promise<AgentStats[]> {
  return Promise.all(agents.map((a) => a.request<AgentStats>({ type: 'stats', resetLag })));
}

// ------------------------------------------------------------------ server-side join timeline

/**
 * Per viewer (by peer id), wall-clock times of the SFU's side of a join, from
 * mediasoup's observer API (hooked before the server creates its workers):
 * recv transport created, DTLS connected, video consumer resumed, first video
 * keyframe sent to the viewer (consumer 'trace' event, enabled until it fires).
 */
interface ServerJoinTimes {
  transportCreated?: number;
  dtlsConnected?: number;
  videoConsumerCreated?: number;
  videoConsumerResumed?: number;
  firstKeyframeSent?: number;
}

class ServerTimeline {
  readonly byPeer = new Map<string, ServerJoinTimes>();
  /** Every open consumer of a viewer (to count what the SFU sends). */
  readonly consumers = new Set<mediasoup.types.Consumer>();

  /** RTP packets and bytes the SFU has sent to viewers so far (consumers' outbound-rtp counters). */
  async sent(): Promise<{ packets: number; bytes: number; byConsumer: Map<string, number> }> {
    const byConsumer = new Map<string, number>();
    let packets = 0;
    let bytes = 0;
    await Promise.all(
      [...this.consumers].map(async (consumer) => {
        try {
          for (const stat of await consumer.getStats()) {
            if (stat.type !== 'outbound-rtp') continue;
            packets += stat.packetCount;
            bytes += stat.byteCount;
            byConsumer.set(consumer.id, (byConsumer.get(consumer.id) ?? 0) + stat.packetCount);
          }
        } catch {
          // closed meanwhile
        }
      }),
    );
    return { packets, bytes, byConsumer };
  }

  constructor() {
    mediasoup.observer.on('newworker', (worker) =>
      worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (transport) => {
          const peerId = transport.appData['peerId'];
          if (typeof peerId !== 'string' || transport.appData['direction'] !== 'recv') return;
          const times: ServerJoinTimes = { transportCreated: Date.now() };
          this.byPeer.set(peerId, times);
          (transport.observer as unknown as NodeJS.EventEmitter).on('dtlsstatechange', (state: string) => {
            if (state === 'connected') times.dtlsConnected ??= Date.now();
          });
          transport.observer.on('newconsumer', (consumer) => {
            this.consumers.add(consumer);
            consumer.observer.once('close', () => this.consumers.delete(consumer));
            if (consumer.kind !== 'video') return;
            times.videoConsumerCreated ??= Date.now();
            consumer.observer.on('resume', () => {
              times.videoConsumerResumed ??= Date.now();
            });
            const onTrace = (trace: { type: string; direction: string }) => {
              if (trace.type !== 'keyframe' || trace.direction !== 'out') return;
              times.firstKeyframeSent ??= Date.now();
              consumer.off('trace', onTrace);
              if (!consumer.closed) consumer.enableTraceEvent([]).catch(() => undefined);
            };
            consumer.on('trace', onTrace);
            consumer.enableTraceEvent(['keyframe']).catch(() => undefined);
          });
        }),
      ),
    );
  }
}

// ------------------------------------------------------------------ publisher (Chromium)

type StatsSnapshot = {
  at: number;
  outboundVideo: Array<{
    rid: string | null;
    ssrc: number;
    frameWidth: number | null;
    frameHeight: number | null;
    bytesSent: number;
    packetsSent: number;
    framesEncoded: number;
    keyFramesEncoded: number;
    qualityLimitationReason: string | null;
    pliCount: number;
    nackCount: number;
    framesPerSecond: number | null;
  }>;
  availableOutgoingBitrates: number[];
};

/** One look at the publisher per second while viewers join and watch (JSON timeline, minima). */
interface PublisherSample {
  at: number;
  /** Seconds since the viewers started joining. */
  t: number;
  phase: string;
  topLayer: string;
  topWidth: number;
  topFps: number;
  totalKbps: number;
  /** The sender's bandwidth estimate, kbit/s. */
  estimateKbps: number | null;
  /** Cumulative over every layer since the count started. */
  keyframes: number;
  plis: number;
  limitedBy: string | null;
}

class PublisherMonitor {
  readonly samples: PublisherSample[] = [];
  phase = 'join';
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  #first: StatsSnapshot | undefined;
  #previous: StatsSnapshot | undefined;
  readonly #started = Date.now();
  constructor(private readonly page: Page) {}

  start(): void {
    this.#timer = setInterval(() => void this.#sample(), 1_000);
  }

  async #sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const now = await evaluate<StatsSnapshot>(this.page, 'window.__bench.stats.snapshot()');
      const first = (this.#first ??= now);
      const previous = this.#previous;
      this.#previous = now;
      if (!previous) return; // rates need two looks
      const seconds = Math.max(0.001, (now.at - previous.at) / 1000);
      const sum = (s: StatsSnapshot, pick: (e: StatsSnapshot['outboundVideo'][number]) => number) => s.outboundVideo.reduce((a, e) => a + pick(e), 0);
      const top = topEncoding(now);
      const topPrev = top ? previous.outboundVideo.find((e) => e.ssrc === top.ssrc) : undefined;
      this.samples.push({
        at: now.at,
        t: (Date.now() - this.#started) / 1000,
        phase: this.phase,
        topLayer: top ? `${top.frameWidth}x${top.frameHeight}` : '—',
        topWidth: top?.frameWidth ?? 0,
        topFps: top && topPrev ? (top.framesEncoded - topPrev.framesEncoded) / seconds : 0,
        totalKbps: ((sum(now, (e) => e.bytesSent) - sum(previous, (e) => e.bytesSent)) * 8) / seconds / 1000,
        estimateKbps: now.availableOutgoingBitrates.length ? Math.max(...now.availableOutgoingBitrates) / 1000 : null,
        keyframes: sum(now, (e) => e.keyFramesEncoded) - sum(first, (e) => e.keyFramesEncoded),
        plis: sum(now, (e) => e.pliCount) - sum(first, (e) => e.pliCount),
        limitedBy: top?.qualityLimitationReason ?? null,
      });
    } catch {
      // page busy or closing
    } finally {
      this.#busy = false;
    }
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Worst moments of a phase. */
  summary(phase: string): {
    seconds: number;
    minTopWidth: number;
    minTopFps: number;
    minEstimateKbps: number | null;
    keyframes: number;
    plis: number;
    layersBelow720p: number;
  } | null {
    const inPhase = this.samples.filter((s) => s.phase === phase);
    if (!inPhase.length) return null;
    const before = this.samples[this.samples.indexOf(inPhase[0]!) - 1];
    const last = inPhase.at(-1)!;
    const estimates = inPhase.map((s) => s.estimateKbps).filter((v): v is number => v !== null);
    return {
      seconds: last.t - (before?.t ?? 0),
      minTopWidth: Math.min(...inPhase.map((s) => s.topWidth)),
      minTopFps: Math.min(...inPhase.map((s) => s.topFps)),
      minEstimateKbps: estimates.length ? Math.min(...estimates) : null,
      keyframes: last.keyframes - (before?.keyframes ?? 0),
      plis: last.plis - (before?.plis ?? 0),
      layersBelow720p: inPhase.filter((s) => s.topWidth < 1280).length,
    };
  }

  describeLast(): string {
    const s = this.samples.at(-1);
    return s
      ? `publisher top layer ${s.topLayer} @ ${fmt(s.topFps, 0)} fps, ${fmt(s.totalKbps, 0)} kbps sent, estimate ${fmt(s.estimateKbps, 0)} kbps, ${s.keyframes} keyframes / ${s.plis} PLIs so far`
      : 'no publisher stats yet';
  }
}

async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

const topEncoding = (s: StatsSnapshot) => [...s.outboundVideo].sort((a, b) => (b.frameWidth ?? 0) - (a.frameWidth ?? 0))[0];

interface Session {
  workers: number;
  server: FloodlightServer;
  room: string;
  page: Page;
  workerPids: number[];
  close(): Promise<void>;
}

async function startSession(workers: number, maxConsumersPerRouter: number | null, chromium: LaunchedChromium, script: string): Promise<Session> {
  const server = await startTestServer({
    HLS_ENABLED: 'false',
    NUM_WORKERS: String(workers),
    ...(maxConsumersPerRouter ? { MAX_CONSUMERS_PER_ROUTER: String(maxConsumersPerRouter) } : {}),
  });
  const room = `bench-viewers-${workers}w-${Date.now().toString(36)}`;
  let page: Page | undefined;
  try {
    const token = await server.tokens.issue({ room, role: 'publisher' }, 3600);
    page = await chromium.context.newPage();
    page.on('pageerror', (error) => progress(NAME, `[broadcast] page error: ${error.message}`));
    if (SOURCE === 'canvas') await page.addInitScript('window.__benchConfig = { stubGetUserMedia: true };');
    await page.addInitScript(script);
    if (SOURCE === 'canvas') {
      await page.goto(`${server.url}/broadcast?room=${room}&token=${token}`);
      await page.waitForFunction('Boolean(window.floodlight && window.floodlight.publisher && window.__bench)', undefined, { timeout: 15_000 });
      await evaluate(page, `window.__bench.source.start(${JSON.stringify({ codec: CODEC, width: 1280, height: 720, fps: 30, content: CONTENT })})`);
    } else {
      // The page's own flow: fake camera (getUserMedia ideal 1280x720@30), Go live on load.
      await page.goto(`${server.url}/broadcast?room=${room}&token=${token}&autostart=1`);
      await page.waitForSelector('#app[data-state="live"]', { timeout: 20_000 });
    }
    // Wait for the top simulcast layer to reach 1280x720 (encoder ramp-up).
    const deadline = Date.now() + 60_000;
    for (;;) {
      const top = topEncoding(await evaluate<StatsSnapshot>(page, 'window.__bench.stats.snapshot()'));
      if (top && (top.frameWidth ?? 0) >= 1280) break;
      if (Date.now() > deadline) throw new Error(`the publisher's top layer is ${top ? `${top.frameWidth}x${top.frameHeight}` : 'missing'} after 60 s`);
      await sleep(500);
    }
    await sleep(3_000); // let the bitrate ramp up too
    if (PUBLISHER_NICE) reniceBrowser(PUBLISHER_NICE);
    const workerPids = Array.from({ length: workers }, (_, i) => server.pool.pid(i)).filter((p): p is number => p !== undefined);
    const session: Session = {
      workers,
      server,
      room,
      page,
      workerPids,
      async close() {
        await page?.close().catch(() => undefined);
        await server.close();
      },
    };
    return session;
  } catch (error) {
    await page?.close().catch(() => undefined);
    await server.close();
    throw error;
  }
}

// ------------------------------------------------------------------ measuring

interface WindowResult {
  seconds: number;
  loadAverage1m: number;
  /** Cores' worth of CPU (1.0 = one core busy) over the window. */
  workerCores: number;
  perWorkerCores: number[];
  /** The workers' CPU split: user space (mediasoup: RTP, SRTP, RTCP) and kernel (UDP sends, on loopback also the delivery to the receiving socket). */
  workerUserCores: number;
  workerSystemCores: number;
  agentCores: number;
  /** This Node process: the server's JavaScript (signaling, rooms) and playwright. */
  benchProcessCores: number;
  /** Our whole process tree minus workers, agents and this process: Chromium (the publisher). */
  chromiumCores: number;
  machine: CpuUsage | null;
  viewersMeasured: number;
  /** Per viewer over the window. */
  videoKbps: Summary;
  audioKbps: Summary;
  videoPacketsPerSecond: number;
  audioPacketsPerSecond: number;
  /** What the SFU sent to the viewers (consumers' counters, audio + video): packets/s and kbit/s per viewer. */
  sfuSentPacketsPerSecond: number;
  sfuSentKbpsPerViewer: number;
  /** Lost / (received + lost), all viewers' video together, %. */
  videoLossPercent: number;
  audioLossPercent: number;
  /** Viewers that lost at least one video packet in the window. */
  viewersWithLoss: number;
  /** Complete frames per second per viewer. */
  videoFps: Summary;
  agentLoopDelayMs: Array<{ mean: number; p99: number; max: number }>;
  /** Datagrams the kernel dropped for full receive buffers: at the SFU's sockets (RTC port range) and at all others (mostly the viewers'). */
  udpDrops: { sfu: number; other: number };
  publisher: {
    topLayer: string;
    topKbps: number;
    totalKbps: number;
    topFps: number;
    topPacketsPerSecond: number;
    pliPerSecond: number;
    nackPerSecond: number;
    limitedBy: string | null;
    estimateKbps: number | null;
    keyframesPerSecond: number;
  };
  attempts: number;
  othersCoresPerAttempt: number[];
}

function publisherWindow(before: StatsSnapshot, after: StatsSnapshot): WindowResult['publisher'] {
  const seconds = (after.at - before.at) / 1000;
  let total = 0;
  let pli = 0;
  let nack = 0;
  for (const enc of after.outboundVideo) {
    const b = before.outboundVideo.find((x) => x.ssrc === enc.ssrc);
    total += enc.bytesSent - (b?.bytesSent ?? enc.bytesSent);
    pli += enc.pliCount - (b?.pliCount ?? enc.pliCount);
    nack += enc.nackCount - (b?.nackCount ?? enc.nackCount);
  }
  const top = topEncoding(after);
  const topBefore = top ? before.outboundVideo.find((x) => x.ssrc === top.ssrc) : undefined;
  return {
    topLayer: top ? `${top.frameWidth}x${top.frameHeight}` : '—',
    topKbps: top && topBefore ? ((top.bytesSent - topBefore.bytesSent) * 8) / seconds / 1000 : 0,
    totalKbps: (total * 8) / seconds / 1000,
    topFps: top && topBefore ? (top.framesEncoded - topBefore.framesEncoded) / seconds : 0,
    topPacketsPerSecond: top && topBefore ? (top.packetsSent - topBefore.packetsSent) / seconds : 0,
    pliPerSecond: pli / seconds,
    nackPerSecond: nack / seconds,
    limitedBy: top?.qualityLimitationReason ?? null,
    estimateKbps: after.availableOutgoingBitrates.length ? Math.max(...after.availableOutgoingBitrates) / 1000 : null,
    keyframesPerSecond:
      (after.outboundVideo.reduce((a, e) => a + e.keyFramesEncoded, 0) - before.outboundVideo.reduce((a, e) => a + e.keyFramesEncoded, 0)) / seconds,
  };
}

async function measureOnce(session: Session, agents: Agent[], timeline: ServerTimeline): Promise<Omit<WindowResult, 'attempts' | 'othersCoresPerAttempt'>> {
  const agentPids = agents.map((a) => a.pid);
  const pubBefore = await evaluate<StatsSnapshot>(session.page, 'window.__bench.stats.snapshot()');
  const statsBefore = await allStats(agents, true);
  // Outside the CPU window: hundreds of getStats requests cost the worker a little.
  const sentBefore = await timeline.sent();
  const sentBeforeAt = performance.now();
  const udpBefore = udpSocketDrops();
  const machineBefore = cpuSnapshot();
  const t0 = performance.now();
  const splitBefore = session.workerPids.map((pid) => processCpuSplit(pid) ?? { user: 0, system: 0 });
  const workersBefore = session.workerPids.map((pid) => processCpuSeconds(pid) ?? 0);
  const agentsBefore = processesCpuSeconds(agentPids);
  const selfBefore = processCpuSeconds(process.pid) ?? 0;
  await sleep(WINDOW_MS);
  const workersAfter = session.workerPids.map((pid) => processCpuSeconds(pid) ?? 0);
  const splitAfter = session.workerPids.map((pid) => processCpuSplit(pid) ?? { user: 0, system: 0 });
  const agentsAfter = processesCpuSeconds(agentPids);
  const selfAfter = processCpuSeconds(process.pid) ?? 0;
  const seconds = (performance.now() - t0) / 1000;
  const machine = cpuUsage(machineBefore, cpuSnapshot());
  const { rtcMinPort, rtcMaxPort } = session.server.config;
  const udpDrops = udpDropsBetween(udpBefore, udpSocketDrops(), (port) => port >= rtcMinPort && port <= rtcMaxPort);
  const sentAfter = await timeline.sent();
  const sentSeconds = (performance.now() - sentBeforeAt) / 1000;
  const statsAfter = await allStats(agents, true);
  const pubAfter = await evaluate<StatsSnapshot>(session.page, 'window.__bench.stats.snapshot()');
  // Only consumers present at both ends (viewers do not come or go inside a window).
  let sentPackets = 0;
  for (const [id, after] of sentAfter.byConsumer) {
    const before = sentBefore.byConsumer.get(id);
    if (before !== undefined) sentPackets += after - before;
  }

  const perWorkerCores = workersAfter.map((after, i) => (after - workersBefore[i]!) / seconds);
  const workerCores = perWorkerCores.reduce((a, b) => a + b, 0);
  const agentCores = (agentsAfter - agentsBefore) / seconds;
  const benchProcessCores = (selfAfter - selfBefore) / seconds;
  const chromiumCores = machine ? Math.max(0, machine.oursCores - workerCores - agentCores - benchProcessCores) : Number.NaN;

  const beforeById = new Map<number, AgentViewerStats>();
  for (const s of statsBefore) for (const v of s.viewers) beforeById.set(v.id, v);
  const videoKbps: number[] = [];
  const audioKbps: number[] = [];
  const fps: number[] = [];
  let videoPackets = 0;
  let videoLost = 0;
  let audioPackets = 0;
  let audioLost = 0;
  let withLoss = 0;
  for (const s of statsAfter) {
    for (const v of s.viewers) {
      const b = beforeById.get(v.id);
      if (!b) continue;
      const dp = v.video.packets - b.video.packets;
      const dl = Math.max(0, v.video.lost - b.video.lost);
      videoPackets += dp;
      videoLost += dl;
      if (dl > 0) withLoss++;
      audioPackets += v.audio.packets - b.audio.packets;
      audioLost += Math.max(0, v.audio.lost - b.audio.lost);
      videoKbps.push(((v.video.bytes - b.video.bytes) * 8) / seconds / 1000);
      audioKbps.push(((v.audio.bytes - b.audio.bytes) * 8) / seconds / 1000);
      fps.push((v.video.completeFrames - b.video.completeFrames) / seconds);
    }
  }
  return {
    seconds,
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
    workerCores,
    perWorkerCores,
    workerUserCores: splitAfter.reduce((a, x, i) => a + x.user - splitBefore[i]!.user, 0) / seconds,
    workerSystemCores: splitAfter.reduce((a, x, i) => a + x.system - splitBefore[i]!.system, 0) / seconds,
    agentCores,
    benchProcessCores,
    chromiumCores,
    machine,
    viewersMeasured: videoKbps.length,
    videoKbps: summarize(videoKbps),
    audioKbps: summarize(audioKbps),
    videoPacketsPerSecond: videoPackets / seconds,
    audioPacketsPerSecond: audioPackets / seconds,
    sfuSentPacketsPerSecond: sentPackets / sentSeconds,
    sfuSentKbpsPerViewer: ((sentAfter.bytes - sentBefore.bytes) * 8) / sentSeconds / 1000 / Math.max(1, videoKbps.length),
    videoLossPercent: videoPackets + videoLost > 0 ? (videoLost / (videoPackets + videoLost)) * 100 : 0,
    audioLossPercent: audioPackets + audioLost > 0 ? (audioLost / (audioPackets + audioLost)) * 100 : 0,
    viewersWithLoss: withLoss,
    videoFps: summarize(fps),
    agentLoopDelayMs: statsAfter.map((s) => s.loopDelayMs),
    udpDrops,
    publisher: publisherWindow(pubBefore, pubAfter),
  };
}

/** A steady window; measured again (up to RETRIES times) when other processes took > DISTURBED_CORES. */
async function measureWindow(label: string, session: Session, agents: Agent[], timeline: ServerTimeline): Promise<WindowResult> {
  const others: number[] = [];
  let best: Omit<WindowResult, 'attempts' | 'othersCoresPerAttempt'> | undefined;
  for (let attempt = 0; attempt <= RETRIES; attempt++) {
    progress(
      NAME,
      `${label}: measuring ${WINDOW_MS / 1000} s${attempt ? ` (again: others used ${fmt(others.at(-1), 2)} cores)` : ''} — load ${os.loadavg()[0]!.toFixed(2)}`,
    );
    const result = await measureOnce(session, agents, timeline);
    const o = result.machine?.othersCores ?? 0;
    others.push(o);
    if (!best || o < (best.machine?.othersCores ?? Infinity)) best = result;
    progress(
      NAME,
      `${label}: workers ${fmt(result.workerCores, 3)} cores, viewer agents ${fmt(result.agentCores, 2)}, Chromium ${fmt(result.chromiumCores, 2)}, others ${fmt(o, 2)}; ` +
        `video ${fmt(result.videoKbps.mean, 0)} kbps/viewer, loss ${fmt(result.videoLossPercent, 3)} %, UDP drops SFU ${result.udpDrops.sfu} / other ${result.udpDrops.other}; ` +
        `publisher ${result.publisher.topLayer} ${fmt(result.publisher.topKbps, 0)} kbps @ ${fmt(result.publisher.topFps, 0)} fps`,
    );
    if (o <= DISTURBED_CORES) break;
  }
  return { ...best!, attempts: others.length, othersCoresPerAttempt: others };
}

interface BrowserProbeResult {
  pages: number;
  playing: number;
  /** Navigation start → first video frame presented (the QoE beacon's firstFrameMs). */
  firstFrameMs: Summary;
  /** Navigation start → DOMContentLoaded (page and bundle load; the rest is join + media). */
  pageLoadMs: Summary;
  /** firstFrameMs − pageLoadMs: from a loaded page to its first frame. */
  afterLoadMs: Summary;
  errors: string[];
}

/**
 * Real viewers: /watch pages in Chromium (the same browser as the publisher,
 * standing for viewers on their own machines), opened one at a time, each
 * timed from navigation start to its first presented frame over WebRTC.
 */
async function browserProbes(session: Session, count: number): Promise<BrowserProbeResult> {
  const first: number[] = [];
  const loads: number[] = [];
  const errors: string[] = [];
  for (let i = 0; i < count; i++) {
    const next = Date.now() + 1_000;
    const page = await session.page.context().newPage();
    try {
      await page.goto(`${session.server.url}/watch?room=${session.room}`);
      // Functions, not strings: the pages' CSP (no 'unsafe-eval') refuses evaluated strings.
      type Handle = { floodlight?: { qoe?: { firstFrameMs: number | null } } };
      await page.waitForFunction(
        () => {
          const q = (window as unknown as Handle).floodlight?.qoe;
          const v = document.querySelector('video');
          return q !== undefined && q.firstFrameMs !== null && v?.dataset['transport'] === 'webrtc';
        },
        undefined,
        { timeout: FIRST_FRAME_TIMEOUT_MS, polling: 'raf' },
      );
      const t = await page.evaluate(() => ({
        firstFrameMs: (window as unknown as Handle).floodlight!.qoe!.firstFrameMs!,
        domContentLoaded: (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).domContentLoadedEventEnd,
      }));
      first.push(t.firstFrameMs);
      loads.push(t.domContentLoaded);
    } catch (error) {
      errors.push((error as Error).message.split('\n')[0]!);
    } finally {
      await page.close().catch(() => undefined);
    }
    await sleep(Math.max(0, next - Date.now()));
  }
  return {
    pages: count,
    playing: first.length,
    firstFrameMs: summarize(first),
    pageLoadMs: summarize(loads),
    afterLoadMs: summarize(first.map((f, i) => f - loads[i]!)),
    errors: [...new Set(errors)].slice(0, 5),
  };
}

interface JoinResult {
  mode: 'staggered' | 'burst' | 'probe';
  viewers: number;
  joined: number;
  failed: number;
  errors: string[];
  /** join() call → first complete video keyframe. */
  firstKeyframeMs: Summary;
  /** join() call → first video RTP packet. */
  firstPacketMs: Summary;
  /** join() call → join() resolved (signaling + SDP + DTLS start + resume). */
  joinCallMs: Summary;
  /** Seconds from the first join call to the last viewer's first keyframe. */
  spanSeconds: number;
  /** Where the time goes: ms from the join() call to each server-side step (medians / p95). */
  stages: Record<'transportCreated' | 'videoConsumerResumed' | 'dtlsConnected' | 'firstKeyframeSent' | 'firstKeyframeReceived', Summary>;
  perViewer: Array<{ id: number; joinMs: number | null; firstPacketMs: number | null; firstKeyframeMs: number | null; error: string | null }>;
  loadAverage1m: number;
}

function joinResult(mode: JoinResult['mode'], n: number, stats: AgentStats[], spanSeconds: number, timeline: ServerTimeline): JoinResult {
  const viewers = stats.flatMap((s) => s.viewers).sort((a, b) => a.id - b.id);
  const failed = viewers.filter((v) => v.timeToFirstKeyframeMs === null);
  const stage = (pick: keyof ServerJoinTimes) =>
    summarize(
      viewers.map((v) => {
        const at = v.peerId ? timeline.byPeer.get(v.peerId)?.[pick] : undefined;
        return at === undefined ? Number.NaN : at - v.startedAtWall;
      }),
    );
  return {
    mode,
    viewers: n,
    joined: viewers.length - failed.length,
    failed: failed.length + Math.max(0, n - viewers.length),
    errors: [...new Set(failed.map((v) => v.error ?? `no keyframe (state ${v.state}/${v.connectionState}, ${v.video.packets} video packets)`))].slice(0, 5),
    firstKeyframeMs: summarize(viewers.map((v) => v.timeToFirstKeyframeMs ?? Number.NaN)),
    firstPacketMs: summarize(viewers.map((v) => v.timeToFirstVideoPacketMs ?? Number.NaN)),
    joinCallMs: summarize(viewers.map((v) => v.joinMs ?? Number.NaN)),
    spanSeconds,
    stages: {
      transportCreated: stage('transportCreated'),
      videoConsumerResumed: stage('videoConsumerResumed'),
      dtlsConnected: stage('dtlsConnected'),
      firstKeyframeSent: stage('firstKeyframeSent'),
      firstKeyframeReceived: summarize(viewers.map((v) => v.timeToFirstKeyframeMs ?? Number.NaN)),
    },
    perViewer: viewers.map((v) => ({
      id: v.id,
      joinMs: v.joinMs,
      firstPacketMs: v.timeToFirstVideoPacketMs,
      firstKeyframeMs: v.timeToFirstKeyframeMs,
      error: v.error,
    })),
    loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

/** Waits until every viewer has a first keyframe or failed (or the timeout); returns the last stats. */
async function waitForFirstFrames(label: string, agents: Agent[], n: number, timeoutMs: number, monitor?: PublisherMonitor): Promise<AgentStats[]> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  for (;;) {
    const stats = await allStats(agents);
    const viewers = stats.flatMap((s) => s.viewers);
    const done = viewers.filter((v) => v.timeToFirstKeyframeMs !== null || v.error !== null).length;
    if ((viewers.length >= n && done >= n) || Date.now() > deadline) return stats;
    if (Date.now() - last > 3_000) {
      last = Date.now();
      progress(
        NAME,
        `${label}: ${viewers.filter((v) => v.timeToFirstKeyframeMs !== null).length}/${n} viewers have a first frame; ${monitor?.describeLast() ?? ''}`,
      );
    }
    await sleep(250);
  }
}

async function leaveAll(session: Session, agents: Agent[]): Promise<void> {
  await Promise.all(agents.map((a) => a.request({ type: 'closeAll' }, 60_000)));
  const deadline = Date.now() + 20_000;
  while (session.server.pool.counts().consumers > 0 && Date.now() < deadline) await sleep(200);
  const left = session.server.pool.counts().consumers;
  if (left > 0) progress(NAME, `WARNING: ${left} consumers still open on the server 20 s after every viewer left`);
  await sleep(1_000);
}

interface CountResult {
  workers: number;
  viewers: number;
  room: string;
  window: WindowResult;
  baseline: WindowResult;
  /** (workers − baseline) / N, cores. */
  cpuPerViewerCores: number;
  /** 1 / cpuPerViewer. */
  viewersPerCore: number;
  /** N / workers' CPU (baseline not subtracted). */
  viewersPerCoreGross: number;
  routers: number;
  workersUsed: number[];
  consumersPerWorker: number[];
  staggered: JoinResult;
  burst: JoinResult | null;
  /** PROBES more viewers joining one at a time while the N watch. */
  probe: JoinResult | null;
  /** BROWSER_PROBES /watch pages in Chromium, one at a time while the N watch. */
  browserProbe: BrowserProbeResult | null;
  /** (workers − baseline) CPU per RTP packet the SFU sent to the viewers (audio + video), µs. */
  workerMicrosecondsPerPacket: number;
  /**
   * Packets/s one viewer gets when the broadcast is at full rate: the publisher's top layer
   * in the baseline window (1280x720, ~1.5 Mbit/s) + the audio measured here.
   */
  nominalPacketsPerViewer: number;
  /** 1e6 / (µs per packet × nominal packets/s): viewers per core at full rate, from the per-packet cost. */
  viewersPerCoreAtNominal: number;
  /** The publisher while viewers joined / during the window / during the burst (worst moments). */
  publisherDuring: Record<string, ReturnType<PublisherMonitor['summary']>>;
  publisherTimeline: PublisherSample[];
  error?: string;
}

async function runCount(
  session: Session,
  baseline: WindowResult,
  agents: Agent[],
  probeAgent: Agent,
  n: number,
  timeline: ServerTimeline,
): Promise<CountResult> {
  const label = `${session.workers}w N=${n}`;
  const monitor = new PublisherMonitor(session.page);
  monitor.start();
  try {
    return await runCountMonitored(session, baseline, agents, probeAgent, n, label, monitor, timeline);
  } finally {
    monitor.stop();
  }
}

async function runCountMonitored(
  session: Session,
  baseline: WindowResult,
  agents: Agent[],
  probeAgent: Agent,
  n: number,
  label: string,
  monitor: PublisherMonitor,
  timeline: ServerTimeline,
): Promise<CountResult> {
  // 1. staggered joins
  progress(NAME, `${label}: ${n} viewers join at ${JOIN_RATE}/s over ${agents.length} agent processes`);
  const started = Date.now();
  for (let i = 0; i < n; i++) {
    const due = started + (i * 1000) / JOIN_RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    await agents[i % agents.length]!.request({ type: 'join', url: session.server.url, room: session.room, ids: [i] });
  }
  const stats = await waitForFirstFrames(label, agents, n, FIRST_FRAME_TIMEOUT_MS, monitor);
  const staggered = joinResult('staggered', n, stats, (Date.now() - started) / 1000, timeline);
  progress(
    NAME,
    `${label}: staggered join → first keyframe p50 ${fmt(staggered.firstKeyframeMs.p50, 0)} / p95 ${fmt(staggered.firstKeyframeMs.p95, 0)} ms, ${staggered.failed} failed`,
  );
  monitor.phase = 'settle';
  await sleep(SETTLE_MS);
  const details = session.server.pool.details();
  const summary = session.server.rooms.get(session.room)?.summary();
  monitor.phase = 'window';
  const window = await measureWindow(label, session, agents, timeline);
  // Probe viewers: one at a time, from a process at normal priority, while the N watch.
  let probe: JoinResult | null = null;
  if (PROBES > 0) {
    monitor.phase = 'probe';
    progress(NAME, `${label}: ${PROBES} probe viewers join one per second while ${n} watch`);
    for (let i = 0; i < PROBES; i++) {
      const next = Date.now() + 1_000;
      await probeAgent.request({ type: 'join', url: session.server.url, room: session.room, ids: [100_000 + i] });
      await sleep(Math.max(0, next - Date.now()));
    }
    const probeStats = await waitForFirstFrames(`${label} probes`, [probeAgent], PROBES, FIRST_FRAME_TIMEOUT_MS, monitor);
    probe = joinResult('probe', PROBES, probeStats, PROBES, timeline);
    progress(NAME, `${label}: probe join → first keyframe p50 ${fmt(probe.firstKeyframeMs.p50, 0)} / p95 ${fmt(probe.firstKeyframeMs.p95, 0)} ms`);
    await probeAgent.request({ type: 'closeAll' }, 60_000);
  }
  let browserProbe: BrowserProbeResult | null = null;
  if (BROWSER_PROBES > 0) {
    monitor.phase = 'probe';
    progress(NAME, `${label}: ${BROWSER_PROBES} /watch pages in Chromium, one per second, while ${n} watch`);
    browserProbe = await browserProbes(session, BROWSER_PROBES);
    progress(
      NAME,
      `${label}: /watch page start → first frame p50 ${fmt(browserProbe.firstFrameMs.p50, 0)} / p95 ${fmt(browserProbe.firstFrameMs.p95, 0)} ms (page load p50 ${fmt(browserProbe.pageLoadMs.p50, 0)} ms), ${browserProbe.playing}/${browserProbe.pages} playing`,
    );
  }
  monitor.phase = 'leave';
  await leaveAll(session, agents);

  // 2. burst
  let burst: JoinResult | null = null;
  if (BURST) {
    progress(NAME, `${label}: ${n} viewers join at once — ${monitor.describeLast()}`);
    monitor.phase = 'burst';
    const burstStarted = Date.now();
    await Promise.all(
      agents.map((agent, a) => {
        const ids = Array.from({ length: n }, (_, i) => i).filter((i) => i % agents.length === a);
        return agent.request({ type: 'join', url: session.server.url, room: session.room, ids });
      }),
    );
    const burstStats = await waitForFirstFrames(`${label} burst`, agents, n, FIRST_FRAME_TIMEOUT_MS, monitor);
    burst = joinResult('burst', n, burstStats, (Date.now() - burstStarted) / 1000, timeline);
    progress(
      NAME,
      `${label}: burst join → first keyframe p50 ${fmt(burst.firstKeyframeMs.p50, 0)} / p95 ${fmt(burst.firstKeyframeMs.p95, 0)} ms, ${burst.failed} failed`,
    );
    monitor.phase = 'burst leave';
    await leaveAll(session, agents);
  }

  const cpuPerViewerCores = (window.workerCores - baseline.workerCores) / n;
  // Per packet the SFU sent (not per packet received: viewers that cannot keep up drop some).
  const workerMicrosecondsPerPacket = ((window.workerCores - baseline.workerCores) * 1e6) / Math.max(1, window.sfuSentPacketsPerSecond);
  const nominalPacketsPerViewer = baseline.publisher.topPacketsPerSecond + window.audioPacketsPerSecond / Math.max(1, window.viewersMeasured);
  return {
    workers: session.workers,
    viewers: n,
    room: session.room,
    window,
    baseline,
    cpuPerViewerCores,
    viewersPerCore: cpuPerViewerCores > 0 ? 1 / cpuPerViewerCores : Number.NaN,
    viewersPerCoreGross: window.workerCores > 0 ? n / window.workerCores : Number.NaN,
    routers: summary?.routers ?? 0,
    workersUsed: summary?.workers ?? [],
    consumersPerWorker: details.map((d) => d.consumers),
    staggered,
    burst,
    probe,
    browserProbe,
    workerMicrosecondsPerPacket,
    nominalPacketsPerViewer,
    viewersPerCoreAtNominal: 1e6 / (workerMicrosecondsPerPacket * nominalPacketsPerViewer),
    publisherDuring: { join: monitor.summary('join'), window: monitor.summary('window'), probe: monitor.summary('probe'), burst: monitor.summary('burst') },
    publisherTimeline: monitor.samples,
  };
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const perCount = (n: number) =>
    n / JOIN_RATE + SETTLE_MS / 1000 + (WINDOW_MS / 1000) * (RETRIES + 1) + (3 * FIRST_FRAME_TIMEOUT_MS) / 1000 + PROBES + BROWSER_PROBES * 2 + 90;
  const perSession = 120 + (WINDOW_MS / 1000) * (RETRIES + 1);
  const totalSeconds = WORKERS.reduce((sum, w) => sum + (w === 1 ? perSession : perSession * COUNTS.length) + COUNTS.reduce((s, n) => s + perCount(n), 0), 60);
  const run = new BenchRun(NAME, totalSeconds * 1000);
  const loadBefore = os.loadavg();
  progress(
    NAME,
    `load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')} on ${os.availableParallelism()} cores; bounded at ${Math.round(totalSeconds / 60)} min`,
  );
  try {
    const timeline = new ServerTimeline();
    const script = await browserScript('webrtcLatencyPage.js');
    const chromium = run.defer('chromium', await launchChromium(), (c) => c.close());
    const machine = machineInfo(chromium.browser.version());
    progress(NAME, `machine: ${describeMachine(machine)}`);
    const agents: Agent[] = [];
    for (let i = 0; i < AGENTS; i++) agents.push(run.defer(`viewer agent ${i}`, await Agent.start(), (a) => a.stop()));
    const probeAgent = run.defer('probe agent', await Agent.start(0), (a) => a.stop());
    progress(NAME, `${agents.length} viewer agent processes (nice ${AGENT_NICE}): ${agents.map((a) => a.pid).join(', ')}; probe viewers in ${probeAgent.pid}`);

    const results: CountResult[] = [];
    const baselines: Array<{ workers: number; viewers: number | null; baseline: WindowResult }> = [];
    for (const workers of WORKERS) {
      // 1 worker: one server for every N. 2+ workers: a server per N whose routers hold
      // N/workers viewers each, so every worker carries its share.
      const plan: Array<number[]> = workers === 1 ? [COUNTS] : COUNTS.map((n) => [n]);
      for (const counts of plan) {
        const maxConsumers = workers === 1 ? null : Math.max(2, 2 * Math.ceil(counts[0]! / workers));
        progress(
          NAME,
          `starting a server with ${workers} worker(s)${maxConsumers ? `, MAX_CONSUMERS_PER_ROUTER=${maxConsumers}` : ''}, HLS off; publisher: ${SOURCE} (${CODEC})`,
        );
        const session = await startSession(workers, maxConsumers, chromium, script);
        const closeSession = run.defer(`server (${workers} workers)`, session, (s) => s.close());
        try {
          progress(
            NAME,
            `workers ${session.workerPids.join(', ')}; publisher on worker(s) ${String(session.server.rooms.get(session.room)?.summary().workers ?? '?')}`,
          );
          const baseline = await measureWindow(`${workers}w baseline (publisher only)`, session, agents, timeline);
          baselines.push({ workers, viewers: workers === 1 ? null : counts[0]!, baseline });
          for (const n of counts) {
            try {
              results.push(await runCount(session, baseline, agents, probeAgent, n, timeline));
            } catch (error) {
              const message = error instanceof Error ? error.message : String(error);
              progress(NAME, `${workers}w N=${n} FAILED: ${message}`);
              await Promise.all(agents.map((a) => a.request({ type: 'closeAll' }, 60_000).catch(() => undefined)));
              results.push({ workers, viewers: n, error: message } as CountResult);
            }
          }
        } finally {
          await closeSession.close();
        }
      }
    }
    const loadAfter = os.loadavg();

    // --- report
    const ok = results.filter((r) => !r.error);
    const pct = (v: number) => fmt(v * 100, 3);
    const capacity = formatTable(
      [
        'workers',
        'viewers',
        'worker CPU (cores)',
        'user / kernel',
        'baseline (publisher only)',
        'CPU per viewer (% of a core)',
        'viewers per core',
        'viewers per core, baseline not subtracted',
        'SFU sent kbps per viewer',
        'video kbps received per viewer (mean / min)',
        'packets/s sent per viewer',
        'worker µs per packet',
        'viewers per core at full rate (from µs/packet)',
        'video loss %',
        'UDP drops SFU / viewers',
        'viewer agents / Chromium CPU (cores)',
        "others' CPU (cores) / load",
        `target ≥ ${TARGET_VIEWERS_PER_CORE}/core`,
      ],
      results.map((r) =>
        r.error
          ? [String(r.workers), String(r.viewers), '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', '—', `error: ${r.error}`]
          : [
              String(r.workers),
              String(r.viewers),
              `${fmt(r.window.workerCores, 3)}${r.workers > 1 ? ` (${r.window.perWorkerCores.map((c) => fmt(c, 3)).join(' + ')})` : ''}`,
              `${fmt(r.window.workerUserCores, 3)} / ${fmt(r.window.workerSystemCores, 3)}`,
              fmt(r.baseline.workerCores, 3),
              pct(r.cpuPerViewerCores),
              fmt(r.viewersPerCore, 0),
              fmt(r.viewersPerCoreGross, 0),
              fmt(r.window.sfuSentKbpsPerViewer, 0),
              `${fmt(r.window.videoKbps.mean, 0)} / ${fmt(r.window.videoKbps.min, 0)}`,
              fmt(r.window.sfuSentPacketsPerSecond / Math.max(1, r.window.viewersMeasured), 0),
              fmt(r.workerMicrosecondsPerPacket, 2),
              `${fmt(r.viewersPerCoreAtNominal, 0)} (${fmt(r.nominalPacketsPerViewer, 0)} pkt/s)`,
              fmt(r.window.videoLossPercent, 3),
              `${r.window.udpDrops.sfu} / ${r.window.udpDrops.other}`,
              `${fmt(r.window.agentCores, 2)} / ${fmt(r.window.chromiumCores, 2)}`,
              `${fmt(r.window.machine?.othersCores, 2)} / ${fmt(r.window.loadAverage1m, 2)}`,
              // Judged on the lower of the measured figure and the full-rate extrapolation
              // (the broadcast may have been below full rate while measured).
              Math.min(r.viewersPerCore, r.viewersPerCoreAtNominal) >= TARGET_VIEWERS_PER_CORE
                ? `met (${fmt(Math.min(r.viewersPerCore, r.viewersPerCoreAtNominal), 0)})`
                : `NOT MET (${fmt(Math.min(r.viewersPerCore, r.viewersPerCoreAtNominal), 0)})`,
            ],
      ),
    );
    const joinRow = (r: CountResult, j: JoinResult | null) =>
      !j
        ? null
        : [
            String(r.workers),
            String(r.viewers),
            j.mode === 'staggered'
              ? `staggered ${JOIN_RATE}/s`
              : j.mode === 'burst'
                ? 'burst (all at once)'
                : `${j.viewers} probes, 1/s, while ${r.viewers} watch`,
            `${j.joined}/${j.viewers}`,
            `${fmt(j.joinCallMs.p50, 0)} / ${fmt(j.joinCallMs.p95, 0)}`,
            `${fmt(j.firstPacketMs.p50, 0)} / ${fmt(j.firstPacketMs.p95, 0)}`,
            `${fmt(j.firstKeyframeMs.p50, 0)} / ${fmt(j.firstKeyframeMs.p95, 0)} / ${fmt(j.firstKeyframeMs.max, 0)}`,
            fmt(j.loadAverage1m, 2),
            r.viewers === TARGET_JOIN_AT && j.mode !== 'burst'
              ? j.failed === 0 && j.firstKeyframeMs.p95 <= TARGET_JOIN_P95_MS
                ? 'met'
                : `NOT MET (p95 ${fmt(j.firstKeyframeMs.p95, 0)} ms${j.failed ? `, ${j.failed} without a frame` : ''})`
              : '—',
          ];
    const joins = formatTable(
      [
        'workers',
        'viewers',
        'joins',
        'first frame',
        'join call p50 / p95 ms',
        'first video packet p50 / p95 ms',
        'first keyframe p50 / p95 / max ms',
        'load',
        `target p95 ≤ ${TARGET_JOIN_P95_MS} ms at ${TARGET_JOIN_AT}`,
      ],
      ok.flatMap((r) => [joinRow(r, r.staggered), joinRow(r, r.probe), joinRow(r, r.burst)].filter((row): row is string[] => row !== null)),
    );
    const browserRows = ok.filter((r) => r.browserProbe);
    const browser = formatTable(
      [
        'workers',
        'viewers watching',
        '/watch pages playing',
        'page start → first frame p50 / p95 / max ms',
        'page load p50 ms',
        'loaded page → first frame p50 / p95 ms',
        'load',
        `target p95 ≤ ${TARGET_JOIN_P95_MS} ms at ${TARGET_JOIN_AT}`,
      ],
      browserRows.map((r) => {
        const b = r.browserProbe!;
        return [
          String(r.workers),
          String(r.viewers),
          `${b.playing}/${b.pages}`,
          `${fmt(b.firstFrameMs.p50, 0)} / ${fmt(b.firstFrameMs.p95, 0)} / ${fmt(b.firstFrameMs.max, 0)}`,
          fmt(b.pageLoadMs.p50, 0),
          `${fmt(b.afterLoadMs.p50, 0)} / ${fmt(b.afterLoadMs.p95, 0)}`,
          fmt(r.probe?.loadAverage1m ?? os.loadavg()[0]!, 2),
          r.viewers === TARGET_JOIN_AT
            ? b.playing === b.pages && b.firstFrameMs.p95 <= TARGET_JOIN_P95_MS
              ? 'met'
              : `NOT MET (p95 ${fmt(b.firstFrameMs.p95, 0)} ms)`
            : '—',
        ];
      }),
    );
    const stages = formatTable(
      [
        'workers',
        'viewers',
        'joins',
        'recv transport created',
        'video consumer resumed',
        'DTLS connected',
        'SFU sends first keyframe',
        'viewer has first keyframe',
      ],
      ok.flatMap((r) =>
        [r.staggered, r.probe, r.burst]
          .filter((j): j is JoinResult => j !== null)
          .map((j) => [
            String(r.workers),
            String(r.viewers),
            j.mode === 'staggered' ? `staggered ${JOIN_RATE}/s` : j.mode === 'burst' ? 'burst' : 'probes',
            ...(['transportCreated', 'videoConsumerResumed', 'dtlsConnected', 'firstKeyframeSent', 'firstKeyframeReceived'] as const).map(
              (k) => `${fmt(j.stages[k].p50, 0)} / ${fmt(j.stages[k].p95, 0)}`,
            ),
          ]),
      ),
    );
    const publisher = formatTable(
      ['workers', 'window', 'top layer', 'top layer kbps / fps', 'all layers kbps', 'send estimate kbps', 'keyframes/s, PLI/s, NACK/s', 'limited by'],
      [
        ...baselines.map((b) => ({ label: `${b.workers}w baseline${b.viewers ? ` (N=${b.viewers})` : ''}`, w: b.baseline, workers: b.workers })),
        ...ok.map((r) => ({ label: `N=${r.viewers}`, w: r.window, workers: r.workers })),
      ].map(({ label, w, workers }) => [
        String(workers),
        label,
        w.publisher.topLayer,
        `${fmt(w.publisher.topKbps, 0)} / ${fmt(w.publisher.topFps, 0)}`,
        fmt(w.publisher.totalKbps, 0),
        fmt(w.publisher.estimateKbps, 0),
        `${fmt(w.publisher.keyframesPerSecond, 2)}, ${fmt(w.publisher.pliPerSecond, 2)}, ${fmt(w.publisher.nackPerSecond, 2)}`,
        w.publisher.limitedBy ?? '—',
      ]),
    );

    const during = formatTable(
      [
        'workers',
        'viewers',
        'phase',
        'seconds',
        'keyframes sent',
        'PLIs received',
        'lowest top layer width',
        'lowest top-layer fps',
        'lowest send estimate kbps',
        'seconds below 720p',
      ],
      ok.flatMap((r) =>
        (['join', 'window', 'probe', 'burst'] as const)
          .map((phase) => ({ phase, d: r.publisherDuring[phase] }))
          .filter((x) => x.d)
          .map(({ phase, d }) => [
            String(r.workers),
            String(r.viewers),
            phase === 'join' ? `staggered join (${JOIN_RATE}/s)` : phase === 'burst' ? 'burst join' : phase === 'probe' ? 'probe joins' : 'steady window',
            fmt(d!.seconds, 0),
            String(d!.keyframes),
            String(d!.plis),
            String(d!.minTopWidth),
            fmt(d!.minTopFps, 0),
            fmt(d!.minEstimateKbps, 0),
            String(d!.layersBelow720p),
          ]),
      ),
    );

    const output = {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      targets: { viewersPerCore: TARGET_VIEWERS_PER_CORE, joinP95Ms: TARGET_JOIN_P95_MS, joinTargetAtViewers: TARGET_JOIN_AT },
      config: {
        counts: COUNTS,
        workers: WORKERS,
        windowMs: WINDOW_MS,
        joinRatePerSecond: JOIN_RATE,
        agents: AGENTS,
        settleMs: SETTLE_MS,
        source: SOURCE,
        content: CONTENT,
        codec: CODEC,
        burst: BURST,
        retries: RETRIES,
        agentNice: AGENT_NICE,
        publisherNice: PUBLISHER_NICE,
        probes: PROBES,
        disturbedCores: DISTURBED_CORES,
      },
      machine,
      loadAverageAfter: loadAfter.map((v) => Number(v.toFixed(2))),
      baselines,
      results,
    };
    const file = writeResult(NAME, output);

    console.log(
      `\nWebRTC viewers of one 1280x720@30 broadcast (${SOURCE === 'canvas' ? `canvas, ${CONTENT} content` : 'fake camera'}, ${CODEC.toUpperCase()} simulcast), HLS off, loopback`,
    );
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)} · load after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
    console.log(
      `viewers: werift in ${AGENTS} child processes at nice ${AGENT_NICE} (+ ${PROBES} probe viewers at nice 0); publisher Chromium at nice ${PUBLISHER_NICE}; SFU at nice 0; ` +
        `${WINDOW_MS / 1000} s steady window per row; CPU = CPU time (/proc) over the window\n`,
    );
    console.log(capacity);
    console.log('\nJoin → first frame (join() call → first complete video keyframe at the viewer):\n');
    console.log(joins);
    if (browserRows.length) {
      console.log(
        '\nReal viewers: /watch pages in Chromium, one per second while the N watch (navigation start → first frame presented, requestVideoFrameCallback):\n',
      );
      console.log(browser);
    }
    console.log("\nWhere the join time goes: ms from the join() call (p50 / p95) until each step (server side from mediasoup's observer, same clock):\n");
    console.log(stages);
    console.log('\nPublisher (Chromium) over each window:\n');
    console.log(publisher);
    console.log('\nPublisher while viewers join (sampled every second; keyframes = all three layers):\n');
    console.log(during);
    const disturbed = ok.filter((r) => (r.window.machine?.othersCores ?? 0) > DISTURBED_CORES);
    if (disturbed.length) {
      console.log(
        `\nWARNING: other processes used more than ${DISTURBED_CORES} cores in ${disturbed.map((r) => `${r.workers}w N=${r.viewers} (${fmt(r.window.machine?.othersCores, 2)})`).join(', ')} ` +
          `even after ${RETRIES} retries: worker CPU time is still comparable, loss and join times include the contention.`,
      );
    }
    const lagging = ok.filter((r) => r.window.agentLoopDelayMs.some((l) => l.p99 > 50));
    if (lagging.length) {
      console.log(
        `\nNOTE: viewer agents' event loops lagged (p99 > 50 ms) in ${lagging.map((r) => `${r.workers}w N=${r.viewers} (p99 ${r.window.agentLoopDelayMs.map((l) => fmt(l.p99, 0)).join('/')} ms)`).join(', ')}: ` +
          "loss measured there may be the viewers' own (socket buffers overflowing), not the SFU's.",
      );
    }
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
