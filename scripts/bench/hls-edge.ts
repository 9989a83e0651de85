/**
 * HLS through the edge (scripts/edge: nginx, deploy/nginx; Varnish,
 * deploy/varnish): how many origin requests an object costs with 10, 100,
 * 1000 LL-HLS clients behind one edge, and how much later the clients get
 * their media than clients loading from the origin directly.
 *
 * One test server (real mediasoup, ffmpeg, packager; HLS_RENDITIONS 720,240)
 * with a live room (ffmpeg H.264 test pattern publisher). Per audience size N:
 * a fresh edge per --proxy (empty cache, empty log), N LL-HLS clients through
 * each (scripts/loadtest/llHlsClient.ts, the 240p rendition, started over
 * --ramp s) and --direct clients on the origin, all at the same time, for
 * --seconds s: the proxies are compared against the same direct clients, at
 * the same moments of the same stream. Then, per proxy:
 *   - origin requests per object from the edge's access log
 *     (scripts/edge/accessLog.ts), overall and for parts and blocking
 *     playlist reloads (target ≤ 1.1);
 *   - how much later media reaches clients through the edge: part arrival
 *     lag (arrival − the part's end per EXT-X-PROGRAM-DATE-TIME) of edge vs
 *     direct clients at the same time, added = edge p50 − direct p50
 *     (target ≤ 0.3 s). Latency to live (now − the simulated playhead's
 *     program-date-time) is shown too; it also holds each client's start
 *     position (the tool does not seek or speed up to catch up as hls.js does).
 * All clients share this process's event loop, so a loop that cannot keep
 * up delays direct and edge clients alike (its delay is reported).
 *
 *   bash scripts/bench/run hls-edge [--clients=10,100,1000] [--proxy=nginx,varnish] [--seconds=20] [--ramp=2] [--direct=10]
 */
import os from 'node:os';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { collapseFigures, type CollapseFigures } from '../edge/accessLog.js';
import { NginxEdge } from '../edge/nginxEdge.js';
import { VarnishEdge } from '../edge/varnishEdge.js';
import { LlHlsClient } from '../loadtest/llHlsClient.js';
import { startLiveHlsRoom } from '../../test/helpers/liveHlsRoom.js';
import { startTestServer } from '../../test/helpers/testServer.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'hls-edge';
const args = parseArgs(process.argv.slice(2), ['clients', 'proxy', 'seconds', 'ramp', 'direct']);
const AUDIENCES = (args.get('clients') ?? '10,100,1000').split(',').map((s) => {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1 || n > 5000) throw new Error(`--clients: ${s} is not a count between 1 and 5000`);
  return n;
});
const PROXY_NAMES = ['nginx', 'varnish'] as const;
type Proxy = (typeof PROXY_NAMES)[number];
const PROXIES = [
  ...new Set(
    (args.get('proxy') ?? PROXY_NAMES.join(',')).split(',').map((s): Proxy => {
      const name = PROXY_NAMES.find((p) => p === s.trim());
      if (!name) throw new Error(`--proxy: ${s} is not one of ${PROXY_NAMES.join(', ')}`);
      return name;
    }),
  ),
];
const SECONDS = numberArg(args, 'seconds', 20);
const RAMP_SECONDS = numberArg(args, 'ramp', 2);
const DIRECT = numberArg(args, 'direct', 10);
const TARGET_PER_OBJECT = 1.1;
const TARGET_ADDED_S = 0.3;
const ROOM = 'bench-hls-edge';

interface Side {
  clients: number;
  playing: number;
  stalls: number;
  latencyToLiveMs: Summary;
  arrivalLagMs: Summary;
  errors: number;
}

interface ProxyResult {
  proxy: Proxy;
  edge: Side;
  collapse: CollapseFigures;
  /** Latency to live, edge p50 − direct p50. */
  addedLatencyS: number;
  /** Part arrival lag, edge p50 − direct p50 (the target's figure). */
  addedArrivalS: number;
  /** Part arrival lag, edge p95 − direct p95. */
  addedArrivalP95S: number;
}

