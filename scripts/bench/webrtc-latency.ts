/**
 * Glass-to-glass WebRTC latency on loopback, per video codec.
 *
 * One real server (2 mediasoup workers) and one Chromium. The /broadcast page
 * draws a 1280x720 canvas at 30 fps: moving content plus the frame timestamp
 * code (scripts/bench/browser/frameCodec.js) holding the wall-clock time it was
 * drawn; that canvas's captureStream(30) plus an oscillator goes out through
 * the page's own SDK Publisher (simulcast, as for a camera). The /watch page
 * (quality High) decodes the timestamp of every frame its <video> presents
 * (requestVideoFrameCallback): latency = presentation time − drawn time, both
 * pages on the same clock. Only 1280x720 frames count towards the result
 * (the top simulcast layer); anything else received is reported.
 *
 * --publish=whip (issue 11): the same canvas and oscillator go out over WHIP
 * instead (scripts/bench/browser/whipPublish.js: `fetch` POST with a stream
 * key, one 720p encoding, no simulcast, resolution kept as OBS does), from a
 * bench-only blank page; the server ingests it as a WHIP source (relayed
 * into the room's program) and the same /watch page decodes it. A mode of
 * this benchmark rather than a new one: only the publishing differs, and the
 * figures must be comparable with the SDK's.
 *
 * Then a second watch page joins right after the publisher made a key frame,
 * so that the SFU starts it from its key frame cache, and its latency is
 * reported by time since its first frame (does it stay behind live?).
 *
 *   bash scripts/bench/run webrtc-latency [--frames=600] [--codecs=vp8,h264] [--warmup=5] [--max-record=90] [--content=camera|busy] [--layer-wait=60] [--cached-join-seconds=6] [--publish=sdk|whip]
 *
 * Targets: p95 ≤ 150 ms at 720p30 (SDK publisher); WHIP → WebRTC p95 ≤ 200 ms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as mediasoup from 'mediasoup';
import type { Page } from 'playwright-core';
import { startTestServer } from '../../test/helpers/testServer.js';
import { launchChromium } from '../../test/helpers/chromium.js';
import { browserScript } from './lib/browserBundle.js';
import { cpuSnapshot, cpuUsage, type CpuUsage } from './lib/cpu.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'webrtc-latency';
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;

type Codec = 'vp8' | 'h264';

const args = parseArgs(process.argv.slice(2), ['frames', 'codecs', 'warmup', 'max-record', 'content', 'layer-wait', 'cached-join-seconds', 'publish']);
const [PUBLISH = 'sdk', ...extraPublish] = choicesArg(args, 'publish', 'sdk', ['sdk', 'whip'] as const);
if (extraPublish.length > 0) throw new Error('--publish takes one of sdk, whip');
const TARGET_P95_MS = PUBLISH === 'whip' ? 200 : 150;
/** The blank page the WHIP publisher runs in (served by page.route, nothing added to the server). */
const WHIP_PAGE = '/bench-only/whip-publisher';
/**
 * A static page gets no animation frames in headless Chromium (the canvas source
 * then falls back to its timer and draws unevenly); an element that always
 * animates keeps the page rendering like the /broadcast page with its preview.
 */
const WHIP_PAGE_HTML =
  '<!doctype html><title>WHIP publisher (benchmark)</title>' +
  '<style>@keyframes spin { to { transform: rotate(360deg) } } #busy { width: 20px; height: 20px; background: #888; animation: spin 1s linear infinite }</style>' +
  '<body><div id="busy"></div></body>';
const CONTENT = args.get('content') ?? 'camera';
if (CONTENT !== 'camera' && CONTENT !== 'busy') throw new Error(`--content must be camera or busy, got ${CONTENT}`);
const FRAMES = Math.round(numberArg(args, 'frames', 600));
const WARMUP_MS = numberArg(args, 'warmup', 5) * 1000;
const MAX_RECORD_MS = numberArg(args, 'max-record', 90) * 1000;
const LAYER_WAIT_MS = numberArg(args, 'layer-wait', 60) * 1000;
/** How long the second watch page (joining from the key frame cache) is followed; 0 skips it. */
const CACHED_JOIN_MS = args.get('cached-join-seconds') === '0' ? 0 : numberArg(args, 'cached-join-seconds', 6) * 1000;
const CODECS = choicesArg<Codec>(args, 'codecs', 'vp8,h264', ['vp8', 'h264']);

