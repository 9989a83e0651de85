/**
 * The origin's LL-HLS request rate (issue 12, "Origin: LL-HLS requests per
 * second per core and the latency added at high request rates"):
 *
 *   bash scripts/bench/run hls-origin [--seconds=15] [--connections=32] [--clients=100,300]
 *
 * One Floodlight server as a child process (server/main.ts: 1 worker, HLS on,
 * HLS_RENDITIONS=360, its own HLS_DIR) and a live room (werift SDK publisher,
 * 640×360 H.264 800 kbps, passed through: the recorder's ffmpeg only
 * remuxes). CPU is the server process's own CPU time (/proc; its ffmpeg and
 * worker are counted apart), minus a window with the room live and no HLS
 * client (packaging the stream), so the figure is what serving costs.
 *
 *   1. LL-HLS clients: --clients of the load tool's LL-HLS clients
 *      (scripts/loadtest/llHlsClient.ts: what hls.js loads in low-latency mode:
 *      a blocking playlist reload and the hinted part, ~8 requests a second
 *      each) → requests per second, server CPU per 1,000 requests/s for that mix.
 *   2. Max: --connections keep-alive connections, each sending its next request
 *      as soon as the previous one is answered, over non-blocking objects of
 *      the live stream (45 % one of the 8 newest parts, 45 % the playlist with
 *      _HLS_msn/_HLS_part of its newest part — a blocking-reload URL whose
 *      answer is ready, as an edge asks it — and 10 % one of the newest complete
 *      segments) → the most requests per second, and per core of server CPU.
 *   3. Fixed rates at 10 %, 50 % and 90 % of that max (open loop, same mix):
 *      time to first byte p50 / p95 per rate → the latency added at high rates.
 *
 * The load generator (Node http, keep-alive agents; no package) runs in this
 * process on the same 2 cores: at "max" either the server or the generator
 * gives out first, both reported (their CPU); requests per core of server
 * CPU is the figure that does not depend on which.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TokenService } from '../../server/auth/tokens.js';
import { HeadlessPublisher } from '../../test/helpers/headlessPeer.js';
import { spawnTracked, type TrackedProcess } from '../../test/helpers/processes.js';
import { freePort } from '../../test/helpers/redisServer.js';
import { TEST_AUTH_SECRET } from '../../test/helpers/testServer.js';
import { waitFor } from '../../test/helpers/wait.js';
import { LlHlsClient } from '../loadtest/llHlsClient.js';
import { parseMaster, parseMediaPlaylist } from '../loadtest/llHlsPlaylist.js';
import { closedLoop, fixedRate, type LoadOutcome, type RequestSpec } from './lib/httpLoad.js';
import { exitAfter } from './lib/benchMain.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { TreeCpuWindow } from './lib/processTreeCpu.js';
import { fmt, formatTable, numberArg, parseArgs, progress, REPO_ROOT, summarize, writeResult, type Summary } from './lib/results.js';

const NAME = 'hls-origin';
const ROOM = 'bench-hls-origin';
const args = parseArgs(process.argv.slice(2), ['seconds', 'connections', 'clients']);
const SECONDS = numberArg(args, 'seconds', 15);
const CONNECTIONS = Math.round(numberArg(args, 'connections', 32));
const CLIENT_COUNTS = (args.get('clients') ?? '100,300').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 2000) throw new Error(`--clients: ${s} is not a count between 1 and 2000`);
  return n;
});
const RATE_FRACTIONS = [0.1, 0.5, 0.9];

interface ServerCpu {
  /** The server's Node process, cores. */
  server: number;
  /** Its ffmpeg and mediasoup worker, cores. */
  children: number;
  /** This process (load generator and publisher), cores. */
  generator: number;
}

class CpuWindow {
  readonly #server: TreeCpuWindow;
  readonly #generatorStart = process.cpuUsage();
  readonly #startedAt = Date.now();

  constructor(pid: number) {
    this.#server = new TreeCpuWindow(pid);
  }

