/**
 * Origin kill under load (issue 12's target: killing one origin with SIGKILL
 * while 200 HLS players watch through the edge costs each player at most one
 * stall, of at most 2 s; none stops).
 *
 * The drill of test/integration/hlsOriginKill.test.ts (scripts/edge/originKillDrill.ts):
 * node A (origin, H.264 publisher), B and C (`hls` nodes, both recording the
 * room), the nginx edge in front of B and C. Each round: --clients LL-HLS
 * clients (the load tool's, on their own thread) through the edge; once all
 * play 5 s, the recorder that records first is SIGKILLed; the round ends when
 * every client has loaded --after s more media (or after --after + 45 s).
 * Then the killed node is started again (same address and HLS directory) and
 * the next round waits until both recorders serve. Per player: stalls that
 * began after the kill and their durations; players that stopped (no media
 * in the last 3 s).
 *
 *   bash scripts/bench/run hls-origin-kill [--kills=5] [--clients=200] [--after=15] [--edge=balanced|primary-backup]
 *
 * Bounded: at most 20 kills and 1000 clients.
 */
import os from 'node:os';
import { MAX_STALL_MS, OriginKillDrill, STOPPED_AFTER_MS, WATCH_PAGE_HOLD_BACK_S, killCost, killFigures, type KillFigures } from '../edge/originKillDrill.js';
import type { LlHlsClientStats } from '../loadtest/llHlsClient.js';
import { LlHlsClientThreads } from '../loadtest/llHlsClientThread.js';
import { waitFor } from '../../test/helpers/wait.js';
import { exitAfter } from './lib/benchMain.js';
import { BenchRun } from './lib/lifecycle.js';
import { describeMachine, machineInfo } from './lib/machine.js';
import { choicesArg, fmt, formatTable, numberArg, parseArgs, progress, summarize, writeResult, type Summary } from './lib/results.js';

const NAME = 'hls-origin-kill';
const args = parseArgs(process.argv.slice(2), ['kills', 'clients', 'after', 'edge']);
const KILLS = numberArg(args, 'kills', 5);
const CLIENTS = numberArg(args, 'clients', 200);
const AFTER_S = numberArg(args, 'after', 15);
const EDGE = choicesArg(args, 'edge', 'balanced', ['balanced', 'primary-backup'] as const)[0]!;
if (!Number.isInteger(KILLS) || KILLS < 1 || KILLS > 20) throw new Error(`--kills=${KILLS}: 1 to 20`);
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 1000) throw new Error(`--clients=${CLIENTS}: 1 to 1000`);
if (!(AFTER_S >= 5 && AFTER_S <= 120)) throw new Error(`--after=${AFTER_S}: 5 to 120 s`);
const ROOM = 'bench-origin-kill';

interface RoundResult {
  round: number;
  killed: string;
  /** All clients played 5 s before the kill. */
  allPlaying: boolean;
  stallsBeforeKill: number;
  figures: Omit<KillFigures, 'stallDurationsMs'>;
  stallMs: Summary;
  stallsPerPlayer: { mean: number; max: number };
  loadAverage: number;
}

async function round(drill: OriginKillDrill, index: number): Promise<RoundResult> {
  const clients = await LlHlsClientThreads.start({
    threads: os.availableParallelism(),
    masterUrl: `${drill.edgeUrl}${drill.masterPath}`,
    count: CLIENTS,
    holdBackSeconds: WATCH_PAGE_HOLD_BACK_S,
    idPrefix: `r${index}`,
  });
  try {
    let latest: LlHlsClientStats[] = [];
    const allPlaying = await waitFor(async () => (latest = await clients.stats()).every((s) => s.mediaSeconds >= 5), {
      description: `all ${CLIENTS} clients to play 5 s`,
      timeoutMs: 60_000,
      progressEveryMs: 0,
    }).then(
      () => true,
      () => false,
    );
    const stallsBeforeKill = latest.reduce((sum, s) => sum + s.stalls, 0);
    const killed = await drill.firstRecorder();
    const atKill = await clients.stats();
    await drill.kill(killed);
    progress(NAME, `round ${index}: killed ${killed} (${allPlaying ? 'all' : 'not all'} clients playing, ${stallsBeforeKill} stalls before)`);
    await waitFor(async () => (await clients.stats()).every((s, i) => s.mediaSeconds >= atKill[i]!.mediaSeconds + AFTER_S), {
      description: `every client to load ${AFTER_S} s more media`,
      timeoutMs: (AFTER_S + 45) * 1000,
      progressEveryMs: 0,
    }).catch(() => undefined);
    const endedAt = performance.now();
    const atEnd = await clients.close();
    const costs = atEnd.map((s, i) => killCost(atKill[i]!, s, endedAt, STOPPED_AFTER_MS));
    const { stallDurationsMs, ...figures } = killFigures(costs, MAX_STALL_MS);
    return {
      round: index,
      killed,
      allPlaying,
      stallsBeforeKill,
      figures,
      stallMs: summarize(stallDurationsMs),
      stallsPerPlayer: { mean: figures.stalls / Math.max(1, figures.clients), max: Math.max(0, ...costs.map((c) => c.stalls)) },
      loadAverage: os.loadavg()[0]!,
    };
  } finally {
    await clients.close();
  }
}

