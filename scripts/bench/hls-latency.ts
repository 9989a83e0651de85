/**
 * HLS: glass-to-glass latency through hls.js in Chromium (LL-HLS and classic
 * HLS), time from going live to the first playable playlist, and the
 * recorder's ffmpeg CPU per rendition.
 *
 * 1. first-playlist — a /broadcast page publishes the 1280x720@30 canvas of
 *    webrtc-latency (scripts/bench/browser/webrtcLatencyPage.js) to a fresh
 *    room; meanwhile this process polls /hls/<room>/index.m3u8 and every media
 *    playlist it lists (every 50 ms). Time from publish() resolving (the
 *    server has the producers: the room is live) to the master answering 200
 *    and every media playlist holding at least one part. --runs times.
 * 2. latency — one broadcast (canvas with the frame timestamp code,
 *    scripts/bench/browser/frameCodec.js), then per mode a viewer page:
 *      ll:      the real /watch?room=R&transport=hls page (client hls.js config:
 *               lowLatencyMode, liveSyncDuration 1.2 s…), quality High (top rendition);
 *      classic: a bench-only page (served with page.route, nothing added to the
 *               client) running the same hls.js (hls.js/light 1.7.4) with
 *               lowLatencyMode: false and hls.js's defaults otherwise (3 target
 *               durations behind the live edge), top rendition.
 *    After --warmup s, the timestamp of every presented frame
 *    (requestVideoFrameCallback) is decoded until --frames frames: latency =
 *    presented − drawn (same browser, same clock). hls.js's own latency to the
 *    live edge and the playhead's EXT-X-PROGRAM-DATE-TIME split it.
 * 3. cpu — per source codec (VP8, H.264) and ladder (HLS_RENDITIONS = 720 /
 *    720,480 / 720,480,240): a server, the canvas broadcast, and the CPU time
 *    of the recorder's ffmpeg (server.hls.ffmpegPid(room), /proc) over a
 *    --cpu-window s window once the stream is up.
 *
 * Chromium (the broadcaster and viewer pages, standing for machines of their
 * own) can run at nice --browser-nice (default 0: a negative value keeps the
 * source at 30 fps on a small machine but starves ffmpeg, which then falls
 * behind and ruins the latency figures — seen at -5 on 2 cores). A
 * figure taken while other processes used > 0.3 cores (or, for ffmpeg CPU,
 * while the source ran below 27 fps) is measured again, up to --retries times.
 *
 *   bash scripts/bench/run hls-latency [--parts=first-playlist,latency,cpu] [--runs=5]
 *        [--modes=ll,classic] [--codec=vp8] [--frames=600] [--warmup=15] [--max-record=60]
 *        [--cpu-codecs=vp8,h264] [--ladders=720/720,480/720,480,240] [--cpu-window=20] [--retries=2]
 *        [--browser-nice=0]
 *
 * Targets: LL-HLS p50 ≤ 2.0 s, classic HLS p50 ≤ 4 s, first playable playlist ≤ 2 s after going live.
 */
import os from 'node:os';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../../test/helpers/chromium.js';
import { browserScript } from './lib/browserBundle.js';
import { cpuSnapshot, cpuUsage, processCpuSeconds, type CpuUsage } from './lib/cpu.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { reniceBrowser } from './lib/system.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'hls-latency';
const TARGET_LL_P50_MS = 2_000;
const TARGET_CLASSIC_P50_MS = 4_000;
const TARGET_FIRST_PLAYLIST_MS = 2_000;
const DISTURBED_CORES = 0.3;
/** ffmpeg CPU is only comparable at the full input frame rate. */
const MIN_SOURCE_FPS = 27;
const WIDTH = 1280;
const HEIGHT = 720;
const FPS = 30;

const args = parseArgs(process.argv.slice(2), [
  'parts',
  'runs',
  'modes',
  'codec',
  'frames',
  'warmup',
  'max-record',
  'cpu-codecs',
  'ladders',
  'cpu-window',
  'retries',
  'browser-nice',
]);
const PARTS = choicesArg(args, 'parts', 'first-playlist,latency,cpu', ['first-playlist', 'latency', 'cpu']);
const RUNS = Math.round(numberArg(args, 'runs', 5));
const MODES = choicesArg(args, 'modes', 'll,classic', ['ll', 'classic']);
const CODECS: readonly Codec[] = ['vp8', 'h264'];
const [CODEC = 'vp8', ...extraCodecs] = choicesArg(args, 'codec', 'vp8', CODECS);
if (extraCodecs.length > 0) throw new Error('--codec takes one codec (--cpu-codecs takes a list)');
const FRAMES = Math.round(numberArg(args, 'frames', 600));
const MIN_FRAMES = Math.min(FRAMES, 300);
const WARMUP_MS = numberArg(args, 'warmup', 15) * 1000;
const MAX_RECORD_MS = numberArg(args, 'max-record', 60) * 1000;
const CPU_CODECS = choicesArg(args, 'cpu-codecs', 'vp8,h264', CODECS);
const LADDERS = (args.get('ladders') ?? '720/720,480/720,480,240').split('/').map((l) => l.trim());
const CPU_WINDOW_MS = numberArg(args, 'cpu-window', 20) * 1000;
const RETRIES = Math.round(Number(args.get('retries') ?? 2));
/**
 * Chromium (broadcaster and viewer pages) stands for machines of their own: it runs at
 * this nice value so that the system under test (server, ffmpeg: nice 0) or other work
 * on a small shared machine does not starve the canvas source below 30 fps.
 */
const BROWSER_NICE = Math.round(Number(args.get('browser-nice') ?? 0));

type Mode = 'll' | 'classic';
type Codec = 'vp8' | 'h264';