// Page-side shapes (see scripts/bench/browser/*.js).
interface Sample {
  ts: number;
  at: number;
  display: number;
  receive: number | null;
  capture: number | null;
  processingMs: number | null;
  width: number;
  height: number;
  presented: number;
}
interface SinkResults {
  samples: Sample[];
  failures: Record<string, number>;
  duplicates: number;
  missedCallbacks: number;
  sizes: Record<string, number>;
  layers: Array<{ at: number; spatialLayer: number | null; temporalLayer: number | null }>;
  initialQualityBadge: string | null;
  finalQualityBadge: string | null;
}
interface SinkProgress {
  frames: number;
  recorded: number;
  recordedAll: number;
  failures: number;
  last: { ok: boolean; latencyMs: number | null; width: number; height: number; reason: string | null };
  spatialLayer: number | null;
  qualityBadge: string | null;
}
interface SourceProgress {
  drawn: number;
  mode: string;
  meanIntervalMs: number;
  maxIntervalMs: number;
  publisherState: string | null;
}
type StatsSnapshot = {
  at: number;
  connections: number;
  outboundVideo: Array<Record<string, unknown> & { rid: string | null; frameWidth: number | null }>;
  inboundVideo: Array<Record<string, unknown> & { framesDecoded: number }>;
  roundTripTimes: number[];
};

interface CodecResult {
  codec: Codec;
  error?: string;
  room: string;
  /** 1280x720 frames were arriving when recording started (else recording waited for them). */
  layerReached: boolean;
  /** Seconds from the viewer playing until 1280x720 frames arrived (null: never). */
  secondsTo720p: number | null;
  latencyMs?: Summary;
  /** Every counted frame's latency, in presentation order (0.1 ms). */
  latenciesMs?: number[];
  /** Same frames, to the browser's expected display time instead of the callback time. */
  latencyToExpectedDisplayMs?: Summary;
  /** drawn → last packet of the frame received (capture, encode, pacing, network, SFU). */
  drawnToReceivedMs?: Summary;
  /** last packet received → presented (jitter buffer, decode, render). */
  receivedToPresentedMs?: Summary;
  decodeFailures: number;
  decodeFailuresByReason: Record<string, number>;
  framesInWindow: number;
  duplicates: number;
  missedCallbacks: number;
  sizesReceived: Record<string, number>;
  otherSizeSamples: number;
  /** Latency of the decoded frames of other sizes in the window (not part of the result). */
  otherSizesLatencyMs?: Summary;
  layerChanges: SinkResults['layers'];
  /** The watch page's badge for the layer the server forwards, before and after recording. */
  qualityBadge: { initial: string | null; final: string | null };
  recordSeconds: number;
  /** CPU used during the recording window: by this benchmark's processes and by everything else. */
  cpu: CpuUsage | null;
  /** A second watch page joining right after a key frame (started from the SFU's key frame cache). */
  cachedJoin?: CachedJoinResult;
  source?: SourceProgress;
  sender?: Record<string, unknown>;
  receiver?: Record<string, unknown>;
  targetMet?: boolean;
}

async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

/** The sender's top simulcast layer as recorded in a result (empty when there was none). */
function topLayer(result: CodecResult): Record<string, unknown> {
  return (result.sender?.['top'] ?? {}) as Record<string, unknown>;
}

/** A stats field meant as text (a size, a limitation reason), or `fallback` when the browser left it out. */
function text(value: unknown, fallback = '—'): string {
  return typeof value === 'string' ? value : fallback;
}

function watchConsole(page: Page, label: string): void {
  let shown = 0;
  const show = (text: string) => {
    if (shown++ < 20) progress(NAME, `[${label}] ${text}`);
  };
  page.on('pageerror', (error) => show(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') show(`console.${message.type()}: ${message.text()}`);
  });
}

/** The outbound video encoding with the largest frames (the top simulcast layer). */
function topEncoding(snapshot: StatsSnapshot): StatsSnapshot['outboundVideo'][number] | undefined {
  return [...snapshot.outboundVideo].sort((a, b) => (b.frameWidth ?? 0) - (a.frameWidth ?? 0))[0];
}

function delta(after: number, before: number): number {
  return after - before;
}

