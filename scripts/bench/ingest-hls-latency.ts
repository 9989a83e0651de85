/**
 * Glass-to-glass latency of encoder ingest to LL-HLS viewers: RTMP → LL-HLS
 * and SRT → LL-HLS (issue 11).
 *
 * Source: the ingest benches' code encoder (scripts/bench/lib/codeEncoder.ts):
 * this process draws frames carrying the frame timestamp code of Date.now()
 * (--size, default 1280x720, 30 fps) into an ffmpeg encoder as OBS sets it up
 * for streaming: x264 veryfast, 1 s GOP, no B-frames (the server copies the
 * video), --kbps (default 2500) and an AAC tone; published as FLV to
 * rtmp://…/live/<key> or as MPEG-TS to srt://…?streamid=<key> (SRT latency
 * 120 ms).
 * Viewer: the real /watch?room=R&transport=hls page in Chromium (the client's
 * hls.js low-latency configuration), quality High, decoding the timestamp of
 * every presented frame (requestVideoFrameCallback, scripts/bench/browser/
 * webrtcLatencyPage.js's sink): latency = presented − drawn, one clock.
 * hls.js's own view (latency to the live edge, stalls) comes from
 * scripts/bench/browser/hlsPlayerPage.js's sampler.
 *
 *   bash scripts/bench/run ingest-hls-latency [--paths=rtmp,srt] [--frames=300] [--warmup=10]
 *        [--max-record=60] [--size=1280x720] [--kbps=2500]
 *
 * Target (issue 11): RTMP → LL-HLS p50 ≤ 2.5 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startTestServer } from '../../test/helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../../test/helpers/chromium.js';
import { freeTcpPort, freeUdpPort } from '../../test/helpers/obsLikeEncoder.js';
import { browserScript } from './lib/browserBundle.js';
import { CodeEncoder } from './lib/codeEncoder.js';
import { cpuSnapshot, cpuUsage, type CpuUsage } from './lib/cpu.js';
import { exitAfter } from './lib/benchMain.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';

const NAME = 'ingest-hls-latency';
const TARGET_P50_MS = 2500;
const FPS = 30;
type IngestPath = 'rtmp' | 'srt';

const args = parseArgs(process.argv.slice(2), ['paths', 'frames', 'warmup', 'max-record', 'size', 'kbps']);
const PATHS = choicesArg<IngestPath>(args, 'paths', 'rtmp,srt', ['rtmp', 'srt']);
const FRAMES = Math.round(numberArg(args, 'frames', 300));
const WARMUP_MS = numberArg(args, 'warmup', 10) * 1000;
const MAX_RECORD_MS = numberArg(args, 'max-record', 60) * 1000;
const KBPS = numberArg(args, 'kbps', 2500);
const SIZE = /^(\d+)x(\d+)$/.exec(args.get('size') ?? '1280x720');
if (!SIZE) throw new Error('--size must be WIDTHxHEIGHT');
const WIDTH = Number(SIZE[1]);
const HEIGHT = Number(SIZE[2]);

// Page-side shapes (scripts/bench/browser/webrtcLatencyPage.js sink, hlsPlayerPage.js sampler).
interface SinkProgress {
  recorded: number;
  failures: number;
  last: { ok: boolean; latencyMs: number | null; width: number; height: number; reason: string | null };
}
interface SinkResults {
  samples: Array<{ ts: number; at: number; width: number; height: number }>;
  failures: Record<string, number>;
  sizes: Record<string, number>;
}
interface HlsResults {
  samples: Array<{ latency: number | null; playbackRate: number }>;
  waiting: number;
  levels: string[];
  errors: Record<string, number>;
}

interface PathResult {
  path: IngestPath;
  handling: string | undefined;
  secondsToPlaying: number;
  latencyMs: Summary;
  decodeFailures: number;
  sizes: Record<string, number>;
  /** hls.js: live edge − playhead (s). */
  hlsLatencySeconds: Summary;
  playbackRateMean: number;
  stalls: number;
  levels: string[];
  hlsErrors: Record<string, number>;
  recordSeconds: number;
  cpu: CpuUsage | null;
  /** Frames the encoder skipped because its x264 lagged (a busy machine), over the whole path. */
  encoderDropped: number;
}