/** Classic HLS: hls.js defaults (liveSyncDurationCount 3) without low-latency mode; worker as the client loads it. */
const CLASSIC_CONFIG = { lowLatencyMode: false, enableWorker: true, workerPath: '/assets/hls.worker.js' };
const CLASSIC_PATH = '/bench-only/classic-hls';

interface Scripts {
  sink: string;
  hls: string;
}

async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

function watchConsole(page: Page, label: string): void {
  let shown = 0;
  const show = (text: string) => {
    if (shown++ < 20) progress(NAME, `[${label}] ${text}`);
  };
  page.on('pageerror', (error) => show(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error' && message.type() !== 'warning') return;
    const url = message.location().url;
    show(`console.${message.type()}: ${message.text()}${url ? ` (${new URL(url).pathname})` : ''}`);
  });
}

type StatsSnapshot = {
  at: number;
  outboundVideo: Array<{
    ssrc: number;
    frameWidth: number | null;
    frameHeight: number | null;
    bytesSent: number;
    framesEncoded: number;
    qualityLimitationReason: string | null;
  }>;
};
const topEncoding = (s: StatsSnapshot) => [...s.outboundVideo].sort((a, b) => (b.frameWidth ?? 0) - (a.frameWidth ?? 0))[0];

interface Broadcast {
  room: string;
  page: Page;
  publishStartedAt: number;
  publishedAt: number;
}

/** A /broadcast page publishing the timestamped canvas (simulcast, `codec`). */
async function startBroadcast(server: FloodlightServer, chromium: LaunchedChromium, scripts: Scripts, codec: Codec, room: string): Promise<Broadcast> {
  const token = await server.tokens.issue({ room, role: 'publisher' }, 3600);
  const page = await chromium.context.newPage();
  watchConsole(page, `broadcast ${room}`);
  try {
    await page.addInitScript('window.__benchConfig = { stubGetUserMedia: true };');
    await page.addInitScript(scripts.sink);
    await page.goto(`${server.url}/broadcast?room=${room}&token=${token}`);
    await page.waitForFunction('Boolean(window.floodlight && window.floodlight.publisher && window.__bench)', undefined, { timeout: 15_000 });
    if (BROWSER_NICE) reniceBrowser(BROWSER_NICE);
    const started = await evaluate<{ publishStartedAt: number; publishedAt: number }>(
      page,
      `window.__bench.source.start(${JSON.stringify({ codec, width: WIDTH, height: HEIGHT, fps: FPS, content: 'camera' })})`,
    );
    return { room, page, publishStartedAt: started.publishStartedAt, publishedAt: started.publishedAt };
  } catch (error) {
    await page.close().catch(() => undefined);
    throw error;
  }
}

/** Waits (up to timeoutMs) for the sender's top simulcast layer to be 1280x720; returns its size. */
async function waitForTopLayer(page: Page, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const top = topEncoding(await evaluate<StatsSnapshot>(page, 'window.__bench.stats.snapshot()'));
    const size = top ? `${top.frameWidth}x${top.frameHeight}` : 'none';
    if ((top?.frameWidth ?? 0) >= WIDTH || Date.now() > deadline) return size;
    await sleep(500);
  }
}

// ------------------------------------------------------------------ 1. first playable playlist

interface FirstPlaylistRun {
  room: string;
  /** publish() call → resolved (join, transports, produce), ms. */
  publishMs: number;
  /** The rest: ms after publish() resolved (the room is live). Server side, polled every 20 ms: */
  ffmpegStartedMs: number | null;
  /** First LL-HLS part published by any rendition's packager. */
  firstPartPackagedMs: number | null;
  /** First complete segment (every rendition); the master playlist needs one (for BANDWIDTH). */
  firstSegmentPackagedMs: number | null;
  /** Over HTTP, polled every 50 ms: media playlist of the top rendition answering 200 with a part. */
  mediaPlaylistOkMs: number | null;
  masterOkMs: number | null;
  /** Master 200 and every media playlist it lists with ≥ 1 part: a player can start. */
  playableMs: number | null;
  renditions: string[];
  /** Status codes the master answered before its 200, with counts. */
  masterStatuses: Record<string, number>;
  loadAverage1m: number;
  error?: string;
}

