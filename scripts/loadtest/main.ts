/**
 * npm run loadtest -- --url http://host:3000 --room R [--hls M] [--webrtc N]
 *                     [--publisher] [--token JWT] [--duration 60] [--ramp 10]
 *                     [--hls-url http://edge:8080] [--variant first|lowest|highest|<index>]
 *                     [--json report.json] [--every 5] [--local] [--unbounded]
 *
 * Loads a Floodlight deployment with headless WebRTC viewers and LL-HLS
 * clients (scripts/loadtest/loadRun.ts), prints a progress line and a table
 * every --every seconds, then the report; --json writes it for CI. Exit code
 * 0 when every client played, 1 otherwise, 2 on bad arguments.
 *
 * --publisher publishes a synthetic 720p H.264 broadcast (ffmpeg test
 * pattern) into the room first; it needs a publisher token: --token, or
 * AUTH_SECRET in the environment (the server's, to sign one).
 * --local: the server runs on this machine (WebRTC on 127.0.0.1 only).
 * Defaults are bounded: --duration 60 s; caps of 2000 HLS, 200 WebRTC
 * clients and 600 s unless --unbounded.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { TokenService } from '../../server/auth/tokens.js';
import { LoadRun } from './loadRun.js';
import { errorLines, reportTable, type LoadReport } from './loadReport.js';

function usage(message: string): never {
  process.stderr.write(
    `loadtest: ${message}\nusage: npm run loadtest -- --url http://host:3000 --room R [--hls M] [--webrtc N] [--publisher] [--duration S] [--ramp S] [--json FILE]\n`,
  );
  process.exit(2);
}

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) usage(`--${name} must be a number ≥ 0, got ${value}`);
  return n;
}

let values: Record<string, string | boolean | undefined>;
try {
  ({ values } = parseArgs({
    options: {
      url: { type: 'string' },
      room: { type: 'string' },
      hls: { type: 'string' },
      webrtc: { type: 'string' },
      publisher: { type: 'boolean' },
      token: { type: 'string' },
      duration: { type: 'string' },
      ramp: { type: 'string' },
      'hls-url': { type: 'string' },
      variant: { type: 'string' },
      json: { type: 'string' },
      every: { type: 'string' },
      local: { type: 'boolean' },
      unbounded: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  }));
} catch (error) {
  usage((error as Error).message);
}
if (values['help']) {
  process.stdout.write(
    `${fs
      .readFileSync(new URL(import.meta.url), 'utf8')
      .split('*/')[0]!
      .replace(/^\/\*\*|^ \* ?/gm, '')}\n`,
  );
  process.exit(0);
}
const url = values['url'] as string | undefined;
const room = values['room'] as string | undefined;
if (!url) usage('--url is required');
if (!room) usage('--room is required');

let publisherToken: string | undefined;
if (values['publisher']) {
  publisherToken = values['token'] as string | undefined;
  const secret = process.env['AUTH_SECRET'];
  if (!publisherToken && secret && secret.length >= 16) publisherToken = await new TokenService(secret).issue({ room, role: 'publisher' }, 3600);
  if (!publisherToken) usage('--publisher needs --token JWT or AUTH_SECRET (the server secret) in the environment');
}
const variantArg = (values['variant'] as string | undefined) ?? 'first';
const variant = /^\d+$/.test(variantArg) ? Number(variantArg) : variantArg;
if (typeof variant === 'string' && !['first', 'lowest', 'highest'].includes(variant)) usage('--variant must be first, lowest, highest or an index');

let run: LoadRun;
try {
  run = new LoadRun({
    url,
    room,
    hlsUrl: values['hls-url'] as string | undefined,
    hls: count(values['hls'] as string | undefined, 'hls', 0),
    webrtc: count(values['webrtc'] as string | undefined, 'webrtc', 0),
    publisherToken,
    durationSeconds: count(values['duration'] as string | undefined, 'duration', 60),
    rampSeconds: count(values['ramp'] as string | undefined, 'ramp', 0),
    variant: variant as number | 'first' | 'lowest' | 'highest',
    loopbackOnly: Boolean(values['local']),
    progressEverySeconds: count(values['every'] as string | undefined, 'every', 5) || 5,
    unbounded: Boolean(values['unbounded']),
  });
} catch (error) {
  usage((error as Error).message);
}

const progressLine = (report: LoadReport): string => {
  const o = report.options;
  const bar = (done: number, of: number): string => {
    const width = 20;
    const filled = of > 0 ? Math.round((done / of) * width) : width;
    return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  };
  return (
    `${bar(Math.min(report.elapsedSeconds, o.durationSeconds), o.durationSeconds)} ${report.elapsedSeconds.toFixed(0)}/${o.durationSeconds} s` +
    (o.webrtc ? `  webrtc ${report.webrtc.playing}/${o.webrtc} playing` : '') +
    (o.hls ? `  hls ${report.hls.playing}/${o.hls} playing` : '') +
    `  errors ${Object.values(report.errors).reduce((a, b) => a + b, 0)}`
  );
};

run.onProgress = (report) => {
  process.stderr.write(`\n${progressLine(report)}\n${reportTable(report)}\n`);
};
process.once('SIGINT', () => {
  process.stderr.write('\ninterrupted: stopping the clients and reporting\n');
  run.stop();
});
process.stderr.write(`loadtest: ${values['hls'] ?? 0} LL-HLS (${run.masterUrl}), ${values['webrtc'] ?? 0} WebRTC, room ${room}\n`);
const report = await run.run();
process.stdout.write(`\n${reportTable(report)}\n`);
const lines = errorLines(report);
if (lines.length) process.stdout.write(`\nerrors by kind:\n${lines.join('\n')}\n`);
if (values['json']) {
  fs.writeFileSync(values['json'] as string, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`\nreport written to ${values['json'] as string}\n`);
}
const allPlayed = report.hls.playing === report.hls.clients && report.webrtc.playing === report.webrtc.clients;
// Clients' sockets (werift, keep-alive) may linger: the report is out, leave.
process.exit(allPlayed ? 0 : 1);