interface AudienceResult {
  clients: number;
  direct: Side;
  proxies: ProxyResult[];
  loopDelayP99Ms: number;
  loadAverage: number;
}

function side(clients: LlHlsClient[]): Side {
  const stats = clients.map((c) => c.stats());
  return {
    clients: stats.length,
    playing: stats.filter((s) => s.joinToFirstPartMs !== null).length,
    stalls: stats.reduce((sum, s) => sum + s.stalls, 0),
    // Steady state only: samples from the second half of each client's run.
    latencyToLiveMs: summarize(stats.flatMap((s) => s.latencyMs.slice(Math.floor(s.latencyMs.length / 2)))),
    arrivalLagMs: summarize(stats.flatMap((s) => s.arrivalLagMs.slice(Math.floor(s.arrivalLagMs.length / 2)))),
    errors: stats.reduce((sum, s) => sum + Object.values(s.errors).reduce((a, b) => a + b, 0), 0),
  };
}

function startEdge(proxy: Proxy, originUrl: string): Promise<NginxEdge | VarnishEdge> {
  return proxy === 'varnish' ? VarnishEdge.start({ origins: [originUrl] }) : NginxEdge.start({ origins: [originUrl] });
}

async function measure(originUrl: string, masterPath: string, clients: number): Promise<AudienceResult> {
  const edges: Array<{ proxy: Proxy; edge: NginxEdge | VarnishEdge; clients: LlHlsClient[] }> = [];
  const direct: LlHlsClient[] = [];
  const loop = monitorEventLoopDelay({ resolution: 10 });
  try {
    for (const proxy of PROXIES) edges.push({ proxy, edge: await startEdge(proxy, originUrl), clients: [] });
    for (let i = 0; i < DIRECT; i++) direct.push(new LlHlsClient({ masterUrl: `${originUrl}${masterPath}`, id: `direct-${clients}-${i}`, variant: 'lowest' }));
    for (const c of direct) c.start();
    for (const { proxy, edge, clients: viaEdge } of edges) {
      for (let i = 0; i < clients; i++) {
        const client = new LlHlsClient({ masterUrl: `${edge.url}${masterPath}`, id: `${proxy}-${clients}-${i}`, variant: 'lowest' });
        viaEdge.push(client);
        setTimeout(() => client.start(), (RAMP_SECONDS * 1000 * i) / Math.max(1, clients - 1));
      }
    }
    loop.enable();
    const started = Date.now();
    while (Date.now() - started < SECONDS * 1000) {
      await sleep(5_000);
      const through = edges.map(({ proxy, clients: viaEdge }) => {
        const s = side(viaEdge);
        return `${proxy} ${s.playing}/${clients} playing, ${s.errors} errors`;
      });
      progress(NAME, `[${clients}] ${through.join('; ')}; loop p99 ${fmt(loop.percentile(99) / 1e6, 0)} ms`);
    }
    loop.disable();
    await Promise.all([...edges.flatMap((e) => e.clients), ...direct].map((c) => c.close()));
    const directSide = side(direct);
    const proxies: ProxyResult[] = [];
    for (const { proxy, edge, clients: viaEdge } of edges) {
      const edgeSide = side(viaEdge);
      proxies.push({
        proxy,
        edge: edgeSide,
        collapse: collapseFigures(await edge.accessLog()),
        addedLatencyS: (edgeSide.latencyToLiveMs.p50 - directSide.latencyToLiveMs.p50) / 1000,
        addedArrivalS: (edgeSide.arrivalLagMs.p50 - directSide.arrivalLagMs.p50) / 1000,
        addedArrivalP95S: (edgeSide.arrivalLagMs.p95 - directSide.arrivalLagMs.p95) / 1000,
      });
    }
    return { clients, direct: directSide, proxies, loopDelayP99Ms: loop.percentile(99) / 1e6, loadAverage: os.loadavg()[0]! };
  } finally {
    await Promise.all([...edges.flatMap((e) => e.clients), ...direct].map((c) => c.close()));
    for (const { edge } of edges) await edge.close();
  }
}