async function firstPlaylistRun(server: FloodlightServer, chromium: LaunchedChromium, scripts: Scripts, index: number): Promise<FirstPlaylistRun> {
  const room = `bench-hls-first-${index}-${Date.now().toString(36)}`;
  const base = `${server.url}/hls/${room}`;
  const names = server.config.hls.renditions.map((r) => r.name);
  const seen = {
    ffmpeg: null as number | null,
    part: null as number | null,
    segment: null as number | null,
    media: null as number | null,
    master: null as number | null,
    playable: null as number | null,
  };
  const statuses: Record<string, number> = {};
  let renditions: string[] = [];
  // Not a `let stop` flag: inside the async IIFEs below TypeScript narrows it to
  // its initial value as if they ran to the end at once.
  const polling = new AbortController();
  const hasPart = (text: string) => /^#EXT-X-PART:/m.test(text) || /^#EXTINF:/m.test(text);
  // Server side: the recorder's ffmpeg and the packagers, every 20 ms.
  const serverPoll = (async () => {
    const deadline = Date.now() + 30_000;
    while (!polling.signal.aborted && seen.segment === null && Date.now() < deadline) {
      const now = Date.now();
      if (seen.ffmpeg === null && server.hls?.ffmpegPid(room)) seen.ffmpeg = now;
      const packagers = Object.values(server.hls?.lookup(room) ?? {});
      if (seen.part === null && packagers.some((p) => p.status().lastMsn >= 0)) seen.part = now;
      if (packagers.length > 0 && packagers.every((p) => p.status().lastCompleteMsn >= 0)) seen.segment = now;
      await sleep(20);
    }
  })();
  // HTTP, as a player sees it, every 50 ms.
  const httpPoll = (async () => {
    const deadline = Date.now() + 30_000;
    while (!polling.signal.aborted && Date.now() < deadline) {
      try {
        if (seen.media === null) {
          const res = await fetch(`${base}/${names[0]}/index.m3u8`);
          const text = await res.text();
          if (res.status === 200 && hasPart(text)) seen.media = Date.now();
        }
        if (seen.master === null) {
          const res = await fetch(`${base}/index.m3u8`);
          const text = await res.text();
          if (res.status === 200) {
            seen.master = Date.now();
            renditions = text
              .split('\n')
              .filter((l) => l.trim() && !l.startsWith('#'))
              .map((l) => l.trim());
          } else {
            statuses[res.status] = (statuses[res.status] ?? 0) + 1;
          }
        }
        if (seen.master !== null) {
          const texts = await Promise.all(renditions.map(async (uri) => ((r) => (r.status === 200 ? r.text() : ''))(await fetch(`${base}/${uri}`))));
          if (renditions.length > 0 && texts.every(hasPart)) {
            seen.playable = Date.now();
            return;
          }
        }
      } catch {
        // server busy / connection reset: try again
      }
      await sleep(50);
    }
  })();
  let broadcast: Broadcast | undefined;
  try {
    broadcast = await startBroadcast(server, chromium, scripts, CODEC, room);
    await Promise.all([httpPoll, serverPoll]);
    const live = broadcast.publishedAt;
    const rel = (t: number | null) => (t === null ? null : t - live);
    return {
      room,
      publishMs: broadcast.publishedAt - broadcast.publishStartedAt,
      ffmpegStartedMs: rel(seen.ffmpeg),
      firstPartPackagedMs: rel(seen.part),
      firstSegmentPackagedMs: rel(seen.segment),
      mediaPlaylistOkMs: rel(seen.media),
      masterOkMs: rel(seen.master),
      playableMs: rel(seen.playable),
      renditions,
      masterStatuses: statuses,
      loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
    };
  } catch (error) {
    polling.abort();
    await Promise.all([httpPoll, serverPoll]).catch(() => undefined);
    return {
      room,
      publishMs: Number.NaN,
      ffmpegStartedMs: null,
      firstPartPackagedMs: null,
      firstSegmentPackagedMs: null,
      mediaPlaylistOkMs: null,
      masterOkMs: null,
      playableMs: null,
      renditions,
      masterStatuses: statuses,
      loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
      error: error instanceof Error ? error.message.split('\n')[0] : String(error),
    };
  } finally {
    polling.abort();
    await broadcast?.page.close().catch(() => undefined);
  }
}

// ------------------------------------------------------------------ 2. latency

interface Sample {
  ts: number;
  at: number;
  width: number;
  height: number;
  mediaTime: number;
}
interface Load {
  kind: 'part' | 'segment';
  sn: number;
  index: number;
  loadedAt: number;
  start: number | null;
  duration: number;
  bufferedAt: number | null;
}
interface SinkResults {
  samples: Sample[];
  failures: Record<string, number>;
  duplicates: number;
  missedCallbacks: number;
  sizes: Record<string, number>;
}
interface SinkProgress {
  frames: number;
  recorded: number;
  failures: number;
  last: { ok: boolean; latencyMs: number | null; width: number; height: number; reason: string | null };
}
interface HlsSample {
  at: number;
  latency: number | null;
  targetLatency: number | null;
  drift: number | null;
  playbackRate: number;
  bufferAhead: number | null;
  behindProgramDateMs: number | null;
  levelHeight: number | null;
}
interface HlsResults {
  samples: HlsSample[];
  waiting: number;
  hlsVersion: string;
  lowLatencyMode: boolean | null;
  liveSyncDuration: number | null;
  liveSyncDurationCount: number | null;
  levels: string[];
  errors: Record<string, number>;
  recoveries: number;
  loads: Load[];
}

interface LatencyResult {
  mode: Mode;
  codec: Codec;
  room: string;
  page: string;
  error?: string;
  latencyMs?: Summary;
  latenciesMs?: number[];
  framesInWindow: number;
  decodeFailures: number;
  decodeFailuresByReason: Record<string, number>;
  duplicates: number;
  sizesReceived: Record<string, number>;
  /** hls.js: live edge − playhead (s), target, playback rate, buffer ahead; means over the window. */
  hlsLatencySeconds?: Summary;
  hlsTargetLatencySeconds?: number | null;
  playbackRateMean?: number;
  bufferAheadSeconds?: Summary;
  /** now − EXT-X-PROGRAM-DATE-TIME of the playhead (ms): packaging → presentation. */
  behindProgramDateMs?: Summary;
  /**
   * Per frame, from the part/segment it came in (hls.js FRAG_LOADED, matched on the
   * frame's mediaTime): drawn → its part/segment fully loaded by the player (capture,
   * encode, SFU, ffmpeg, packaging, HTTP), and loaded → presented (player buffer).
   */
  drawnToLoadedMs?: Summary;
  loadedToPresentedMs?: Summary;
  framesMatchedToLoads?: number;
  loadsByKind?: Record<string, number>;
  stalls: number;
  /** Distinct pictures presented per second (the canvas draws 30; ffmpeg's fps=30 repeats frames when fewer arrive). */
  distinctFps?: number;
  /** The broadcaster's top simulcast layer (what the recorder transcodes) at the end of the window. */
  source?: { size: string; fps: number; limitedBy: string | null };
  hls?: Omit<HlsResults, 'samples' | 'loads'>;
  recordSeconds: number;
  cpu: CpuUsage | null;
  secondsToFirstFrame: number | null;
  targetMet?: boolean;
}

