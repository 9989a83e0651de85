/**
 * The cost of cascading (issue 10, "Cost of an edge"):
 *
 *   bash scripts/bench/run edge-cost [--viewers=90] [--seconds=25] [--rounds=2] [--bitrate=1200]
 *
 * A private redis-server and three nodes as child processes on 127.0.0.2/.3/.4
 * (1 mediasoup worker each, HLS off, default stats interval, empty rooms kept
 * 10 min so an edge with no viewers keeps its pipe). One room, a werift SDK
 * publisher on node A (640×360 H.264 at --bitrate kbps + Opus). Viewers are
 * the load tool's (scripts/loadtest/webrtcViewerPool.ts). Windows, each a
 * steady --seconds once every viewer has media:
 *
 *   idle        three nodes, no room
 *   publisher   the broadcast on A, no viewer anywhere
 *   one node    N viewers, all on A
 *   pipes       edges B and C with a pipe each and no viewer (one viewer
 *               joined each and left; the pipes' producers are checked on
 *               each edge's /metrics)
 *   spread      N viewers, N/3 on each of A, B, C (over those pipes)
 *   then, for --rounds > 1, one node (beside the idle pipes) and spread again
 *
 * CPU is CPU time from /proc of each node process (Node: signaling, registry,
 * bus, stats) and of its mediasoup worker, so contention from other work on
 * the machine changes it little. Reported:
 *   - per piped broadcast: the edge's CPU with a pipe and no viewer minus idle,
 *     and the origin's extra CPU per pipe it feeds;
 *   - CPU per viewer, summed over every process of the three nodes, averaged
 *     over the rounds: on one node (window − the window before the viewers
 *     came) and spread once the pipes exist (window − pipes), and spread with
 *     the two pipes charged to the N viewers;
 *   - cluster overhead per viewer = spread / one node − 1 (target ≤ 10 %),
 *     and the same over the workers only (the node processes' own CPU is
 *     small and noisy: registry renewals, stats, the event loop).
 * Counts stay modest on a 2-core machine (the viewers run in this process
 * beside the three nodes); the ratios compare windows of one run.
 */
import os from 'node:os';
import { TokenService } from '../../server/auth/tokens.js';
import { spawnClusterNode, type ChildNode } from '../../test/helpers/clusterNodes.js';
import { HeadlessPublisher } from '../../test/helpers/headlessPeer.js';
import { RedisServer } from '../../test/helpers/redisServer.js';
import { TEST_AUTH_SECRET } from '../../test/helpers/testServer.js';
import { waitFor } from '../../test/helpers/wait.js';
import { WebrtcViewerPool } from '../loadtest/webrtcViewerPool.js';
import { exitAfter } from './lib/benchMain.js';
import { BenchRun, sleep } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { TreeCpuWindow } from './lib/processTreeCpu.js';
import { fmt, formatTable, numberArg, parseArgs, progress, writeResult } from './lib/results.js';

const NAME = 'edge-cost';
const TARGET_OVERHEAD = 0.1;
const NODES = [
  { id: 'node-a', ip: '127.0.0.2' },
  { id: 'node-b', ip: '127.0.0.3' },
  { id: 'node-c', ip: '127.0.0.4' },
] as const;
type NodeId = (typeof NODES)[number]['id'];
const ROOM = 'bench-edge-cost';
const WORKER_COMMAND = /^mediasoup-work/;

const args = parseArgs(process.argv.slice(2), ['viewers', 'seconds', 'bitrate', 'rounds']);
const VIEWERS = Math.round(numberArg(args, 'viewers', 90));
const SECONDS = numberArg(args, 'seconds', 25);
const ROUNDS = Math.round(numberArg(args, 'rounds', 2));
const BITRATE_KBPS = numberArg(args, 'bitrate', 1200);
if (VIEWERS < 3 || VIEWERS > 300 || VIEWERS % 3 !== 0) throw new Error(`--viewers must be a multiple of 3 between 3 and 300, got ${VIEWERS}`);

/** CPU of one node over a window, cores. */
interface NodeCpu {
  node: number;
  worker: number;
}
type PhaseCpu = Record<NodeId, NodeCpu>;

interface Phase {
  name: string;
  cpu: PhaseCpu;
  /** All processes of all nodes, cores. */
  total: number;
  viewersPlaying: number;
  freezes: number;
  loadAverage: number;
}

const total = (cpu: PhaseCpu): number => Object.values(cpu).reduce((sum, c) => sum + c.node + c.worker, 0);