async function main(): Promise<void> {
  const run = new BenchRun(NAME, (KILLS * (AFTER_S + 200) + 180) * 1000);
  try {
    const machine = machineInfo();
    progress(NAME, `starting node A, recorders B and C, the edge (${EDGE})`);
    const drill = run.defer('drill', await OriginKillDrill.start({ room: ROOM, edgeMode: EDGE }), (d) => d.close());
    const results: RoundResult[] = [];
    for (let i = 1; i <= KILLS; i++) {
      const result = await round(drill, i);
      results.push(result);
      const f = result.figures;
      progress(
        NAME,
        `round ${i}: ${f.stalledClients}/${f.clients} stalled, max stall ${fmt(result.stallMs.max, 0)} ms, ${f.overOneStall} > 1 stall, ${f.stopped} stopped`,
      );
      progress(NAME, `restarting ${result.killed}`);
      await drill.restart(result.killed);
    }
    const table = formatTable(
      [
        'kill',
        'killed',
        'players stalled',
        'stalls/player mean / max',
        'stall ms p50 / p95 / max',
        '> 1 stall',
        `stall > ${MAX_STALL_MS} ms`,
        'stopped',
        'stalls before kill',
        'load',
      ],
      results.map((r) => [
        String(r.round),
        r.killed,
        `${r.figures.stalledClients}/${r.figures.clients}`,
        `${fmt(r.stallsPerPlayer.mean, 2)} / ${r.stallsPerPlayer.max}`,
        `${fmt(r.stallMs.p50, 0)} / ${fmt(r.stallMs.p95, 0)} / ${fmt(r.stallMs.max, 0)}`,
        String(r.figures.overOneStall),
        String(r.figures.overLongStall),
        String(r.figures.stopped),
        `${r.stallsBeforeKill}${r.allPlaying ? '' : ' (not all playing)'}`,
        fmt(r.loadAverage, 2),
      ]),
    );
    const met = results.filter((r) => r.figures.overOneStall === 0 && r.figures.overLongStall === 0 && r.figures.stopped === 0).length;
    const file = writeResult(NAME, {
      benchmark: NAME,
      command: `bash scripts/bench/run ${NAME} ${process.argv.slice(2).join(' ')}`.trim(),
      target: { maxStallsPerPlayer: 1, maxStallMs: MAX_STALL_MS, stopped: 0 },
      config: { kills: KILLS, clients: CLIENTS, afterSeconds: AFTER_S, edge: EDGE, renditions: '360 (H.264 passthrough)' },
      machine,
      results,
      roundsMeetingTarget: met,
    });
    console.log(`\nOrigin kill (SIGKILL of the first recorder) under ${CLIENTS} LL-HLS players through the edge (${EDGE})`);
    console.log(`${machine.date.slice(0, 10)} · ${describeMachine(machine)}\n`);
    console.log(table);
    console.log(`\ntarget (every player ≤ 1 stall of ≤ ${MAX_STALL_MS} ms, none stopped) met in ${met}/${results.length} kills`);
    console.log(`\nresults: ${file}`);
  } finally {
    await run.cleanup();
  }
}

await exitAfter(NAME, main);