async function measureLatency(
  mode: Mode,
  broadcast: Broadcast,
  server: FloodlightServer,
  chromium: LaunchedChromium,
  scripts: Scripts,
): Promise<LatencyResult> {
  const result: LatencyResult = {
    mode,
    codec: CODEC,
    room: broadcast.room,
    page: mode === 'll' ? `/watch?room=${broadcast.room}&transport=hls (quality High)` : `${CLASSIC_PATH} (bench-only hls.js page)`,
    framesInWindow: 0,
    decodeFailures: 0,
    decodeFailuresByReason: {},
    duplicates: 0,
    sizesReceived: {},
    stalls: 0,
    recordSeconds: 0,
    cpu: null,
    secondsToFirstFrame: null,
  };
  const page = await chromium.context.newPage();
  watchConsole(page, `${mode} viewer`);
  try {
    const opened = Date.now();
    await page.addInitScript(scripts.sink);
    await page.addInitScript(scripts.hls);
    if (mode === 'll') {
      await page.addInitScript(`try { localStorage.setItem('floodlight.quality', 'high'); } catch {}`);
      await page.goto(`${server.url}/watch?room=${broadcast.room}&transport=hls`);
      await page.waitForSelector('video[data-state="playing"]', { timeout: 30_000 });
    } else {
      await page.route(`${server.url}${CLASSIC_PATH}`, (route) =>
        route.fulfill({
          status: 200,
          contentType: 'text/html; charset=utf-8',
          body:
            '<!doctype html><html><head><meta charset="utf-8"><title>classic HLS (benchmark)</title></head>' +
            '<body style="margin:0;background:#000"><video id="video" muted autoplay playsinline style="width:1280px;height:720px"></video></body></html>',
        }),
      );
      await page.goto(`${server.url}${CLASSIC_PATH}`);
      await evaluate(
        page,
        `window.__benchHls.player.start(${JSON.stringify({ url: `/hls/${broadcast.room}/index.m3u8`, config: CLASSIC_CONFIG, top: true })})`,
      );
      await page.waitForFunction(
        '(() => { const v = document.querySelector("#video"); return v && v.readyState >= 2 && !v.paused && v.currentTime > 0; })()',
        undefined,
        {
          timeout: 30_000,
        },
      );
    }
    result.secondsToFirstFrame = (Date.now() - opened) / 1000;
    if (BROWSER_NICE) reniceBrowser(BROWSER_NICE);
    await evaluate(page, `window.__bench.sink.start({ selector: '#video' })`);
    await evaluate(page, `window.__benchHls.sampler.start(${JSON.stringify(mode === 'll' ? 'watch' : 'classic')})`);
    progress(NAME, `[${mode}] playing after ${fmt(result.secondsToFirstFrame)} s; warming up ${WARMUP_MS / 1000} s`);
    const sinkProgress = () => evaluate<SinkProgress>(page, 'window.__bench.sink.progress(0)');
    const describe = (p: SinkProgress) =>
      `${p.last.width}x${p.last.height}, last ${p.last.ok ? `${fmt(p.last.latencyMs, 0)} ms` : `decode ${p.last.reason ?? 'n/a'}`}`;
    const warmEnd = Date.now() + WARMUP_MS;
    while (Date.now() < warmEnd) {
      await sleep(Math.min(3_000, warmEnd - Date.now()));
      progress(NAME, `[${mode}] warm-up: ${describe(await sinkProgress())}`);
    }

    await evaluate(page, 'window.__bench.sink.setRecording(true)');
    await evaluate(page, 'window.__benchHls.sampler.setRecording(true)');
    const senderBefore = await evaluate<StatsSnapshot>(broadcast.page, 'window.__bench.stats.snapshot()');
    const cpuBefore = cpuSnapshot();
    const recordStart = Date.now();
    progress(NAME, `[${mode}] recording ${FRAMES} frames — load ${os.loadavg()[0]!.toFixed(2)}`);
    let lastLine = 0;
    for (;;) {
      await sleep(250);
      const p = await sinkProgress();
      if (p.recorded >= FRAMES) break;
      if (Date.now() - recordStart > MAX_RECORD_MS) {
        progress(NAME, `[${mode}] WARNING: only ${p.recorded}/${FRAMES} frames after ${MAX_RECORD_MS / 1000} s; stopping`);
        break;
      }
      if (Date.now() - lastLine >= 3_000) {
        lastLine = Date.now();
        progress(NAME, `[${mode}] ${p.recorded}/${FRAMES} frames, ${p.failures} decode failures; ${describe(p)}`);
      }
    }
    await evaluate(page, 'window.__bench.sink.setRecording(false)');
    await evaluate(page, 'window.__benchHls.sampler.setRecording(false)');
    result.recordSeconds = (Date.now() - recordStart) / 1000;
    result.cpu = cpuUsage(cpuBefore, cpuSnapshot());
    const senderAfter = await evaluate<StatsSnapshot>(broadcast.page, 'window.__bench.stats.snapshot()');
    const top = topEncoding(senderAfter);
    const topBefore = top ? senderBefore.outboundVideo.find((e) => e.ssrc === top.ssrc) : undefined;
    result.source = {
      size: top ? `${top.frameWidth}x${top.frameHeight}` : '—',
      fps: top && topBefore ? (top.framesEncoded - topBefore.framesEncoded) / ((senderAfter.at - senderBefore.at) / 1000) : Number.NaN,
      limitedBy: top?.qualityLimitationReason ?? null,
    };
    const sink = await evaluate<SinkResults>(page, 'window.__bench.sink.results()');
    const hls = await evaluate<HlsResults>(page, 'window.__benchHls.sampler.results()');

    result.latencyMs = summarize(sink.samples.map((s) => s.at - s.ts));
    result.latenciesMs = sink.samples.map((s) => Math.round(s.at - s.ts));
    result.decodeFailuresByReason = sink.failures;
    result.decodeFailures = Object.values(sink.failures).reduce((a, b) => a + b, 0);
    result.framesInWindow = Object.values(sink.sizes).reduce((a, b) => a + b, 0);
    result.duplicates = sink.duplicates;
    result.sizesReceived = sink.sizes;
    result.distinctFps = sink.samples.length / result.recordSeconds;
    const nums = (pick: (s: HlsSample) => number | null) => hls.samples.map(pick).filter((v): v is number => v !== null);
    result.hlsLatencySeconds = summarize(nums((s) => s.latency));
    result.hlsTargetLatencySeconds = hls.samples.at(-1)?.targetLatency ?? null;
    const rates = nums((s) => s.playbackRate);
    result.playbackRateMean = rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : Number.NaN;
    result.bufferAheadSeconds = summarize(nums((s) => s.bufferAhead));
    result.behindProgramDateMs = summarize(nums((s) => s.behindProgramDateMs));
    result.stalls = hls.waiting;
    const located = hls.loads.filter((l) => l.start !== null);
    const toLoaded: number[] = [];
    const toPresented: number[] = [];
    for (const frame of sink.samples) {
      let loadedAt = Infinity;
      for (const l of located) {
        if (frame.mediaTime >= l.start! - 0.001 && frame.mediaTime < l.start! + l.duration - 0.001) loadedAt = Math.min(loadedAt, l.loadedAt);
      }
      if (!Number.isFinite(loadedAt)) continue;
      toLoaded.push(loadedAt - frame.ts);
      toPresented.push(frame.at - loadedAt);
    }
    result.drawnToLoadedMs = summarize(toLoaded);
    result.loadedToPresentedMs = summarize(toPresented);
    result.framesMatchedToLoads = toLoaded.length;
    result.loadsByKind = hls.loads.reduce<Record<string, number>>((acc, l) => ({ ...acc, [l.kind]: (acc[l.kind] ?? 0) + 1 }), {});
    const { samples: _samples, loads: _loads, ...hlsRest } = hls;
    result.hls = hlsRest;
    const target = mode === 'll' ? TARGET_LL_P50_MS : TARGET_CLASSIC_P50_MS;
    result.targetMet = result.latencyMs.count >= MIN_FRAMES && result.latencyMs.p50 <= target;
    progress(NAME, `[${mode}] done: ${result.latencyMs.count} frames, p50 ${fmt(result.latencyMs.p50, 0)} / p95 ${fmt(result.latencyMs.p95, 0)} ms`);
  } catch (error) {
    result.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
    progress(NAME, `[${mode}] FAILED: ${result.error}`);
  } finally {
    await page.close().catch(() => undefined);
  }
  return result;
}