/** Sender (top simulcast encoding) and receiver counters over the recording window. */
function statsWindow(sendBefore: StatsSnapshot, sendAfter: StatsSnapshot, recvBefore: StatsSnapshot, recvAfter: StatsSnapshot) {
  const seconds = (sendAfter.at - sendBefore.at) / 1000;
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  const encodings = sendAfter.outboundVideo.map((after) => {
    const before = sendBefore.outboundVideo.find((b) => b.ssrc === after['ssrc']) ?? after;
    const frames = delta(n(after['framesEncoded']), n(before['framesEncoded']));
    const packets = delta(n(after['packetsSent']), n(before['packetsSent']));
    return {
      rid: after.rid,
      size: after.frameWidth ? `${after.frameWidth}x${String(after['frameHeight'])}` : null,
      fps: frames / seconds,
      kbps: (delta(n(after['bytesSent']), n(before['bytesSent'])) * 8) / seconds / 1000,
      encodeMsPerFrame: frames ? (delta(n(after['totalEncodeTime']), n(before['totalEncodeTime'])) / frames) * 1000 : null,
      packetSendDelayMs: packets ? (delta(n(after['totalPacketSendDelay']), n(before['totalPacketSendDelay'])) / packets) * 1000 : null,
      qualityLimitationReason: after['qualityLimitationReason'],
      qualityLimitationDurations: after['qualityLimitationDurations'],
      encoderImplementation: after['encoderImplementation'],
      scalabilityMode: after['scalabilityMode'],
      mimeType: after['mimeType'],
      active: after['active'],
    };
  });
  const top = [...encodings].sort((a, b) => (b.size ? parseInt(b.size, 10) : 0) - (a.size ? parseInt(a.size, 10) : 0))[0] ?? null;

  const inAfter = [...recvAfter.inboundVideo].sort((a, b) => b.framesDecoded - a.framesDecoded)[0];
  const inBefore = recvBefore.inboundVideo.find((b) => b['ssrc'] === inAfter?.['ssrc']) ?? inAfter;
  let receiver: Record<string, unknown> = {};
  if (inAfter && inBefore) {
    const d = (key: string) => delta(n(inAfter[key]), n(inBefore[key]));
    const decoded = d('framesDecoded');
    const emitted = d('jitterBufferEmittedCount');
    receiver = {
      size: `${String(inAfter['frameWidth'])}x${String(inAfter['frameHeight'])}`,
      fps: decoded / seconds,
      kbps: (d('bytesReceived') * 8) / seconds / 1000,
      jitterBufferMsPerFrame: emitted ? (d('jitterBufferDelay') / emitted) * 1000 : null,
      jitterBufferTargetMsPerFrame: emitted ? (d('jitterBufferTargetDelay') / emitted) * 1000 : null,
      jitterBufferMinimumMsPerFrame: emitted ? (d('jitterBufferMinimumDelay') / emitted) * 1000 : null,
      decodeMsPerFrame: decoded ? (d('totalDecodeTime') / decoded) * 1000 : null,
      processingDelayMsPerFrame: decoded ? (d('totalProcessingDelay') / decoded) * 1000 : null,
      framesDecoded: decoded,
      framesDropped: d('framesDropped'),
      keyFramesDecoded: d('keyFramesDecoded'),
      packetsLost: d('packetsLost'),
      nackCount: d('nackCount'),
      pliCount: d('pliCount'),
      freezeCount: d('freezeCount'),
      decoderImplementation: inAfter['decoderImplementation'],
      mimeType: inAfter['mimeType'],
    };
  }
  return {
    sender: { encodings, top, rttMs: Math.max(0, ...sendAfter.roundTripTimes) * 1000 },
    receiver: { ...receiver, rttMs: Math.max(0, ...recvAfter.roundTripTimes) * 1000 },
  };
}

// ------------------------------------------------------------------ join from the key frame cache

/**
 * Server-side view of the publisher's video (mediasoup observer API, hooked
 * before the server starts its workers): key frames arriving from the
 * publisher, keyframe requests sent to it, and the viewers' video consumers
 * (one of which is used to ask for a key frame on purpose).
 */
class KeyframeTracker {
  keyframesIn: number[] = [];
  requestsOut: number[] = [];
  readonly videoConsumers = new Set<mediasoup.types.Consumer>();

  constructor() {
    mediasoup.observer.on('newworker', (worker) =>
      worker.observer.on('newrouter', (router) =>
        router.observer.on('newtransport', (transport) => {
          transport.observer.on('newproducer', (producer) => {
            if (producer.kind !== 'video' || transport.type !== 'webrtc') return;
            void producer.enableTraceEvent(['keyframe', 'pli', 'fir']);
            producer.on('trace', (event) => {
              if (event.type === 'keyframe' && event.direction === 'in') this.keyframesIn.push(Date.now());
              if ((event.type === 'pli' || event.type === 'fir') && event.direction === 'out') this.requestsOut.push(Date.now());
            });
          });
          transport.observer.on('newconsumer', (consumer) => {
            if (consumer.kind !== 'video' || transport.type !== 'webrtc') return;
            this.videoConsumers.add(consumer);
            consumer.observer.once('close', () => this.videoConsumers.delete(consumer));
          });
        }),
      ),
    );
  }
}