async function evaluate<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate<T>(expression);
}

async function measure(run: BenchRun, chromium: LaunchedChromium, scripts: { sink: string; hls: string }, ingestPath: IngestPath): Promise<PathResult> {
  const rtmpPort = await freeTcpPort();
  const srtPort = await freeUdpPort();
  const keysDir = run.defer('keys dir', fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-hls-latency-keys-')), (dir) =>
    fs.rmSync(dir, { recursive: true, force: true }),
  );
  const server = run.defer(
    'server',
    await startTestServer({ STREAM_KEYS_DIR: keysDir, RTMP_PORT: String(rtmpPort), SRT_PORT: String(srtPort), LOG_LEVEL: 'warn' }),
    (s) => s.close(),
  );
  const room = `hls-latency-${ingestPath}`;
  const { key } = await server.streamKeys.create(room, 'primary');
  const url = ingestPath === 'srt' ? `srt://127.0.0.1:${srtPort}?streamid=${key}&latency=120000` : `rtmp://127.0.0.1:${rtmpPort}/live/${key}`;
  const encoder = run.defer(
    'encoder',
    CodeEncoder.start({ url, bFrames: false, width: WIDTH, height: HEIGHT, fps: FPS, bitrateKbps: KBPS, audio: true }),
    (e) => e.close(),
  );

  const opened = Date.now();
  const page = run.defer('viewer page', await chromium.context.newPage(), (p) => p.close());
  page.on('pageerror', (error) => progress(NAME, `[${ingestPath} viewer] page error: ${error.message}`));
  await page.addInitScript(scripts.sink);
  await page.addInitScript(scripts.hls);
  await page.addInitScript(`try { localStorage.setItem('floodlight.quality', 'high'); } catch {}`);
  await page.goto(`${server.url}/watch?room=${room}&transport=hls`);
  await page.waitForSelector('video[data-state="playing"]', { timeout: 45_000 });
  const secondsToPlaying = (Date.now() - opened) / 1000;
  const source = server.rooms.get(room)?.sources()[0] as { ingestHealth?: () => { video: { handling: string } | null } } | undefined;
  const handling = source?.ingestHealth?.().video?.handling;
  await evaluate(page, `window.__bench.sink.start({ selector: '#video' })`);
  await evaluate(page, `window.__benchHls.sampler.start('watch')`);
  progress(NAME, `${ingestPath}: playing ${fmt(secondsToPlaying)} s after the encoder started (video ${handling ?? '?'}); warming up ${WARMUP_MS / 1000} s`);
  const sinkProgress = () => evaluate<SinkProgress>(page, 'window.__bench.sink.progress(0)');
  const describe = (p: SinkProgress) =>
    `${p.last.width}x${p.last.height}, last ${p.last.ok ? `${fmt(p.last.latencyMs, 0)} ms` : `decode ${p.last.reason ?? 'n/a'} (${fmt(p.last.latencyMs, 0)} ms)`}, encoder dropped ${encoder.dropped}`;
  const warmEnd = Date.now() + WARMUP_MS;
  while (Date.now() < warmEnd) {
    await sleep(Math.min(3_000, warmEnd - Date.now()));
    progress(NAME, `${ingestPath} warm-up: ${describe(await sinkProgress())}`);
  }

  await evaluate(page, 'window.__bench.sink.setRecording(true)');
  await evaluate(page, 'window.__benchHls.sampler.setRecording(true)');
  const cpuBefore = cpuSnapshot();
  const recordStart = Date.now();
  for (let lastLine = Date.now(); ;) {
    await sleep(250);
    const p = await sinkProgress();
    if (p.recorded >= FRAMES) break;
    if (Date.now() - recordStart > MAX_RECORD_MS) {
      progress(NAME, `${ingestPath}: WARNING: only ${p.recorded}/${FRAMES} frames after ${MAX_RECORD_MS / 1000} s; stopping`);
      break;
    }
    if (Date.now() - lastLine >= 3_000) {
      lastLine = Date.now();
      progress(NAME, `${ingestPath}: ${p.recorded}/${FRAMES} frames, ${p.failures} decode failures; ${describe(p)}`);
    }
  }
  await evaluate(page, 'window.__bench.sink.setRecording(false)');
  await evaluate(page, 'window.__benchHls.sampler.setRecording(false)');
  const recordSeconds = (Date.now() - recordStart) / 1000;
  const cpu = cpuUsage(cpuBefore, cpuSnapshot());
  const sink = await evaluate<SinkResults>(page, 'window.__bench.sink.results()');
  const hls = await evaluate<HlsResults>(page, 'window.__benchHls.sampler.results()');
  const rates = hls.samples.map((s) => s.playbackRate);
  const result: PathResult = {
    path: ingestPath,
    handling,
    secondsToPlaying,
    latencyMs: summarize(sink.samples.map((s) => s.at - s.ts)),
    decodeFailures: Object.values(sink.failures).reduce((a, b) => a + b, 0),
    sizes: sink.sizes,
    hlsLatencySeconds: summarize(hls.samples.map((s) => s.latency).filter((v): v is number => v !== null)),
    playbackRateMean: rates.length ? rates.reduce((a, b) => a + b, 0) / rates.length : Number.NaN,
    stalls: hls.waiting,
    levels: hls.levels,
    hlsErrors: hls.errors,
    recordSeconds,
    cpu,
    encoderDropped: encoder.dropped,
  };
  progress(NAME, `${ingestPath}: ${result.latencyMs.count} frames, p50 ${fmt(result.latencyMs.p50, 0)} / p95 ${fmt(result.latencyMs.p95, 0)} ms`);
  return result;
}