/** One measurement window over every node, after a short settle. */
async function measure(name: string, nodes: Map<NodeId, ChildNode>, pools: WebrtcViewerPool[]): Promise<Phase> {
  await sleep(3_000);
  for (const pool of pools) pool.sample();
  const before = pools.flatMap((p) => p.stats()).reduce((sum, s) => sum + s.freezes, 0);
  const windows = [...nodes].map(([id, node]) => [id, new TreeCpuWindow(node.process.pid!, WORKER_COMMAND)] as const);
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    await sleep(1_000);
    for (const pool of pools) pool.sample();
  }
  const cpu = Object.fromEntries(
    windows.map(([id, window]) => {
      const c = window.cores();
      return [id, { node: c.main, worker: c.children }];
    }),
  ) as PhaseCpu;
  const stats = pools.flatMap((p) => p.stats());
  const phase: Phase = {
    name,
    cpu,
    total: total(cpu),
    viewersPlaying: stats.filter((s) => s.joinToFirstFrameMs !== null).length,
    freezes: stats.reduce((sum, s) => sum + s.freezes, 0) - before,
    loadAverage: os.loadavg()[0]!,
  };
  progress(
    NAME,
    `${name}: ${NODES.map(({ id }) => `${id} ${fmt(cpu[id].node, 3)}+${fmt(cpu[id].worker, 3)}`).join(', ')} cores (node+worker); total ${fmt(phase.total, 3)}; load ${fmt(phase.loadAverage, 2)}`,
  );
  return phase;
}