interface CachedJoinResult {
  /** Navigation of the second page → its first presented frame. */
  firstFrameMs: number | null;
  /** Age of the publisher's latest key frame when that page's first frame was presented. */
  keyframeAgeAtFirstFrameMs: number | null;
  /** Keyframe requests that reached the publisher between navigation and first frame (0: started from the cache). */
  requestsToPublisher: number;
  /** Latency of presented 1280x720 frames by time since the first frame. */
  windows: Array<{ fromS: number; toS: number; latencyMs: Summary }>;
  error?: string;
}

const CACHED_JOIN_WINDOWS: Array<[number, number]> = [
  [0, 0.5],
  [0.5, 1],
  [1, 2],
  [2, 4],
  [4, 6],
  [6, 10],
];

/**
 * A second watch page joins just after the publisher made a key frame, so the
 * SFU can start it from its key frame cache (KEYFRAME_CACHE_MS): the key frame
 * and the frames since arrive at once, a few hundred ms old. Measures how
 * long the page then plays behind live, by time since its first frame: the
 * receiver's jitter buffer has to converge back to the live edge.
 */
async function measureCachedJoin(
  codec: Codec,
  room: string,
  ctx: { baseUrl: string; newPage: () => Promise<Page>; script: string; tracker: KeyframeTracker },
): Promise<CachedJoinResult> {
  const result: CachedJoinResult = { firstFrameMs: null, keyframeAgeAtFirstFrameMs: null, requestsToPublisher: 0, windows: [] };
  const page = await ctx.newPage();
  try {
    watchConsole(page, `${codec} cached join`);
    await page.addInitScript(`try { localStorage.setItem('floodlight.quality', 'high'); } catch {}`);
    await page.addInitScript(ctx.script);
    // Ask the publisher for a key frame through the first viewer's consumer, and go when it arrives.
    const consumer = [...ctx.tracker.videoConsumers].find((c) => !c.closed);
    if (!consumer) throw new Error('no video consumer to request a key frame with');
    const seen = ctx.tracker.keyframesIn.length;
    await consumer.requestKeyFrame();
    const deadline = Date.now() + 3_000;
    while (ctx.tracker.keyframesIn.length === seen && Date.now() < deadline) await sleep(5);
    if (ctx.tracker.keyframesIn.length === seen) throw new Error('the publisher made no key frame within 3 s');
    const navigatedAt = Date.now();
    const requestsBefore = ctx.tracker.requestsOut.length;
    await page.goto(`${ctx.baseUrl}/watch?room=${room}`);
    await evaluate(page, `window.__bench.sink.start({ selector: '#video' })`);
    await evaluate(page, 'window.__bench.sink.setRecording(true)');
    await page.waitForSelector('video[data-state="playing"]', { timeout: 20_000 });
    await sleep(CACHED_JOIN_MS);
    const sink = await evaluate<SinkResults>(page, 'window.__bench.sink.results()');
    const first = sink.samples[0];
    if (!first) throw new Error('no frame presented');
    const firstWall = first.at;
    result.firstFrameMs = Math.round(firstWall - navigatedAt);
    const lastKeyframeBefore = ctx.tracker.keyframesIn.filter((t) => t <= firstWall).at(-1);
    result.keyframeAgeAtFirstFrameMs = lastKeyframeBefore === undefined ? null : Math.round(firstWall - lastKeyframeBefore);
    result.requestsToPublisher = ctx.tracker.requestsOut.slice(requestsBefore).filter((t) => t <= firstWall).length;
    const counted = sink.samples.filter((s) => s.width === WIDTH && s.height === HEIGHT);
    result.windows = CACHED_JOIN_WINDOWS.filter(([, to]) => to * 1000 <= CACHED_JOIN_MS + 1).map(([fromS, toS]) => ({
      fromS,
      toS,
      latencyMs: summarize(counted.filter((s) => s.at - firstWall >= fromS * 1000 && s.at - firstWall < toS * 1000).map((s) => s.at - s.ts)),
    }));
    progress(
      NAME,
      `[${codec}] cached join: first frame ${result.firstFrameMs} ms after navigation, key frame ${result.keyframeAgeAtFirstFrameMs} ms old, ` +
        `${result.requestsToPublisher} requests to the publisher; latency p50 by second ${result.windows.map((w) => `${w.fromS}-${w.toS}s ${fmt(w.latencyMs.p50, 0)}`).join(', ')} ms`,
    );
  } catch (error) {
    result.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
    progress(NAME, `[${codec}] cached join FAILED: ${result.error}`);
  } finally {
    await page.close().catch(() => undefined);
  }
  return result;
}