async function main(): Promise<void> {
  const outer = new BenchRun(NAME, 60_000 + PATHS.length * (WARMUP_MS + MAX_RECORD_MS + 120_000));
  try {
    const scripts = { sink: await browserScript('webrtcLatencyPage.js'), hls: await browserScript('hlsPlayerPage.js') };
    const chromium = outer.defer('chromium', await launchChromium(), (c) => c.close());
    const results: PathResult[] = [];
    for (const ingestPath of PATHS) {
      const run = new BenchRun(`${NAME} ${ingestPath}`, WARMUP_MS + MAX_RECORD_MS + 120_000);
      try {
        results.push(await measure(run, chromium, scripts, ingestPath));
      } finally {
        await run.cleanup();
      }
    }
    const machine = machineInfo(chromium.browser.version());
    console.log(`\n${NAME}: ${WIDTH}x${HEIGHT}@${FPS} ${KBPS} kbit/s + AAC → LL-HLS watch page (hls.js) — ${describeMachine(machine)}\n`);
    console.log(
      formatTable(
        [
          'path',
          'video',
          'frames',
          'p50 ms',
          'p95 ms',
          'max ms',
          'hls.js latency p50 s',
          'stalls',
          'decode failures',
          'encoder dropped',
          'CPU bench / others',
          `p50 ≤ ${TARGET_P50_MS}`,
        ],
        results.map((r) => [
          `${r.path} → LL-HLS`,
          r.handling ?? '?',
          String(r.latencyMs.count),
          fmt(r.latencyMs.p50, 0),
          fmt(r.latencyMs.p95, 0),
          fmt(r.latencyMs.max, 0),
          fmt(r.hlsLatencySeconds.p50, 2),
          String(r.stalls),
          String(r.decodeFailures),
          String(r.encoderDropped),
          r.cpu ? `${fmt(r.cpu.oursCores, 2)} / ${fmt(r.cpu.othersCores, 2)}` : '—',
          r.latencyMs.count >= Math.min(FRAMES, 150) && r.latencyMs.p50 <= TARGET_P50_MS ? 'yes' : 'NO',
        ]),
      ),
    );
    const file = writeResult(NAME, { machine, frames: FRAMES, warmupMs: WARMUP_MS, size: `${WIDTH}x${HEIGHT}`, kbps: KBPS, results });
    console.log(`\nresults: ${file}`);
  } finally {
    await outer.cleanup();
  }
}

await exitAfter(NAME, main);