  cores(): ServerCpu {
    const server = this.#server.cores();
    const used = process.cpuUsage(this.#generatorStart);
    return { server: server.main, children: server.children, generator: (used.user + used.system) / 1e6 / ((Date.now() - this.#startedAt) / 1000) };
  }
}

/** A standalone server process with HLS on, answering /healthz. */
async function startServer(run: BenchRun, hlsDir: string): Promise<{ url: string; process: TrackedProcess }> {
  const port = await freePort();
  const rtcMin = 30000 + ((process.pid * 7) % 40) * 500;
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    name: 'origin',
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      LISTEN_IP: '127.0.0.1',
      ANNOUNCED_IP: '127.0.0.1',
      PORT: String(port),
      NUM_WORKERS: '1',
      RTC_MIN_PORT: String(rtcMin),
      RTC_MAX_PORT: String(rtcMin + 499),
      AUTH_SECRET: TEST_AUTH_SECRET,
      LOG_LEVEL: 'warn',
      HLS_DIR: hlsDir,
      HLS_RENDITIONS: '360',
    },
  });
  run.defer('origin server', child, (c) => c.stop());
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    async () => {
      if (!child.running) throw new Error(`the server exited at start:\n${child.output()}`);
      return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok ?? false;
    },
    { description: `the server answering on ${url}`, timeoutMs: 30_000 },
  );
  return { url, process: child };
}

/** The live stream's newest objects, refreshed every 250 ms: what the request mix picks from. */
class LiveObjects {
  parts: string[] = [];
  segments: string[] = [];
  newest: { msn: number; part: number } | undefined;
  readonly #timer: NodeJS.Timeout;

  private constructor(
    readonly origin: string,
    readonly mediaPath: string,
    readonly base: string,
  ) {
    this.#timer = setInterval(() => void this.refresh(), 250);
  }

  static async start(url: string, masterPath: string): Promise<LiveObjects> {
    const master = parseMaster(await (await fetch(`${url}${masterPath}`)).text());
    const mediaPath = new URL(master[0]!.uri, `${url}${masterPath}`).pathname;
    const objects = new LiveObjects(url, mediaPath, mediaPath.slice(0, mediaPath.lastIndexOf('/') + 1));
    try {
      await waitFor(async () => (await objects.refresh()) && objects.segments.length >= 2 && objects.parts.length >= 4, {
        description: 'two complete segments and four parts in the media playlist',
        timeoutMs: 30_000,
      });
    } catch (error) {
      objects.close();
      throw error;
    }
    return objects;
  }

  async refresh(): Promise<boolean> {
    try {
      const text = await (await fetch(`${this.origin}${this.mediaPath}`)).text();
      const playlist = parseMediaPlaylist(text);
      this.parts = playlist.entries
        .filter((e) => e.part >= 0)
        .slice(-8)
        .map((e) => e.uri);
      this.segments = text
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .slice(-4);
      this.newest = playlist.last;
      return true;
    } catch {
      return false; // a refresh that failed keeps the previous lists
    }
  }