async function measureCodec(
  codec: Codec,
  ctx: {
    baseUrl: string;
    issueToken: (room: string) => Promise<string>;
    createStreamKey: (room: string) => Promise<string>;
    newPage: () => Promise<Page>;
    script: string;
    tracker: KeyframeTracker;
  },
): Promise<CodecResult> {
  const room = `bench-latency-${codec}-${Date.now().toString(36)}`;
  const result: CodecResult = {
    codec,
    room,
    layerReached: false,
    secondsTo720p: null,
    decodeFailures: 0,
    decodeFailuresByReason: {},
    framesInWindow: 0,
    duplicates: 0,
    missedCallbacks: 0,
    sizesReceived: {},
    otherSizeSamples: 0,
    layerChanges: [],
    qualityBadge: { initial: null, final: null },
    recordSeconds: 0,
    cpu: null,
  };
  const pages: Page[] = [];
  try {
    // --- broadcaster: the /broadcast page's SDK publisher, or WHIP from a blank page
    const broadcast = await ctx.newPage();
    pages.push(broadcast);
    watchConsole(broadcast, `${codec} broadcast`);
    let whip: { url: string; key: string } | undefined;
    if (PUBLISH === 'whip') {
      await broadcast.route(`${ctx.baseUrl}${WHIP_PAGE}`, (route) =>
        route.fulfill({ status: 200, contentType: 'text/html; charset=utf-8', body: WHIP_PAGE_HTML }),
      );
      await broadcast.addInitScript(ctx.script);
      await broadcast.goto(`${ctx.baseUrl}${WHIP_PAGE}`);
      whip = { url: `/whip/${room}`, key: await ctx.createStreamKey(room) };
    } else {
      const token = await ctx.issueToken(room);
      await broadcast.addInitScript('window.__benchConfig = { stubGetUserMedia: true };');
      await broadcast.addInitScript(ctx.script);
      await broadcast.goto(`${ctx.baseUrl}/broadcast?room=${room}&token=${token}`);
      await broadcast.waitForFunction('Boolean(window.floodlight && window.floodlight.publisher && window.__bench)', undefined, { timeout: 15_000 });
    }
    progress(NAME, `[${codec}] publishing a ${WIDTH}x${HEIGHT}@${FPS} canvas (${CONTENT} content) + oscillator to room ${room} (${PUBLISH})`);
    const published = await evaluate<Record<string, unknown>>(
      broadcast,
      `window.__bench.source.start(${JSON.stringify({ codec, width: WIDTH, height: HEIGHT, fps: FPS, content: CONTENT, whip })})`,
    );
    progress(NAME, `[${codec}] publisher ${String(published['state'])}, audio ${String(published['audioContextState'])}`);

    // --- viewer
    const watch = await ctx.newPage();
    pages.push(watch);
    watchConsole(watch, `${codec} watch`);
    await watch.addInitScript(`try { localStorage.setItem('floodlight.quality', 'high'); } catch {}`);
    await watch.addInitScript(ctx.script);
    await watch.goto(`${ctx.baseUrl}/watch?room=${room}`);
    await watch.waitForSelector('video[data-state="playing"]', { timeout: 20_000 });
    const quality = await watch.evaluate('document.querySelector("#quality")?.value');
    await evaluate(watch, `window.__bench.sink.start({ selector: '#video' })`);
    progress(NAME, `[${codec}] watch page playing (quality ${String(quality)}); warming up ${WARMUP_MS / 1000} s`);

    const sinkProgress = () => evaluate<SinkProgress>(watch, `window.__bench.sink.progress(${WIDTH})`);
    const describe = (p: SinkProgress) =>
      `${p.last.width}x${p.last.height}, layer ${p.spatialLayer ?? p.qualityBadge ?? '?'}, last ${p.last.ok ? `${fmt(p.last.latencyMs, 0)} ms` : `decode ${p.last.reason ?? 'n/a'}`}`;

    const warmEnd = Date.now() + WARMUP_MS;
    while (Date.now() < warmEnd) {
      await sleep(Math.min(1_000, warmEnd - Date.now()));
      progress(NAME, `[${codec}] warm-up: ${describe(await sinkProgress())}`);
    }
    const layerDeadline = Date.now() + LAYER_WAIT_MS;
    const playingSince = warmEnd - WARMUP_MS;
    let p = await sinkProgress();
    while (p.last.width < WIDTH && Date.now() < layerDeadline) {
      const top = topEncoding(await evaluate<StatsSnapshot>(broadcast, 'window.__bench.stats.snapshot()'));
      const sending = top
        ? `sender's top layer ${String(top.frameWidth)}x${String(top['frameHeight'])}, limited by ${String(top['qualityLimitationReason'])}`
        : 'no sender stats';
      progress(NAME, `[${codec}] waiting for the ${WIDTH}x${HEIGHT} layer: ${describe(p)}; ${sending}`);
      await sleep(1_000);
      p = await sinkProgress();
    }
    result.layerReached = p.last.width >= WIDTH;
    if (result.layerReached) {
      result.secondsTo720p = (Date.now() - playingSince) / 1000;
    } else {
      progress(
        NAME,
        `[${codec}] WARNING: still at ${p.last.width}x${p.last.height} after ${LAYER_WAIT_MS / 1000} s; recording anyway (only ${WIDTH}x${HEIGHT} frames count)`,
      );
    }

    // --- recording window
    const sendBefore = await evaluate<StatsSnapshot>(broadcast, 'window.__bench.stats.snapshot()');
    const recvBefore = await evaluate<StatsSnapshot>(watch, 'window.__bench.stats.snapshot()');
    await evaluate(watch, 'window.__bench.sink.setRecording(true)');
    const cpuBefore = cpuSnapshot();
    const recordStart = Date.now();
    progress(NAME, `[${codec}] recording ${FRAMES} frames`);
    let lastLine = 0;
    for (;;) {
      await sleep(250);
      p = await sinkProgress();
      const counted = p.recorded;
      if (counted >= FRAMES) break;
      if (Date.now() - recordStart > MAX_RECORD_MS) {
        progress(NAME, `[${codec}] WARNING: only ${counted}/${FRAMES} frames after ${MAX_RECORD_MS / 1000} s; stopping`);
        break;
      }
      if (Date.now() - lastLine >= 2_000) {
        lastLine = Date.now();
        progress(NAME, `[${codec}] ${counted}/${FRAMES} frames, ${p.failures} decode failures; ${describe(p)}`);
      }
    }
    await evaluate(watch, 'window.__bench.sink.setRecording(false)');
    result.recordSeconds = (Date.now() - recordStart) / 1000;
    result.cpu = cpuUsage(cpuBefore, cpuSnapshot());
    const sendAfter = await evaluate<StatsSnapshot>(broadcast, 'window.__bench.stats.snapshot()');
    const recvAfter = await evaluate<StatsSnapshot>(watch, 'window.__bench.stats.snapshot()');
    const sink = await evaluate<SinkResults>(watch, 'window.__bench.sink.results()');
    result.source = await evaluate<SourceProgress>(broadcast, 'window.__bench.source.progress()');

    // --- numbers
    const counted = sink.samples.filter((s) => s.width === WIDTH && s.height === HEIGHT);
    const others = sink.samples.filter((s) => !(s.width === WIDTH && s.height === HEIGHT));
    result.otherSizeSamples = others.length;
    result.otherSizesLatencyMs = summarize(others.map((s) => s.at - s.ts));
    result.latencyMs = summarize(counted.map((s) => s.at - s.ts));
    result.latenciesMs = counted.map((s) => Math.round((s.at - s.ts) * 10) / 10);
    result.latencyToExpectedDisplayMs = summarize(counted.map((s) => s.display - s.ts));
    const withReceive = counted.filter((s) => s.receive !== null);
    result.drawnToReceivedMs = summarize(withReceive.map((s) => s.receive! - s.ts));
    result.receivedToPresentedMs = summarize(withReceive.map((s) => s.at - s.receive!));
    result.decodeFailuresByReason = sink.failures;
    result.decodeFailures = Object.values(sink.failures).reduce((a, b) => a + b, 0);
    result.framesInWindow = Object.values(sink.sizes).reduce((a, b) => a + b, 0);
    result.duplicates = sink.duplicates;
    result.missedCallbacks = sink.missedCallbacks;
    result.sizesReceived = sink.sizes;
    result.layerChanges = sink.layers;
    result.qualityBadge = { initial: sink.initialQualityBadge, final: sink.finalQualityBadge };
    Object.assign(result, statsWindow(sendBefore, sendAfter, recvBefore, recvAfter));
    result.targetMet = result.latencyMs.count >= Math.min(FRAMES, 300) && result.latencyMs.p95 <= TARGET_P95_MS;
    progress(
      NAME,
      `[${codec}] done: ${result.latencyMs.count} frames, p50 ${fmt(result.latencyMs.p50)} / p95 ${fmt(result.latencyMs.p95)} ms, ${result.decodeFailures} decode failures`,
    );
    if (CACHED_JOIN_MS > 0) result.cachedJoin = await measureCachedJoin(codec, room, ctx);
  } catch (error) {
    result.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
    progress(NAME, `[${codec}] FAILED: ${result.error}`);
  } finally {
    for (const page of pages.reverse()) await page.close().catch(() => undefined);
  }
  return result;
}

