/**
 * CPU of one RTMP ingest (issue 11): the server's ingest ffmpeg (FLV in, RTP
 * out to mediasoup) as a share of a core, for an OBS-like 720p30 stream with
 * its video copied or re-encoded and with its AAC audio (→ Opus) or without.
 *
 * The encoder costs nothing here: two clips are encoded once up front (x264
 * veryfast, High, 2 s GOP, --kbps CBR with filler as OBS sends it, testsrc2
 * with moving noise so that most of the bitrate is picture, as a camera's is; one with B-frames off — the server
 * copies it — one with OBS's default `-bf 2` — the server re-encodes it), each
 * with and without an AAC 160 kbit/s track; then per case an `ffmpeg -re
 * -stream_loop -1 -c copy` publishes the clip to rtmp://…/live/<key>. Once
 * the ingest is on air and has settled (--settle s), the CPU time of its
 * ffmpeg (/proc/<pid>/stat, utime + stime) is taken over --window s; the ingest
 * health's own figure (cpuPercent) and handling are shown beside it.
 *
 *   bash scripts/bench/run ingest-cpu [--cases=copy,copy-noaudio,reencode,reencode-noaudio]
 *        [--window=20] [--settle=5] [--kbps=3500] [--clip-seconds=10]
 *
 * No target: the issue asks for the figures (copied vs re-encoded, AAC → Opus).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import type { IngestHealth } from '../../server/contracts/ingestHealth.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { freeTcpPort, ingestFfmpegPids } from '../../test/helpers/obsLikeEncoder.js';
import { waitFor } from '../../test/helpers/wait.js';
import { processCpuSeconds } from './lib/cpu.js';
import { spawnFfmpeg } from './lib/codeEncoder.js';
import { exitAfter } from './lib/benchMain.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, writeResult } from './lib/results.js';

const NAME = 'ingest-cpu';
const CASES = ['copy', 'copy-noaudio', 'reencode', 'reencode-noaudio'] as const;
type Case = (typeof CASES)[number];

const args = parseArgs(process.argv.slice(2), ['cases', 'window', 'settle', 'kbps', 'clip-seconds']);
const SELECTED = choicesArg<Case>(args, 'cases', CASES.join(','), CASES);
const WINDOW_MS = numberArg(args, 'window', 20) * 1000;
const SETTLE_MS = numberArg(args, 'settle', 5) * 1000;
const KBPS = numberArg(args, 'kbps', 3500);
const CLIP_SECONDS = numberArg(args, 'clip-seconds', 10);

interface CaseResult {
  case: Case;
  handling: { video: string | null; audio: string | null };
  /** Share of one core used by the ingest's ffmpeg over the window. */
  ffmpegCores: number;
  /** The ingest health's own figure at the end of the window (percent of a core). */
  healthCpuPercent: number | null;
  /** What the ingest measured coming in, kbit/s. */
  inputKbps: number | null;
  windowSeconds: number;
  loadAverage: number[];
}

/** Encodes the OBS-like clips once: video with and without B-frames, each with and without AAC. */
function encodeClips(dir: string): Record<Case, string> {
  const ffmpeg = (argv: string[]): void => {
    const result = spawnSync('/usr/bin/ffmpeg', ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'error', '-y', ...argv], { stdio: 'inherit' });
    if (result.status !== 0) throw new Error(`ffmpeg ${argv.join(' ')} failed (${result.status})`);
  };
  const clips = {} as Record<Case, string>;
  for (const bFrames of [0, 2]) {
    const name = bFrames ? 'reencode' : 'copy';
    const video = path.join(dir, `${name}-video.mp4`);
    progress(NAME, `encoding the ${name} clip: 1280x720@30, High, -bf ${bFrames}, ${KBPS} kbit/s, ${CLIP_SECONDS} s`);
    ffmpeg([
      ...['-f', 'lavfi', '-i', `testsrc2=size=1280x720:rate=30:duration=${CLIP_SECONDS}`],
      ...['-vf', 'noise=alls=30:allf=t', '-pix_fmt', 'yuv420p'],
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-bf', String(bFrames), '-g', '60', '-keyint_min', '60', '-sc_threshold', '0'],
      // CBR with filler as OBS's x264 sends it (nal-hrd=cbr): the bitrate stays at --kbps whatever the picture.
      ...['-b:v', `${KBPS}k`, '-minrate', `${KBPS}k`, '-maxrate', `${KBPS}k`, '-bufsize', `${KBPS * 2}k`, '-x264-params', 'nal-hrd=cbr', '-an', video],
    ]);
    clips[`${name}-noaudio`] = video;
    const withAudio = path.join(dir, `${name}.mp4`);
    ffmpeg([
      ...['-i', video, '-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${CLIP_SECONDS}`],
      ...['-map', '0:v', '-map', '1:a', '-c:v', 'copy', '-c:a', 'aac', '-b:a', '160k', '-ac', '2', withAudio],
    ]);
    clips[name] = withAudio;
  }
  return clips;
}