// ------------------------------------------------------------------ 3. ffmpeg CPU

interface CpuResult {
  codec: Codec;
  ladder: string;
  renditions: number;
  room: string;
  error?: string;
  /** The sender's top simulcast layer (what the recorder consumes). */
  sourceSize: string;
  sourceFps: number;
  ffmpegPid: number | null;
  /** Cores' worth of CPU time of ffmpeg over the window (1.0 = one core). */
  ffmpegCores: number;
  /** This process (server JS: recorder sockets, packager, HTTP; playwright). */
  benchProcessCores: number;
  ffmpegRestarts: number;
  windowSeconds: number;
  machine: CpuUsage | null;
  loadAverage1m: number;
  attempts: number;
  othersCoresPerAttempt: number[];
}

async function measureCpu(codec: Codec, ladder: string, chromium: LaunchedChromium, scripts: Scripts, run: BenchRun): Promise<CpuResult> {
  const room = `bench-hls-cpu-${codec}-${ladder.replace(/,/g, '-')}-${Date.now().toString(36)}`;
  const result: CpuResult = {
    codec,
    ladder,
    renditions: ladder.split(',').length,
    room,
    sourceSize: '—',
    sourceFps: Number.NaN,
    ffmpegPid: null,
    ffmpegCores: Number.NaN,
    benchProcessCores: Number.NaN,
    ffmpegRestarts: 0,
    windowSeconds: 0,
    machine: null,
    loadAverage1m: 0,
    attempts: 0,
    othersCoresPerAttempt: [],
  };
  const server = run.defer(`server (HLS_RENDITIONS=${ladder})`, await startTestServer({ HLS_RENDITIONS: ladder }), (s) => s.close());
  let broadcast: Broadcast | undefined;
  try {
    broadcast = await startBroadcast(server, chromium, scripts, codec, room);
    const size = await waitForTopLayer(broadcast.page, 60_000);
    if (!size.startsWith(`${WIDTH}x`)) progress(NAME, `[cpu ${codec} ${ladder}] WARNING: the sender's top layer is ${size}, not ${WIDTH}x${HEIGHT}`);
    const deadline = Date.now() + 30_000;
    while (!server.hls?.status(room)?.available && Date.now() < deadline) await sleep(200);
    if (!server.hls?.status(room)?.available) throw new Error('no playable HLS stream after 30 s');
    await sleep(10_000); // past ffmpeg's probing, the first GOPs, the canvas reaching its frame rate
    let best: Omit<CpuResult, 'attempts' | 'othersCoresPerAttempt'> | undefined;
    for (let attempt = 0; attempt <= RETRIES; attempt++) {
      const pid = server.hls.ffmpegPid(room);
      if (!pid) throw new Error('the recorder has no ffmpeg');
      const restartsBefore = server.hls.status(room)?.ffmpegRestarts ?? 0;
      const statsBefore = await evaluate<StatsSnapshot>(broadcast.page, 'window.__bench.stats.snapshot()');
      progress(NAME, `[cpu ${codec} ${ladder}] measuring ffmpeg (pid ${pid}) for ${CPU_WINDOW_MS / 1000} s — load ${os.loadavg()[0]!.toFixed(2)}`);
      const machineBefore = cpuSnapshot();
      const t0 = performance.now();
      const ffBefore = processCpuSeconds(pid);
      const selfBefore = processCpuSeconds(process.pid) ?? 0;
      await sleep(CPU_WINDOW_MS);
      const ffAfter = processCpuSeconds(pid);
      const selfAfter = processCpuSeconds(process.pid) ?? 0;
      const seconds = (performance.now() - t0) / 1000;
      const machine = cpuUsage(machineBefore, cpuSnapshot());
      const statsAfter = await evaluate<StatsSnapshot>(broadcast.page, 'window.__bench.stats.snapshot()');
      const restarts = (server.hls.status(room)?.ffmpegRestarts ?? 0) - restartsBefore;
      if (ffBefore === null || ffAfter === null || server.hls.ffmpegPid(room) !== pid) throw new Error('ffmpeg restarted during the window');
      const top = topEncoding(statsAfter);
      const topBefore = top ? statsBefore.outboundVideo.find((e) => e.ssrc === top.ssrc) : undefined;
      const candidate = {
        ...result,
        sourceSize: top ? `${top.frameWidth}x${top.frameHeight}` : '—',
        sourceFps: top && topBefore ? (top.framesEncoded - topBefore.framesEncoded) / ((statsAfter.at - statsBefore.at) / 1000) : Number.NaN,
        ffmpegPid: pid,
        ffmpegCores: (ffAfter - ffBefore) / seconds,
        benchProcessCores: (selfAfter - selfBefore) / seconds,
        ffmpegRestarts: restarts,
        windowSeconds: seconds,
        machine,
        loadAverage1m: Number(os.loadavg()[0]!.toFixed(2)),
      };
      const others = machine?.othersCores ?? 0;
      result.othersCoresPerAttempt.push(others);
      progress(
        NAME,
        `[cpu ${codec} ${ladder}] ffmpeg ${fmt(candidate.ffmpegCores, 3)} cores (source ${candidate.sourceSize} @ ${fmt(candidate.sourceFps, 0)} fps), others ${fmt(others, 2)}`,
      );
      // ffmpeg decodes what arrives: a source below ~27 fps (the canvas page starved) means less work; measure again.
      const slow = !(candidate.sourceFps >= MIN_SOURCE_FPS);
      const score = (c: { machine: CpuUsage | null; sourceFps: number }) => (c.machine?.othersCores ?? 0) + (c.sourceFps >= MIN_SOURCE_FPS ? 0 : 10);
      if (!best || score(candidate) < score(best)) best = candidate;
      if (others <= DISTURBED_CORES && !slow) break;
      if (slow) progress(NAME, `[cpu ${codec} ${ladder}] the source ran at ${fmt(candidate.sourceFps, 1)} fps (< ${MIN_SOURCE_FPS}): measuring again`);
    }
    return { ...best!, attempts: result.othersCoresPerAttempt.length, othersCoresPerAttempt: result.othersCoresPerAttempt };
  } catch (error) {
    result.error = error instanceof Error ? error.message.split('\n')[0] : String(error);
    progress(NAME, `[cpu ${codec} ${ladder}] FAILED: ${result.error}`);
    return result;
  } finally {
    await broadcast?.page.close().catch(() => undefined);
    await server.close();
  }
}

