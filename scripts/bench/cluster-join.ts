/**
 * Join → first frame across a cluster (issue 10, "First viewer on a fresh edge"):
 *
 *   bash scripts/bench/run cluster-join [--rounds=8]
 *
 * A private redis-server and three nodes as child processes on 127.0.0.2/.3/.4
 * (the drills' rig). Each round opens a new room with a publisher on node A
 * (werift SDK publisher, 320×180 VP8, a key frame every 1 s; it does not answer
 * PLIs, like ffmpeg or OBS over RTMP), waits for media at a viewer on A, then
 * joins, one after another and each measured from its join() call to its first
 * complete key frame:
 *
 *   - a viewer on the origin (A);
 *   - the first viewer on B, which makes B a fresh edge of the room (its pipe is
 *     set up inside that join);
 *   - a second viewer on B, once B is an edge.
 *
 * Target: the first viewer on a fresh edge at most 100 ms above a viewer on the
 * origin (p95), later viewers on that edge no different. Prints a table and
 * writes bench-results/cluster-join-<timestamp>.json.
 */
import os from 'node:os';
import { waitFor } from '../../test/helpers/wait.js';
import type { HeadlessViewer } from '../../test/helpers/headlessPeer.js';
import { ClusterRig } from '../drill/clusterRig.js';
import { BenchRun } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult } from './lib/results.js';
import { exitAfter } from './lib/benchMain.js';

const NAME = 'cluster-join';
const TARGET_EDGE_EXTRA_MS = 100;

type Role = 'origin viewer' | 'first viewer on a fresh edge' | 'second viewer on that edge';
const ROLES: readonly Role[] = ['origin viewer', 'first viewer on a fresh edge', 'second viewer on that edge'];

async function firstKeyFrameMs(viewer: HeadlessViewer): Promise<number> {
  await waitFor(() => viewer.stats().timeToFirstKeyframeMs !== undefined, { description: `${viewer.name}: a first key frame`, timeoutMs: 20_000 });
  return viewer.stats().timeToFirstKeyframeMs!;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2), ['rounds']);
  const rounds = Math.round(numberArg(args, 'rounds', 8));
  if (rounds < 1 || rounds > 30) throw new Error(`--rounds must be 1…30, got ${rounds}`);
  const run = new BenchRun(NAME, (rounds * 40 + 120) * 1000);
  try {
    const machine = machineInfo();
    const rig = await ClusterRig.start(run);
    const samples = new Map<Role, number[]>(ROLES.map((role) => [role, []]));
    const loads: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const room = `cj-${round}`;
      const publisher = await rig.publisher('node-a', room, `publisher-${round}`);
      const [warm] = await rig.viewers('node-a', room, 1, `warm-${round}`);
      await rig.waitForMedia([warm!], 'media at a viewer on the origin');
      const measured: Partial<Record<Role, number>> = {};
      const [onOrigin] = await rig.viewers('node-a', room, 1, `origin-${round}`);
      measured['origin viewer'] = await firstKeyFrameMs(onOrigin!);
      const [firstOnEdge] = await rig.viewers('node-b', room, 1, `edge1-${round}`);
      measured['first viewer on a fresh edge'] = await firstKeyFrameMs(firstOnEdge!);
      const [secondOnEdge] = await rig.viewers('node-b', room, 1, `edge2-${round}`);
      measured['second viewer on that edge'] = await firstKeyFrameMs(secondOnEdge!);
      for (const role of ROLES) samples.get(role)!.push(measured[role]!);
      loads.push(os.loadavg()[0]!);
      progress(NAME, `[${round + 1}/${rounds}] ${ROLES.map((role) => `${role} ${Math.round(measured[role]!)} ms`).join(', ')} (load ${fmt(loads.at(-1), 2)})`);
      for (const viewer of [warm, onOrigin, firstOnEdge, secondOnEdge]) await viewer?.close();
      await publisher.close();
    }
    const summaries = Object.fromEntries(ROLES.map((role) => [role, summarize(samples.get(role)!)]));
    const origin = summaries['origin viewer']!;
    const rows = ROLES.map((role) => {
      const s = summaries[role]!;
      return [
        role,
        String(s.count),
        fmt(s.p50, 0),
        fmt(s.p95, 0),
        fmt(s.max, 0),
        role === 'origin viewer' ? '—' : `${fmt(s.p50 - origin.p50, 0)} / ${fmt(s.p95 - origin.p95, 0)}`,
      ];
    });
    const extra = summaries['first viewer on a fresh edge']!.p95 - origin.p95;
    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      target: { freshEdgeExtraP95Ms: TARGET_EDGE_EXTRA_MS },
      machine,
      loads,
      samples: Object.fromEntries(samples),
      summaries,
    });
    console.log('\nJoin → first key frame across a cluster (publisher on A; viewers on A and on B, an edge)');
    console.log(
      `${machine.date.slice(0, 10)} · ${describeMachine(machine)} · load during the run ${fmt(Math.min(...loads), 2)}–${fmt(Math.max(...loads), 2)}\n`,
    );
    console.log(formatTable(['viewer', 'rounds', 'p50 ms', 'p95 ms', 'max ms', 'vs origin p50 / p95 ms'], rows));
    console.log(
      `\nfresh edge vs origin, p95: +${fmt(extra, 0)} ms (target ≤ ${TARGET_EDGE_EXTRA_MS} ms): ${extra <= TARGET_EDGE_EXTRA_MS ? 'met' : 'NOT MET'}`,
    );
    console.log(`results: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