async function main(): Promise<void> {
  // Bounded: setup + per codec (warm-up, layer wait, recording, slack).
  const deadlineMs = 60_000 + CODECS.length * (WARMUP_MS + LAYER_WAIT_MS + MAX_RECORD_MS + 60_000);
  const run = new BenchRun(NAME, deadlineMs);
  const loadBefore = os.loadavg();
  progress(NAME, `load average ${loadBefore.map((v) => v.toFixed(2)).join(' ')} on ${os.availableParallelism()} cores`);
  try {
    const script = await browserScript('webrtcLatencyPage.js');
    progress(NAME, 'starting server (2 mediasoup workers) and Chromium');
    const tracker = new KeyframeTracker();
    // Stream keys (WHIP) live in a directory of this run's own.
    const keysDir = run.defer('keys dir', fs.mkdtempSync(path.join(os.tmpdir(), 'webrtc-latency-keys-')), (dir) =>
      fs.rmSync(dir, { recursive: true, force: true }),
    );
    const server = run.defer('server', await startTestServer({ STREAM_KEYS_DIR: keysDir }), (s) => s.close());
    const chromium = run.defer('chromium', await launchChromium(), (c) => c.close());
    const machine = machineInfo(chromium.browser.version());
    progress(NAME, `machine: ${describeMachine(machine)}`);

    // Preflight: the pixel codec survives JPEG q=0.3 and 4x downscaling in this browser.
    const probe = await chromium.context.newPage();
    await probe.addInitScript(script);
    await probe.goto(`${server.url}/`);
    const problems = await evaluate<string[]>(probe, 'window.__bench.FrameCodec.selfTest()');
    await probe.close();
    if (problems.length) throw new Error(`frame codec self-test failed: ${problems.join('; ')}`);
    progress(NAME, 'frame codec self-test passed (JPEG q0.3, 1280x720 and 320x180)');

    const results: CodecResult[] = [];
    for (const codec of CODECS) {
      results.push(
        await measureCodec(codec, {
          baseUrl: server.url,
          issueToken: (room) => server.tokens.issue({ room, role: 'publisher' }, 3600),
          createStreamKey: async (room) => (await server.streamKeys.create(room, 'primary')).key,
          newPage: () => chromium.context.newPage(),
          script,
          tracker,
        }),
      );
    }
    const loadAfter = os.loadavg();

    // --- report
    const mainTable = formatTable(
      [
        'codec',
        'layer measured',
        'frames',
        'decode failures',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'CPU bench / others',
        `target p95 ≤ ${TARGET_P95_MS} ms`,
      ],
      results.map((r) =>
        r.error
          ? [r.codec.toUpperCase(), '—', '—', '—', '—', '—', '—', '—', '—', `error: ${r.error}`]
          : [
              r.codec.toUpperCase(),
              r.latencyMs?.count ? `${WIDTH}x${HEIGHT}${r.secondsTo720p === null ? ' (late)' : ''}` : 'none',
              String(r.latencyMs?.count ?? 0),
              `${r.decodeFailures} / ${r.framesInWindow}`,
              fmt(r.latencyMs?.p50),
              fmt(r.latencyMs?.p95),
              fmt(r.latencyMs?.p99),
              fmt(r.latencyMs?.max),
              r.cpu ? `${fmt(r.cpu.oursCores, 2)} / ${fmt(r.cpu.othersCores, 2)} cores` : '—',
              r.targetMet
                ? 'met'
                : (r.latencyMs?.count ?? 0) >= Math.min(FRAMES, 300)
                  ? `NOT MET (p95 ${fmt(r.latencyMs?.p95)} ms)`
                  : `NOT MEASURED: ${r.latencyMs?.count ?? 0} 720p frames; sender's top layer ${text(topLayer(r)['size'], '?')}, limited by ${text(topLayer(r)['qualityLimitationReason'], '?')}`,
            ],
      ),
    );
    const num = (v: unknown, digits = 1) => (typeof v === 'number' ? fmt(v, digits) : '—');
    const breakdownTable = formatTable(
      [
        'codec',
        'drawn→received p50/p95',
        'received→presented p50/p95',
        'encode ms/frame (top layer)',
        'jitter buffer ms/frame',
        'decode ms/frame',
        'top layer sent: size, fps, kbps',
        'received fps / kbps',
        'sender limited by',
      ],
      results
        .filter((r) => !r.error)
        .map((r) => {
          const top = topLayer(r);
          const rx = r.receiver ?? {};
          return [
            r.codec.toUpperCase(),
            `${fmt(r.drawnToReceivedMs?.p50)} / ${fmt(r.drawnToReceivedMs?.p95)}`,
            `${fmt(r.receivedToPresentedMs?.p50)} / ${fmt(r.receivedToPresentedMs?.p95)}`,
            num(top['encodeMsPerFrame']),
            num(rx['jitterBufferMsPerFrame']),
            num(rx['decodeMsPerFrame']),
            `${text(top['size'])}, ${num(top['fps'], 0)}, ${num(top['kbps'], 0)}`,
            `${num(rx['fps'], 0)} / ${num(rx['kbps'], 0)}`,
            text(top['qualityLimitationReason']),
          ];
        }),
    );

    const output = {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      target: { p95Ms: TARGET_P95_MS, size: `${WIDTH}x${HEIGHT}`, fps: FPS },
      config: {
        publish: PUBLISH,
        frames: FRAMES,
        codecs: CODECS,
        content: CONTENT,
        warmupMs: WARMUP_MS,
        maxRecordMs: MAX_RECORD_MS,
        layerWaitMs: LAYER_WAIT_MS,
        cachedJoinMs: CACHED_JOIN_MS,
      },
      machine,
      loadAverageAfter: loadAfter.map((v) => Number(v.toFixed(2))),
      results,
    };
    const file = writeResult(NAME, output);

    const via = PUBLISH === 'whip' ? 'WHIP (one encoding)' : 'SDK publisher (simulcast)';
    console.log(`\nWebRTC glass-to-glass latency, ${WIDTH}x${HEIGHT}@${FPS} canvas (${CONTENT} content) → ${via} → SFU → watch page (loopback)`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)} · load after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}\n`);
    console.log(mainTable);
    console.log('\nWhere the time goes (medians/means over the same window):\n');
    console.log(breakdownTable);
    for (const r of results) {
      if (r.error) continue;
      const sizes = Object.entries(r.sizesReceived)
        .map(([size, count]) => `${size}×${count}`)
        .join(', ');
      const changes = r.layerChanges.map((l) => `${l.spatialLayer ?? '-'}/${l.temporalLayer ?? '-'}`).join(' → ');
      const layers = `badge "${r.qualityBadge.initial ?? '?'}" → "${r.qualityBadge.final ?? '?'}"${changes ? `, changes (spatial/temporal) ${changes}` : ', no layer change while watching'}`;
      console.log(
        `\n${r.codec.toUpperCase()}: 720p after ${r.secondsTo720p === null ? 'never (before recording)' : `${fmt(r.secondsTo720p)} s`}; frames seen ${sizes || 'none'}; ` +
          `${r.otherSizeSamples} decoded frames of other sizes excluded${r.otherSizeSamples ? ` (their p50/p95 ${fmt(r.otherSizesLatencyMs?.p50)} / ${fmt(r.otherSizesLatencyMs?.p95)} ms)` : ''}; ` +
          `${r.duplicates} repeated pictures; ${r.missedCallbacks} presented frames without a callback; ` +
          `decode failures ${JSON.stringify(r.decodeFailuresByReason)}; ` +
          `to expected display time p50/p95 ${fmt(r.latencyToExpectedDisplayMs?.p50)} / ${fmt(r.latencyToExpectedDisplayMs?.p95)} ms; server layer: ${layers}; ` +
          `source drew ${r.source?.drawn ?? 0} frames via ${r.source?.mode ?? '?'} (mean interval ${fmt(r.source?.meanIntervalMs)} ms, max ${fmt(r.source?.maxIntervalMs)} ms)`,
      );
    }
    const joins = results.filter((r) => r.cachedJoin);
    if (joins.length) {
      console.log('\nA watch page joining just after a key frame (started from the SFU key frame cache): latency p50 / p95 ms by time since its first frame\n');
      console.log(
        formatTable(
          [
            'codec',
            'first frame after navigation',
            'key frame age then',
            'requests to publisher',
            ...CACHED_JOIN_WINDOWS.filter(([, to]) => to * 1000 <= CACHED_JOIN_MS + 1).map(([a, b]) => `${a}–${b} s`),
          ],
          joins.map((r) => {
            const j = r.cachedJoin!;
            if (j.error) return [r.codec.toUpperCase(), `error: ${j.error}`];
            return [
              r.codec.toUpperCase(),
              `${fmt(j.firstFrameMs, 0)} ms`,
              `${fmt(j.keyframeAgeAtFirstFrameMs, 0)} ms`,
              String(j.requestsToPublisher),
              ...j.windows.map((w) => (w.latencyMs.count ? `${fmt(w.latencyMs.p50, 0)} / ${fmt(w.latencyMs.p95, 0)}` : '—')),
            ];
          }),
        ),
      );
    }
    const busy = results.filter((r) => (r.cpu?.othersCores ?? 0) > 0.25);
    if (busy.length) {
      console.log(
        `\nWARNING: other processes used ${busy.map((r) => `${fmt(r.cpu?.othersCores, 2)} cores during ${r.codec.toUpperCase()}`).join(', ')} ` +
          `of ${machine.nproc}: these figures include CPU contention; rerun on a quiet machine to compare.`,
      );
    }
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