  /** The mix: 45 % part, 45 % ready blocking-reload playlist, 10 % segment. */
  next(): RequestSpec {
    const pick = (list: string[]) => list[Math.floor(Math.random() * list.length)]!;
    const roll = Math.random();
    if (roll < 0.45) return { path: this.base + pick(this.parts), label: 'part' };
    if (roll < 0.9 && this.newest)
      return { path: `${this.mediaPath}?_HLS_msn=${this.newest.msn}&_HLS_part=${Math.max(0, this.newest.part)}`, label: 'playlist' };
    return { path: this.base + pick(this.segments), label: 'segment' };
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

interface RateRow {
  phase: string;
  targetRate: number | null;
  rate: number;
  ok: number;
  failures: Record<string, number>;
  ttfbMs: Record<string, Summary>;
  ttfbAllMs: Summary;
  cpu: ServerCpu;
  /** Server CPU above the idle-live baseline, cores. */
  serverNet: number;
  serverCoresPer1000: number;
  requestsPerServerCore: number;
  loadAverage: number;
}

function rateRow(phase: string, targetRate: number | null, outcome: LoadOutcome, cpu: ServerCpu, baseline: ServerCpu): RateRow {
  const serverNet = Math.max(1e-6, cpu.server - baseline.server);
  const all = [...outcome.ttfbMs.values()].flat();
  return {
    phase,
    targetRate,
    rate: outcome.rate,
    ok: outcome.ok,
    failures: outcome.failures,
    ttfbMs: Object.fromEntries([...outcome.ttfbMs].map(([label, list]) => [label, summarize(list)])),
    ttfbAllMs: summarize(all),
    cpu,
    serverNet,
    serverCoresPer1000: (serverNet / outcome.rate) * 1000,
    requestsPerServerCore: outcome.rate / serverNet,
    loadAverage: os.loadavg()[0]!,
  };
}

interface ClientsRow {
  clients: number;
  playing: number;
  rate: number;
  mix: { parts: number; playlistReloads: number; other: number };
  stalls: number;
  errors: number;
  cpu: ServerCpu;
  serverNet: number;
  serverCoresPer1000: number;
  loadAverage: number;
}

async function llHlsClients(url: string, masterPath: string, count: number, pid: number, baseline: ServerCpu): Promise<ClientsRow> {
  const clients = Array.from({ length: count }, (_, i) => new LlHlsClient({ masterUrl: `${url}${masterPath}`, id: `origin-${count}-${i}`, variant: 'first' }));
  try {
    for (const [i, client] of clients.entries()) setTimeout(() => client.start(), (2_000 * i) / count);
    await waitFor(() => clients.every((c) => c.stats().joinToFirstPartMs !== null), { description: `${count} LL-HLS clients playing`, timeoutMs: 30_000 });
    await sleep(2_000);
    const before = clients.map((c) => c.stats());
    const window = new CpuWindow(pid);
    await sleep(SECONDS * 1000);
    const cpu = window.cores();
    const after = clients.map((c) => c.stats());
    const delta = (key: 'requests' | 'parts' | 'playlistReloads' | 'stalls') => after.reduce((sum, s, i) => sum + s[key] - before[i]![key], 0);
    const rate = delta('requests') / SECONDS;
    const serverNet = Math.max(1e-6, cpu.server - baseline.server);
    const row: ClientsRow = {
      clients: count,
      playing: after.filter((s) => s.joinToFirstPartMs !== null).length,
      rate,
      mix: {
        parts: delta('parts') / delta('requests'),
        playlistReloads: delta('playlistReloads') / delta('requests'),
        other: 1 - (delta('parts') + delta('playlistReloads')) / delta('requests'),
      },
      stalls: delta('stalls'),
      errors: after.reduce((sum, s) => sum + Object.values(s.errors).reduce((a, b) => a + b, 0), 0),
      cpu,
      serverNet,
      serverCoresPer1000: (serverNet / rate) * 1000,
      loadAverage: os.loadavg()[0]!,
    };
    progress(
      NAME,
      `${count} LL-HLS clients: ${fmt(rate, 0)} req/s, server ${fmt(cpu.server, 3)} cores (net ${fmt(serverNet, 3)}), ${fmt(row.serverCoresPer1000, 3)} cores per 1000 req/s`,
    );
    return row;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
}

async function main(): Promise<void> {
  const run = new BenchRun(NAME, ((CLIENT_COUNTS.length + RATE_FRACTIONS.length + 2) * (SECONDS + 20) + 120) * 1000);
  const hlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-bench-hls-'));
  run.defer('hls dir', hlsDir, (dir) => fs.rmSync(dir, { recursive: true, force: true }));
  try {
    const machine = machineInfo();
    const server = await startServer(run, hlsDir);
    const pid = server.process.pid!;
    const token = await new TokenService(TEST_AUTH_SECRET).issue({ room: ROOM, role: 'publisher' }, 3600);
    const video = { codec: 'H264' as const, width: 640, height: 360, bitrateKbps: 800, keyframeIntervalSec: 1 };
    const publisher = run.defer('publisher', new HeadlessPublisher({ url: server.url, room: ROOM, token, name: 'publisher', video }), (p) => p.close());
    await publisher.publish();
    const masterPath = `/hls/${ROOM}/index.m3u8`;
    await waitFor(async () => (await fetch(`${server.url}${masterPath}`)).status === 200, { description: 'the master playlist', timeoutMs: 30_000 });
    const objects = run.defer('playlist refresher', await LiveObjects.start(server.url, masterPath), (o) => o.close());
    progress(NAME, `live room on ${server.url}, media playlist ${objects.mediaPath}`);

    await sleep(3_000);
    const idle = new CpuWindow(pid);
    await sleep(SECONDS * 1000);
    const baseline = idle.cores();
    progress(NAME, `live, no HLS client: server ${fmt(baseline.server, 3)} cores, ffmpeg+worker ${fmt(baseline.children, 3)}`);

    const clientRows: ClientsRow[] = [];
    for (const count of CLIENT_COUNTS) clientRows.push(await llHlsClients(server.url, masterPath, count, pid, baseline));

    const rateRows: RateRow[] = [];
    {
      const window = new CpuWindow(pid);
      const outcome = await closedLoop(server.url, () => objects.next(), { connections: CONNECTIONS, seconds: SECONDS });
      rateRows.push(rateRow(`max (${CONNECTIONS} connections)`, null, outcome, window.cores(), baseline));
    }
    const max = rateRows[0]!.rate;
    progress(NAME, `max ${fmt(max, 0)} req/s; server ${fmt(rateRows[0]!.cpu.server, 2)} cores, generator ${fmt(rateRows[0]!.cpu.generator, 2)}`);
    for (const fraction of RATE_FRACTIONS) {
      await sleep(2_000);
      const target = Math.max(1, Math.round(max * fraction));
      const window = new CpuWindow(pid);
      const outcome = await fixedRate(server.url, () => objects.next(), { rate: target, connections: CONNECTIONS * 2, seconds: SECONDS });
      const row = rateRow(`${fraction * 100} % of max`, target, outcome, window.cores(), baseline);
      rateRows.push(row);
      progress(NAME, `${row.phase}: ${fmt(row.rate, 0)} req/s, TTFB p50 ${fmt(row.ttfbAllMs.p50, 1)} / p95 ${fmt(row.ttfbAllMs.p95, 1)} ms`);
    }

    // The mix's cost from the largest audience that played without stalls (a saturated machine's row measures the machine).
    const clean = clientRows.filter((r) => r.stalls === 0 && r.playing === r.clients).at(-1) ?? clientRows[0];
    const best = rateRows.reduce((a, b) => (b.requestsPerServerCore > a.requestsPerServerCore ? b : a));
    const figures = {
      maxRequestsPerSecond: max,
      requestsPerServerCoreAtMax: rateRows[0]!.requestsPerServerCore,
      serverCoresPer1000NonBlocking: rateRows[0]!.serverCoresPer1000,
      llHlsClientsRow: clean?.clients ?? null,
      serverCoresPer1000LlHlsClients: clean?.serverCoresPer1000 ?? null,
      requestsPerServerCoreLlHlsClients: clean ? 1000 / clean.serverCoresPer1000 : null,
      requestsPerLlHlsClient: clean ? clean.rate / clean.clients : null,
      bestRequestsPerServerCore: best.requestsPerServerCore,
    };
    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      config: {
        seconds: SECONDS,
        connections: CONNECTIONS,
        clients: CLIENT_COUNTS,
        renditions: '360',
        video,
        mix: { part: 0.45, playlistReady: 0.45, segment: 0.1 },
      },
      machine,
      baseline,
      clients: clientRows,
      rates: rateRows,
      figures,
    });

    console.log(`\nLL-HLS origin: requests per second and time to first byte (1 server process, room live: 640x360 H.264 passed through)`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)}`);
    console.log(`live room, no HLS client: server process ${fmt(baseline.server, 3)} cores (packaging), ffmpeg + worker ${fmt(baseline.children, 3)}\n`);
    console.log(
      formatTable(
        [
          'LL-HLS clients (load tool)',
          'playing',
          'req/s',
          'parts / playlist reloads / other',
          'server cores (net)',
          'server cores per 1000 req/s',
          'generator cores',
          'stalls',
          'errors',
          'load',
        ],
        clientRows.map((r) => [
          String(r.clients),
          `${r.playing}/${r.clients}`,
          fmt(r.rate, 0),
          `${fmt(r.mix.parts * 100, 0)} / ${fmt(r.mix.playlistReloads * 100, 0)} / ${fmt(r.mix.other * 100, 0)} %`,
          `${fmt(r.cpu.server, 3)} (${fmt(r.serverNet, 3)})`,
          fmt(r.serverCoresPer1000, 3),
          fmt(r.cpu.generator, 2),
          String(r.stalls),
          String(r.errors),
          fmt(r.loadAverage, 2),
        ]),
      ),
    );
    console.log('');
    console.log(
      formatTable(
        [
          'load (non-blocking mix)',
          'req/s',
          'TTFB p50 / p95 ms (all)',
          'part p50 / p95',
          'playlist p50 / p95',
          'segment p50 / p95',
          'server cores (net)',
          'req/s per server core',
          'generator cores',
          'failures',
          'load',
        ],
        rateRows.map((r) => [
          r.phase,
          fmt(r.rate, 0),
          `${fmt(r.ttfbAllMs.p50, 1)} / ${fmt(r.ttfbAllMs.p95, 1)}`,
          `${fmt(r.ttfbMs['part']?.p50, 1)} / ${fmt(r.ttfbMs['part']?.p95, 1)}`,
          `${fmt(r.ttfbMs['playlist']?.p50, 1)} / ${fmt(r.ttfbMs['playlist']?.p95, 1)}`,
          `${fmt(r.ttfbMs['segment']?.p50, 1)} / ${fmt(r.ttfbMs['segment']?.p95, 1)}`,
          `${fmt(r.cpu.server, 2)} (${fmt(r.serverNet, 2)})`,
          fmt(r.requestsPerServerCore, 0),
          fmt(r.cpu.generator, 2),
          String(Object.values(r.failures).reduce((a, b) => a + b, 0)),
          fmt(r.loadAverage, 2),
        ]),
      ),
    );
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