async function main(): Promise<void> {
  const run = new BenchRun(NAME, (AUDIENCES.length * (SECONDS + 60 + 20 * PROXIES.length) + 120) * 1000);
  try {
    const machine = machineInfo();
    const server = run.defer('server', await startTestServer({ HLS_RENDITIONS: '720,240' }), (s) => s.close());
    const room = run.defer('publisher', await startLiveHlsRoom(server, ROOM), (r) => r.publisher.close());
    progress(NAME, `live room ${ROOM} on ${server.url}`);
    const results: AudienceResult[] = [];
    for (const clients of AUDIENCES) {
      progress(NAME, `${clients} clients through each edge (${PROXIES.join(', ')}) + ${DIRECT} direct, ${SECONDS} s`);
      results.push(await measure(server.url, room.masterPath, clients));
    }
    const rows = results.flatMap((r) => r.proxies.map((p) => ({ audience: r, ...p })));
    const table = formatTable(
      [
        'clients via edge',
        'proxy',
        'playing',
        'origin req/object (all / parts / blocking reloads)',
        'client req per origin req',
        'part arrival lag p50 edge / direct (s)',
        'added by the edge p50 / p95 (s)',
        'latency to live p50 edge / direct (s)',
        'stalls edge / direct',
        'loop p99 ms / load',
      ],
      rows.map((r) => [
        String(r.audience.clients),
        r.proxy,
        `${r.edge.playing}/${r.edge.clients}`,
        `${fmt(r.collapse.originRequestsPerObject, 3)} / ${fmt(r.collapse.byKind.part?.perObject, 3)} / ${fmt(r.collapse.byKind['blocking-playlist']?.perObject, 3)}`,
        fmt(r.collapse.clientRequests / Math.max(1, r.collapse.originRequests), 1),
        `${fmt(r.edge.arrivalLagMs.p50 / 1000, 2)} / ${fmt(r.audience.direct.arrivalLagMs.p50 / 1000, 2)}`,
        `${fmt(r.addedArrivalS, 2)} / ${fmt(r.addedArrivalP95S, 2)}`,
        `${fmt(r.edge.latencyToLiveMs.p50 / 1000, 2)} / ${fmt(r.audience.direct.latencyToLiveMs.p50 / 1000, 2)}`,
        `${r.edge.stalls} / ${r.audience.direct.stalls}`,
        `${fmt(r.audience.loopDelayP99Ms, 0)} / ${fmt(r.audience.loadAverage, 2)}`,
      ]),
    );
    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      targets: { originRequestsPerObject: TARGET_PER_OBJECT, addedLatencySeconds: TARGET_ADDED_S },
      config: {
        audiences: AUDIENCES,
        proxies: PROXIES,
        seconds: SECONDS,
        rampSeconds: RAMP_SECONDS,
        direct: DIRECT,
        renditions: '720,240',
        variant: 'lowest',
      },
      machine,
      results,
    });
    console.log(`\nHLS edge (${PROXIES.join(', ')}): origin requests per object and added latency`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)}\n`);
    console.log(table);
    const missed = rows.filter(
      (r) => r.collapse.originRequestsPerObject > TARGET_PER_OBJECT || r.addedArrivalS > TARGET_ADDED_S || r.addedArrivalP95S > TARGET_ADDED_S,
    );
    if (missed.length)
      console.log(
        `\ntargets (≤ ${TARGET_PER_OBJECT} origin requests per object, ≤ ${TARGET_ADDED_S} s added at p50 and p95) missed for: ${missed.map((r) => `${r.proxy} ${r.audience.clients}`).join(', ')} clients`,
      );
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