/** mediasoup producers on a node's worker(s), from its /metrics. */
async function producersOn(node: ChildNode): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  return [...text.matchAll(/^floodlight_worker_media_objects\{[^}]*kind="producer"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

async function viewersWithMedia(run: BenchRun, node: ChildNode, count: number, label: string): Promise<WebrtcViewerPool> {
  const pool = run.defer(label, new WebrtcViewerPool({ url: node.url, room: ROOM, loopbackOnly: true }), (p) => p.close());
  for (let i = 0; i < count; i++) {
    pool.add(`${label}-${i}`);
    await sleep(100); // 10 joins a second: the staggered join of the viewers benchmark
  }
  await waitFor(
    () => {
      pool.sample();
      const stats = pool.stats();
      const failed = stats.find((s) => Object.keys(s.errors).length > 0);
      if (failed) throw new Error(`${label}: viewer ${failed.id} failed: ${Object.keys(failed.errors).join(', ')}`);
      return stats.every((s) => s.joinToFirstFrameMs !== null);
    },
    { description: `${count} viewers on ${node.nodeId} with a first frame`, timeoutMs: 60_000 },
  );
  return pool;
}

async function main(): Promise<void> {
  const run = new BenchRun(NAME, ((3 + 2 * ROUNDS) * (SECONDS + 25) + 240) * 1000);
  try {
    const machine = machineInfo();
    const redis = run.defer('redis-server', await RedisServer.start(), (r) => r.stop());
    const nodes = new Map<NodeId, ChildNode>();
    for (const { id, ip } of NODES) {
      const env = { ROOM_GRACE_SECONDS: '600' };
      nodes.set(
        id,
        run.defer(id, await spawnClusterNode(redis.url, id, ip, env), (n) => n.process.stop()),
      );
    }
    const node = (id: NodeId) => nodes.get(id)!;
    progress(NAME, `redis ${redis.url}; ${[...nodes].map(([id, n]) => `${id} ${n.url}`).join(', ')}`);

    const phases: Phase[] = [await measure('idle', nodes, [])];

    const token = await new TokenService(TEST_AUTH_SECRET).issue({ room: ROOM, role: 'publisher' }, 3600);
    const video = { codec: 'H264' as const, width: 640, height: 360, bitrateKbps: BITRATE_KBPS, keyframeIntervalSec: 1 };
    const publisher = run.defer('publisher', new HeadlessPublisher({ url: node('node-a').url, room: ROOM, token, name: 'publisher', video }), (p) => p.close());
    await publisher.publish();
    // Media reaches the origin's router: one probe viewer there, then it leaves.
    const probe = await viewersWithMedia(run, node('node-a'), 1, 'probe-a');
    await probe.close();
    const onlyPublisher = await measure('publisher', nodes, []);
    phases.push(onlyPublisher);

    const viewerWindows: { kind: 'one node' | 'spread'; phase: Phase; base: Phase }[] = [];
    const oneNodeWindow = async (label: string, base: Phase) => {
      const single = await viewersWithMedia(run, node('node-a'), VIEWERS, label);
      viewerWindows.push({ kind: 'one node', phase: await measure(`${VIEWERS} on A (${label})`, nodes, [single]), base });
      await single.close();
    };
    await oneNodeWindow('one node', onlyPublisher);

    const baseProducers = { b: await producersOn(node('node-b')), c: await producersOn(node('node-c')) };
    for (const id of ['node-b', 'node-c'] as const) {
      const opener = await viewersWithMedia(run, node(id), 1, `opener-${id}`);
      await opener.close();
    }
    const pipesUp = async () => (await producersOn(node('node-b'))) >= baseProducers.b + 2 && (await producersOn(node('node-c'))) >= baseProducers.c + 2;
    await waitFor(pipesUp, { description: 'a pipe (audio and video producers) on each edge after its viewer left', timeoutMs: 10_000 });
    const pipes = await measure('pipes, no viewer', nodes, []);
    phases.push(pipes);
    if (!(await pipesUp())) throw new Error('an edge dropped its pipe during the pipes window');

    for (let round = 1; round <= ROUNDS; round++) {
      // Later rounds measure one node again, now beside the idle pipes (subtracted with their window).
      if (round > 1) await oneNodeWindow(`one node, round ${round}`, pipes);
      const spread = await Promise.all(NODES.map(({ id }) => viewersWithMedia(run, node(id), VIEWERS / 3, `spread-${round}-${id}`)));
      viewerWindows.push({ kind: 'spread', phase: await measure(`${VIEWERS / 3} on each node, round ${round}`, nodes, spread), base: pipes });
      for (const pool of spread) await pool.close();
    }
    phases.push(...viewerWindows.map((w) => w.phase));

    const idle = phases[0]!;
    const workers = (phase: Phase) => Object.values(phase.cpu).reduce((sum, c) => sum + c.worker, 0);
    /** Mean over the windows of one kind of (window − its base) / viewers: all processes, and workers only. */
    const perViewer = (kind: 'one node' | 'spread') => {
      const list = viewerWindows.filter((w) => w.kind === kind);
      return {
        all: list.reduce((sum, w) => sum + (w.phase.total - w.base.total) / VIEWERS, 0) / list.length,
        workers: list.reduce((sum, w) => sum + (workers(w.phase) - workers(w.base)) / VIEWERS, 0) / list.length,
      };
    };
    const cpuOf = (phase: Phase, id: NodeId) => phase.cpu[id].node + phase.cpu[id].worker;
    const edgeWorkerPerPipe = (pipes.cpu['node-b'].worker - idle.cpu['node-b'].worker + pipes.cpu['node-c'].worker - idle.cpu['node-c'].worker) / 2;
    const edgeNodePerPipe = (pipes.cpu['node-b'].node - idle.cpu['node-b'].node + pipes.cpu['node-c'].node - idle.cpu['node-c'].node) / 2;
    const originWorkerPerPipe = (pipes.cpu['node-a'].worker - onlyPublisher.cpu['node-a'].worker) / 2;
    const originNodePerPipe = (pipes.cpu['node-a'].node - onlyPublisher.cpu['node-a'].node) / 2;
    const one = perViewer('one node');
    const spreadMarginal = perViewer('spread');
    // The two idle pipes, charged to the spread viewers.
    const pipesPerViewer = { all: (pipes.total - onlyPublisher.total) / VIEWERS, workers: (workers(pipes) - workers(onlyPublisher)) / VIEWERS };
    const perViewerOneNode = one.all;
    const perViewerSpread = spreadMarginal.all + pipesPerViewer.all;
    const perViewerSpreadMarginal = spreadMarginal.all;
    const overhead = perViewerSpread / perViewerOneNode - 1;
    const marginalOverhead = perViewerSpreadMarginal / perViewerOneNode - 1;
    // Overhead with n viewers per edge = marginal + (one edge's pipe, both ends) / (n × per viewer): ≤ target from this n on.
    const pipeCostPerEdge = (pipes.total - onlyPublisher.total) / 2;
    const viewersPerEdgeForTarget =
      marginalOverhead < TARGET_OVERHEAD ? pipeCostPerEdge / ((TARGET_OVERHEAD - marginalOverhead) * perViewerOneNode) : Number.NaN;
    const workerOverhead = (spreadMarginal.workers + pipesPerViewer.workers) / one.workers - 1;
    const workerMarginalOverhead = spreadMarginal.workers / one.workers - 1;
    const figures = {
      broadcastOnOriginCores: {
        node: onlyPublisher.cpu['node-a'].node - idle.cpu['node-a'].node,
        worker: onlyPublisher.cpu['node-a'].worker - idle.cpu['node-a'].worker,
      },
      perPipedBroadcastCores: {
        edge: { node: edgeNodePerPipe, worker: edgeWorkerPerPipe },
        origin: { node: originNodePerPipe, worker: originWorkerPerPipe },
      },
      perViewerCores: { oneNode: perViewerOneNode, spread: perViewerSpread, spreadMarginal: perViewerSpreadMarginal },
      perViewerWorkerCores: { oneNode: one.workers, spreadMarginal: spreadMarginal.workers, pipes: pipesPerViewer.workers },
      clusterOverheadPerViewer: overhead,
      marginalOverheadPerViewer: marginalOverhead,
      workerOverheadPerViewer: workerOverhead,
      workerMarginalOverheadPerViewer: workerMarginalOverhead,
      pipeCostPerEdgeCores: pipeCostPerEdge,
      viewersPerEdgeForTarget,
    };
    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      target: { clusterOverheadPerViewer: TARGET_OVERHEAD },
      config: { viewers: VIEWERS, seconds: SECONDS, rounds: ROUNDS, video, workersPerNode: 1 },
      machine,
      phases,
      figures,
    });

    console.log(`\nCost of an edge: 3 nodes, 1 worker each; one broadcast 640x360 H.264 ${BITRATE_KBPS} kbps + Opus; ${VIEWERS} viewers`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)}\n`);
    console.log(
      formatTable(
        ['phase', 'A node+worker', 'B node+worker', 'C node+worker', 'all nodes', 'viewers playing', 'freezes', 'load'],
        phases.map((p) => [
          p.name,
          ...NODES.map(({ id }) => `${fmt(p.cpu[id].node, 3)}+${fmt(p.cpu[id].worker, 3)} (${fmt(cpuOf(p, id), 3)})`),
          fmt(p.total, 3),
          String(p.viewersPlaying),
          String(p.freezes),
          fmt(p.loadAverage, 2),
        ]),
      ),
    );
    const pct = (cores: number) => `${fmt(cores * 100, 2)} %`;
    console.log(
      `\n${formatTable(
        ['figure', 'CPU (% of a core)'],
        [
          [
            'the broadcast on its origin, no viewer (node / worker)',
            `${pct(figures.broadcastOnOriginCores.node)} / ${pct(figures.broadcastOnOriginCores.worker)}`,
          ],
          ['per piped broadcast, on the edge with no viewer (node / worker)', `${pct(edgeNodePerPipe)} / ${pct(edgeWorkerPerPipe)}`],
          ['per pipe, on the origin feeding it (node / worker)', `${pct(originNodePerPipe)} / ${pct(originWorkerPerPipe)}`],
          ['per viewer, all on one node', pct(perViewerOneNode)],
          ['per viewer, spread over 3 nodes (pipes included)', pct(perViewerSpread)],
          ['per viewer, spread, once the pipes exist', pct(perViewerSpreadMarginal)],
          [
            'workers only: per viewer on one node / spread once piped / pipes per viewer',
            `${pct(one.workers)} / ${pct(spreadMarginal.workers)} / ${pct(pipesPerViewer.workers)}`,
          ],
        ],
      )}`,
    );
    console.log(
      `\ncluster overhead per viewer: ${fmt(marginalOverhead * 100, 1)} % per further viewer once an edge has its pipe (target ≤ ${TARGET_OVERHEAD * 100} %): ${marginalOverhead <= TARGET_OVERHEAD ? 'met' : 'NOT MET'}; ` +
        `${fmt(overhead * 100, 1)} % with the pipes charged to ${VIEWERS / 3} viewers per node (${Number.isFinite(viewersPerEdgeForTarget) ? `≤ ${TARGET_OVERHEAD * 100} % from ${fmt(viewersPerEdgeForTarget, 0)} viewers per edge node` : 'over the target at any audience'})`,
    );
    console.log(`workers only: ${fmt(workerOverhead * 100, 1)} % with the pipes, ${fmt(workerMarginalOverhead * 100, 1)} % per further viewer`);
    console.log(`results: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
