/**
 * Glass-to-glass latency of encoder ingest: RTMP → SFU and SRT → SFU, with the
 * frame timestamp code of the other latency benches (scripts/bench/browser/
 * frameCodec.js: the wall-clock time a frame was drawn, as black/white blocks).
 *
 * Source (scripts/bench/lib/codeEncoder.ts): this process draws 640x360 gray
 * frames at 30 fps with the code of Date.now() and pipes them into an ffmpeg
 * encoder (x264 veryfast, 1 s GOP, AAC-free) that publishes to rtmp://…/live/<key> or srt://…?streamid=<key>
 * (SRT latency 120 ms) — B-frames off (copied by the server) or on
 * (`-bf 2`, re-encoded by the server).
 * Viewer: the room's video consumed on a mediasoup PlainTransport (the
 * recorder's RecorderFeed) and decoded by an ffmpeg into raw luma, whose code
 * is read back: latency = decoded − drawn (one clock). This is the server's
 * path to a WebRTC viewer without the browser's jitter buffer and DTLS (add a
 * browser's ~20–60 ms), on loopback.
 *
 *   bash scripts/bench/run ingest-latency [--frames=300] [--warmup=4] [--paths=rtmp,srt,rtmp-bframes]
 *
 * Target (issue 11): RTMP → WebRTC and SRT → WebRTC p95 ≤ 1 s.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestServer } from '../../test/helpers/testServer.js';
import { freeTcpPort, freeUdpPort } from '../../test/helpers/obsLikeEncoder.js';
import { RecorderFeed, waitForUdpPortBound } from '../../server/recorder/recorderFeed.js';
import { CodeEncoder, readCodeFrame, spawnFfmpeg } from './lib/codeEncoder.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';

const NAME = 'ingest-latency';
const TARGET_P95_MS = 1000;
const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;
type IngestPath = 'rtmp' | 'srt' | 'rtmp-bframes';

const args = parseArgs(process.argv.slice(2), ['frames', 'warmup', 'paths']);
const FRAMES = Math.round(numberArg(args, 'frames', 300));
const WARMUP_MS = numberArg(args, 'warmup', 4) * 1000;
const PATHS = choicesArg<IngestPath>(args, 'paths', 'rtmp,srt,rtmp-bframes', ['rtmp', 'srt', 'rtmp-bframes']);

interface PathResult {
  path: IngestPath;
  handling: string | undefined;
  latency: Summary;
  undecodable: number;
}

async function measure(run: BenchRun, ingestPath: IngestPath): Promise<PathResult> {
  const rtmpPort = await freeTcpPort();
  const srtPort = await freeUdpPort();
  const keysDir = run.defer('keys dir', fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-latency-keys-')), (dir) =>
    fs.rmSync(dir, { recursive: true, force: true }),
  );
  const server = await startTestServer({
    STREAM_KEYS_DIR: keysDir,
    HLS_ENABLED: 'false',
    RTMP_PORT: String(rtmpPort),
    SRT_PORT: String(srtPort),
    LOG_LEVEL: 'warn',
  });
  run.defer('server', server, (s) => s.close());
  const room = `latency-${ingestPath}`;
  const { key } = await server.streamKeys.create(room, 'primary');
  const url = ingestPath === 'srt' ? `srt://127.0.0.1:${srtPort}?streamid=${key}&latency=120000` : `rtmp://127.0.0.1:${rtmpPort}/live/${key}`;
  run.defer(
    'encoder',
    CodeEncoder.start({ url, bFrames: ingestPath === 'rtmp-bframes', width: WIDTH, height: HEIGHT, fps: FPS, bitrateKbps: 1500, audio: false }),
    (e) => e.close(),
  );

  const deadline = Date.now() + 30_000;
  while (
    !server.rooms
      .get(room)
      ?.sources()[0]
      ?.tracks()
      .some((t) => t.kind === 'video')
  ) {
    if (Date.now() > deadline) throw new Error(`${ingestPath}: the ingest did not go on air`);
    await sleep(100);
  }
  const source = server.rooms.get(room)!.sources()[0]!;
  const handling = (source as { ingestHealth?: () => { video: { handling: string } | null } }).ingestHealth?.().video?.handling;
  const workDir = run.defer('feed dir', fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-latency-feed-')), (dir) =>
    fs.rmSync(dir, { recursive: true, force: true }),
  );
  const feed = await RecorderFeed.open({
    router: source.router,
    producers: source
      .tracks()
      .filter((t) => t.kind === 'video')
      .map((t) => t.producer),
    rtcPortRange: { min: server.config.rtcMinPort, max: server.config.rtcMaxPort },
    workDir,
    generation: 1,
    outputs: [],
    preferredSpatialLayer: 0,
    onBytes: () => undefined,
    onLayersChange: () => undefined,
  });
  run.defer('feed', feed, (f) => f.close());
  const decoder = spawnFfmpeg(
    [
      ...['-protocol_whitelist', 'file,udp,rtp', '-reorder_queue_size', '0', '-flags', 'low_delay', '-probesize', '500000', '-analyzeduration', '500000'],
      ...['-i', feed.sdpPath, '-map', '0:v', '-f', 'rawvideo', '-pix_fmt', 'gray', '-s', `${WIDTH}x${HEIGHT}`, 'pipe:1'],
    ],
    'ignore',
  );
  run.defer('decoder', decoder, (p) => p.kill('SIGKILL'));
  await waitForUdpPortBound(feed.videoPort!, 10_000);
  await feed.resume();

  const latencies: number[] = [];
  let undecodable = 0;
  let pending = Buffer.alloc(0);
  const measureFrom = Date.now() + WARMUP_MS;
  await new Promise<void>((resolve, reject) => {
    const timeout = setTimeout(() => reject(new Error(`${ingestPath}: only ${latencies.length} frames decoded`)), WARMUP_MS + (FRAMES / FPS) * 1000 + 30_000);
    decoder.stdout!.on('data', (chunk: Buffer) => {
      const now = Date.now();
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= WIDTH * HEIGHT) {
        const frame = pending.subarray(0, WIDTH * HEIGHT);
        pending = pending.subarray(WIDTH * HEIGHT);
        if (now < measureFrom) continue;
        const drawn = readCodeFrame(frame, now, WIDTH, HEIGHT);
        if (drawn === null) undecodable++;
        else latencies.push(now - drawn);
        if (latencies.length >= FRAMES) {
          clearTimeout(timeout);
          resolve();
          return;
        }
      }
    });
  });
  progress(NAME, `${ingestPath}: ${latencies.length} frames, handling ${handling}`);
  await run.cleanup();
  return { path: ingestPath, handling, latency: summarize(latencies), undecodable };
}

const results: PathResult[] = [];
for (const ingestPath of PATHS) {
  const run = new BenchRun(NAME, 180_000);
  try {
    results.push(await measure(run, ingestPath));
  } finally {
    await run.cleanup();
  }
}
const machine = machineInfo();
console.log(`\n${NAME} — ${describeMachine(machine)}\n`);
console.log(
  formatTable(
    ['path', 'video', 'frames', 'p50 ms', 'p95 ms', 'max ms', 'undecodable', `p95 ≤ ${TARGET_P95_MS}`],
    results.map((r) => [
      r.path,
      r.handling ?? '?',
      String(r.latency.count),
      fmt(r.latency.p50, 0),
      fmt(r.latency.p95, 0),
      fmt(r.latency.max, 0),
      String(r.undecodable),
      r.latency.p95 <= TARGET_P95_MS ? 'yes' : 'NO',
    ]),
  ),
);
console.log(`\nwrote ${writeResult(NAME, { machine, frames: FRAMES, warmupMs: WARMUP_MS, results })}`);
process.exit(0);