// ------------------------------------------------------------------ main

async function main(): Promise<void> {
  const seconds =
    60 +
    (PARTS.includes('first-playlist') ? RUNS * 50 : 0) +
    (PARTS.includes('latency') ? 90 + MODES.length * (60 + WARMUP_MS / 1000 + MAX_RECORD_MS / 1000) : 0) +
    (PARTS.includes('cpu') ? CPU_CODECS.length * LADDERS.length * (150 + (CPU_WINDOW_MS / 1000) * (RETRIES + 1)) : 0);
  const run = new BenchRun(NAME, seconds * 1000);
  progress(
    NAME,
    `load average ${os
      .loadavg()
      .map((v) => v.toFixed(2))
      .join(' ')} on ${os.availableParallelism()} cores; bounded at ${Math.round(seconds / 60)} min`,
  );
  try {
    const scripts: Scripts = { sink: await browserScript('webrtcLatencyPage.js'), hls: await browserScript('hlsPlayerPage.js') };
    const chromium = run.defer('chromium', await launchChromium(), (c) => c.close());
    const machine = machineInfo(chromium.browser.version());
    progress(NAME, `machine: ${describeMachine(machine)}`);

    const firstPlaylist: FirstPlaylistRun[] = [];
    const latency: LatencyResult[] = [];
    const cpu: CpuResult[] = [];
    let defaultLadder = '';

    if (PARTS.includes('first-playlist') || PARTS.includes('latency')) {
      const server = run.defer('server', await startTestServer(), (s) => s.close());
      defaultLadder = server.config.hls.renditions.map((r) => r.name).join(',');
      progress(NAME, `server with HLS renditions ${defaultLadder}, ${server.pool.size} workers`);

      if (PARTS.includes('first-playlist')) {
        for (let i = 0; i < RUNS; i++) {
          progress(NAME, `[first playlist] run ${i + 1}/${RUNS} — load ${os.loadavg()[0]!.toFixed(2)}`);
          const r = await firstPlaylistRun(server, chromium, scripts, i);
          firstPlaylist.push(r);
          progress(
            NAME,
            r.error
              ? `[first playlist] run ${i + 1} FAILED: ${r.error}`
              : `[first playlist] run ${i + 1}: publish ${fmt(r.publishMs, 0)} ms; after it: ffmpeg ${fmt(r.ffmpegStartedMs, 0)}, first part ${fmt(r.firstPartPackagedMs, 0)}, first segment ${fmt(r.firstSegmentPackagedMs, 0)}, master 200 ${fmt(r.masterOkMs, 0)}, playable ${fmt(r.playableMs, 0)} ms`,
          );
          await sleep(2_000); // the room closes (grace 1 s) and its recorder stops
        }
      }

      if (PARTS.includes('latency')) {
        const room = `bench-hls-latency-${CODEC}-${Date.now().toString(36)}`;
        progress(NAME, `[latency] publishing a ${WIDTH}x${HEIGHT}@${FPS} canvas (${CODEC}) to ${room}`);
        const broadcast = await startBroadcast(server, chromium, scripts, CODEC, room);
        run.defer('broadcast page', broadcast.page, (p) => p.close());
        const size = await waitForTopLayer(broadcast.page, 60_000);
        progress(NAME, `[latency] sender's top layer ${size}`);
        const deadline = Date.now() + 30_000;
        while (!server.hls?.status(room)?.available && Date.now() < deadline) await sleep(200);
        for (const mode of MODES) latency.push(await measureLatency(mode, broadcast, server, chromium, scripts));
        await broadcast.page.close();
      }
      await server.close();
    }

    if (PARTS.includes('cpu')) {
      for (const codec of CPU_CODECS) {
        for (const ladder of LADDERS) {
          progress(NAME, `[cpu] ${codec.toUpperCase()} source, HLS_RENDITIONS=${ladder}`);
          cpu.push(await measureCpu(codec, ladder, chromium, scripts, run));
        }
      }
    }
    const loadAfter = os.loadavg();

    // --- report
    const tables: string[] = [];
    if (latency.length) {
      tables.push(
        `Glass-to-glass latency, ${WIDTH}x${HEIGHT}@${FPS} canvas (${CODEC.toUpperCase()}) → SFU → ffmpeg → LL-HLS packager → hls.js in Chromium (loopback):\n`,
      );
      tables.push(
        formatTable(
          [
            'mode',
            'page',
            'source (top layer) size, fps',
            'frames measured (sizes presented)',
            'distinct fps',
            'decode failures',
            'p50 ms',
            'p95 ms',
            'p99 ms',
            'max ms',
            'CPU bench / others',
            'target',
          ],
          latency.map((r) => {
            const target = r.mode === 'll' ? TARGET_LL_P50_MS : TARGET_CLASSIC_P50_MS;
            const label = r.mode === 'll' ? 'LL-HLS' : 'classic HLS';
            if (r.error || !r.latencyMs) return [label, r.page, '—', '—', '—', '—', '—', '—', '—', '—', '—', `error: ${r.error ?? '?'}`];
            return [
              label,
              r.page,
              `${r.source?.size ?? '—'}, ${fmt(r.source?.fps, 0)}${r.source?.limitedBy && r.source.limitedBy !== 'none' ? ` (limited by ${r.source.limitedBy})` : ''}`,
              `${r.latencyMs.count} (${Object.entries(r.sizesReceived)
                .map(([s, n]) => `${s}×${n}`)
                .join(', ')})`,
              fmt(r.distinctFps, 1),
              `${r.decodeFailures} / ${r.framesInWindow}`,
              fmt(r.latencyMs.p50, 0),
              fmt(r.latencyMs.p95, 0),
              fmt(r.latencyMs.p99, 0),
              fmt(r.latencyMs.max, 0),
              r.cpu ? `${fmt(r.cpu.oursCores, 2)} / ${fmt(r.cpu.othersCores, 2)} cores` : '—',
              r.targetMet
                ? `met (p50 ≤ ${target / 1000} s)`
                : r.latencyMs.count >= MIN_FRAMES
                  ? `NOT MET (p50 ${fmt(r.latencyMs.p50 / 1000, 2)} s > ${target / 1000} s)`
                  : `NOT MEASURED (${r.latencyMs.count} frames)`,
            ];
          }),
        ),
      );
      tables.push(
        '\nWhere the time goes (same window). Per frame: drawn → the part/segment holding it fully loaded by hls.js (capture, encode, SFU, ffmpeg, ' +
          "packaging, HTTP) and loaded → presented (the player's hold-back). hls.js sampled every 500 ms. The last column is what the playlist's " +
          'EXT-X-PROGRAM-DATE-TIME says about a frame minus when it was really drawn (its accuracy):\n',
      );
      tables.push(
        formatTable(
          [
            'mode',
            'drawn → part/segment loaded ms (p50 / p95)',
            'loaded → presented ms (p50 / p95)',
            'frames matched',
            'EXT-X-PROGRAM-DATE-TIME − drawn ms (p50)',
            'hls.js latency to live edge s (p50)',
            'hls.js target s',
            'buffer ahead s (p50)',
            'playback rate (mean)',
            'stalls',
            'hls.js errors',
          ],
          latency
            .filter((r) => !r.error && r.latencyMs)
            .map((r) => [
              r.mode === 'll' ? 'LL-HLS' : 'classic HLS',
              `${fmt(r.drawnToLoadedMs?.p50, 0)} / ${fmt(r.drawnToLoadedMs?.p95, 0)}`,
              `${fmt(r.loadedToPresentedMs?.p50, 0)} / ${fmt(r.loadedToPresentedMs?.p95, 0)}`,
              `${r.framesMatchedToLoads ?? 0} (${Object.entries(r.loadsByKind ?? {})
                .map(([k, n]) => `${n} ${k}s`)
                .join(', ')} loaded)`,
              fmt(r.latencyMs!.p50 - (r.behindProgramDateMs?.p50 ?? Number.NaN), 0),
              fmt(r.hlsLatencySeconds?.p50, 2),
              fmt(r.hlsTargetLatencySeconds, 2),
              fmt(r.bufferAheadSeconds?.p50, 2),
              fmt(r.playbackRateMean, 3),
              String(r.stalls),
              Object.entries(r.hls?.errors ?? {})
                .map(([k, n]) => `${k}×${n}`)
                .join(', ') || 'none',
            ]),
        ),
      );
    }
    if (firstPlaylist.length) {
      const ok = firstPlaylist.filter((r) => !r.error);
      const col = (pick: (r: FirstPlaylistRun) => number | null) => summarize(ok.map((r) => pick(r) ?? Number.NaN));
      const playable = col((r) => r.playableMs);
      const cell = (pick: (r: FirstPlaylistRun) => number | null) => `${fmt(col(pick).p50, 0)} / ${fmt(col(pick).max, 0)}`;
      tables.push(`\nGoing live → first playable playlist (${CODEC.toUpperCase()} canvas, renditions ${defaultLadder}; ms after publish() resolved):\n`);
      tables.push(
        formatTable(
          [
            'run',
            'publish() ms',
            'ffmpeg started',
            'first part packaged',
            'first segment packaged',
            'top media playlist 200 with a part',
            'master 200',
            'playable (master + every media playlist with a part)',
            'master answers before 200',
            'load',
            `target ≤ ${TARGET_FIRST_PLAYLIST_MS} ms`,
          ],
          [
            ...firstPlaylist.map((r, i) => [
              String(i + 1),
              fmt(r.publishMs, 0),
              fmt(r.ffmpegStartedMs, 0),
              fmt(r.firstPartPackagedMs, 0),
              fmt(r.firstSegmentPackagedMs, 0),
              fmt(r.mediaPlaylistOkMs, 0),
              fmt(r.masterOkMs, 0),
              fmt(r.playableMs, 0),
              Object.entries(r.masterStatuses)
                .map(([st, n]) => `${st}×${n}`)
                .join(', ') || '—',
              fmt(r.loadAverage1m, 2),
              r.error
                ? `error: ${r.error}`
                : r.playableMs !== null && r.playableMs <= TARGET_FIRST_PLAYLIST_MS
                  ? 'met'
                  : `NOT MET (${fmt(r.playableMs, 0)} ms)`,
            ]),
            [
              'p50 / max',
              cell((r) => r.publishMs),
              cell((r) => r.ffmpegStartedMs),
              cell((r) => r.firstPartPackagedMs),
              cell((r) => r.firstSegmentPackagedMs),
              cell((r) => r.mediaPlaylistOkMs),
              cell((r) => r.masterOkMs),
              cell((r) => r.playableMs),
              '',
              '',
              ok.length === firstPlaylist.length && playable.count === firstPlaylist.length && playable.p50 <= TARGET_FIRST_PLAYLIST_MS
                ? playable.max <= TARGET_FIRST_PLAYLIST_MS
                  ? 'met (every run)'
                  : `p50 met, max ${fmt(playable.max, 0)} ms NOT MET`
                : `NOT MET (p50 ${fmt(playable.p50, 0)} ms)`,
            ],
          ],
        ),
      );
    }
    if (cpu.length) {
      tables.push('\nRecorder ffmpeg CPU (CPU time of the ffmpeg process over the window; 1.0 = one core):\n');
      tables.push(
        formatTable(
          [
            'source',
            'source size @ fps',
            'HLS_RENDITIONS',
            'ffmpeg CPU (cores)',
            'added by the last rendition',
            'server process (cores)',
            'others (cores) / load',
          ],
          cpu.map((r) => {
            if (r.error) return [r.codec.toUpperCase(), '—', r.ladder, '—', '—', '—', `error: ${r.error}`];
            const previous = cpu.find((p) => p.codec === r.codec && p.renditions === r.renditions - 1 && !p.error);
            return [
              r.codec.toUpperCase(),
              `${r.sourceSize} @ ${fmt(r.sourceFps, 1)}`,
              r.ladder,
              fmt(r.ffmpegCores, 3),
              previous ? `+${fmt(r.ffmpegCores - previous.ffmpegCores, 3)} (${r.ladder.split(',').at(-1)}p)` : '— (decode + 720p + poster)',
              fmt(r.benchProcessCores, 3),
              `${fmt(r.machine?.othersCores, 2)} / ${fmt(r.loadAverage1m, 2)}`,
            ];
          }),
        ),
      );
    }

    const output = {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      targets: { llHlsP50Ms: TARGET_LL_P50_MS, classicHlsP50Ms: TARGET_CLASSIC_P50_MS, firstPlayablePlaylistMs: TARGET_FIRST_PLAYLIST_MS },
      config: {
        parts: PARTS,
        runs: RUNS,
        modes: MODES,
        codec: CODEC,
        frames: FRAMES,
        warmupMs: WARMUP_MS,
        maxRecordMs: MAX_RECORD_MS,
        cpuCodecs: CPU_CODECS,
        ladders: LADDERS,
        cpuWindowMs: CPU_WINDOW_MS,
        retries: RETRIES,
        classicConfig: CLASSIC_CONFIG,
        browserNice: BROWSER_NICE,
        defaultLadder,
      },
      machine,
      loadAverageAfter: loadAfter.map((v) => Number(v.toFixed(2))),
      firstPlaylist,
      latency,
      cpu,
    };
    const file = writeResult(NAME, output);
    console.log(`\nHLS: latency, first playable playlist, ffmpeg CPU`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)} · load after ${loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
    console.log(`Chromium at nice ${BROWSER_NICE}, server and ffmpeg at 0\n`);
    console.log(tables.join('\n'));
    const busy = [
      ...latency.filter((r) => (r.cpu?.othersCores ?? 0) > DISTURBED_CORES).map((r) => `${r.mode} latency (${fmt(r.cpu?.othersCores, 2)})`),
      ...cpu.filter((r) => (r.machine?.othersCores ?? 0) > DISTURBED_CORES).map((r) => `ffmpeg CPU ${r.codec} ${r.ladder} (${fmt(r.machine?.othersCores, 2)})`),
    ];
    if (busy.length)
      console.log(`\nWARNING: other processes used more than ${DISTURBED_CORES} cores during ${busy.join(', ')}: those figures include contention.`);
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