async function measureCase(run: BenchRun, which: Case, clip: string): Promise<CaseResult> {
  const rtmpPort = await freeTcpPort();
  const keysDir = run.defer('keys dir', fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-cpu-keys-')), (dir) => fs.rmSync(dir, { recursive: true, force: true }));
  const server = run.defer(
    'server',
    await startTestServer({ STREAM_KEYS_DIR: keysDir, HLS_ENABLED: 'false', RTMP_PORT: String(rtmpPort), LOG_LEVEL: 'warn' }),
    (s) => s.close(),
  );
  const room = `cpu-${which}`;
  const { key } = await server.streamKeys.create(room, 'primary');
  const streamer = run.defer(
    'streamer',
    spawnFfmpeg(['-re', '-stream_loop', '-1', '-i', clip, '-c', 'copy', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/${key}`], 'ignore'),
    (p) => p.kill('SIGKILL'),
  );
  streamer.stdout?.resume();
  const source = () => server.rooms.get(room)?.sources()[0] as { ingestHealth?: () => IngestHealth; tracks: () => Array<{ kind: string }> } | undefined;
  await waitFor(
    () =>
      source()
        ?.tracks()
        .some((t) => t.kind === 'video'),
    { description: `the ${which} ingest to go on air`, timeoutMs: 30_000 },
  );
  // The producers exist before the ingest's ffmpeg has started sending to them.
  await waitFor(() => ingestFfmpegPids().length === 1, {
    description: `the ${which} ingest's ffmpeg`,
    timeoutMs: 30_000,
    progress: () => `ingest ffmpegs: ${ingestFfmpegPids().join(', ') || 'none'}`,
  });
  const pid = ingestFfmpegPids()[0]!;
  await sleep(SETTLE_MS);
  const before = processCpuSeconds(pid);
  const startedAt = Date.now();
  await sleep(WINDOW_MS);
  const after = processCpuSeconds(pid);
  const windowSeconds = (Date.now() - startedAt) / 1000;
  if (before === null || after === null) throw new Error(`the ${which} ingest ffmpeg exited during the window`);
  const health = source()?.ingestHealth?.();
  const result: CaseResult = {
    case: which,
    handling: { video: health?.video?.handling ?? null, audio: health?.audio?.handling ?? null },
    ffmpegCores: (after - before) / windowSeconds,
    healthCpuPercent: health?.cpuPercent ?? null,
    inputKbps: health ? health.bitrateBps / 1000 : null,
    windowSeconds,
    loadAverage: os.loadavg().map((v) => Number(v.toFixed(2))),
  };
  progress(NAME, `${which}: video ${result.handling.video}, audio ${result.handling.audio ?? 'none'}: ffmpeg ${fmt(result.ffmpegCores * 100, 1)} % of a core`);
  return result;
}

async function main(): Promise<void> {
  const outer = new BenchRun(NAME, 120_000 + SELECTED.length * (SETTLE_MS + WINDOW_MS + 60_000));
  try {
    const dir = outer.defer('clips', fs.mkdtempSync(path.join(os.tmpdir(), 'ingest-cpu-clips-')), (d) => fs.rmSync(d, { recursive: true, force: true }));
    const clips = encodeClips(dir);
    const results: CaseResult[] = [];
    for (const which of SELECTED) {
      const run = new BenchRun(`${NAME} ${which}`, SETTLE_MS + WINDOW_MS + 90_000);
      try {
        results.push(await measureCase(run, which, clips[which]));
      } finally {
        await run.cleanup();
      }
    }
    const machine = machineInfo();
    console.log(`\n${NAME}: RTMP ingest of 1280x720@30 H.264 High at ${KBPS} kbit/s (+ AAC 160 kbit/s) — ${describeMachine(machine)}\n`);
    console.log(
      formatTable(
        ['case', 'video', 'audio', 'ingest ffmpeg, % of a core', 'ingest health cpuPercent', 'input kbit/s', 'load average (1/5/15 min)'],
        results.map((r) => [
          r.case,
          r.handling.video ?? '?',
          r.handling.audio ?? 'none',
          fmt(r.ffmpegCores * 100, 1),
          fmt(r.healthCpuPercent, 1),
          fmt(r.inputKbps, 0),
          r.loadAverage.join(' / '),
        ]),
      ),
    );
    const file = writeResult(NAME, { machine, kbps: KBPS, windowMs: WINDOW_MS, settleMs: SETTLE_MS, clipSeconds: CLIP_SECONDS, results });
    console.log(`\nresults: ${file}`);
  } finally {
    await outer.cleanup();
  }
}

await exitAfter(NAME, main);
