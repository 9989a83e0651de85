/**
 * Cluster failure drills (issue 10, "Failures"), dispatched from drill.ts:
 *
 *   npm run drill -- node-edge   [--viewers=6] [--max-gap-ms=5000]
 *   npm run drill -- node-origin [--viewers=6] [--max-gap-ms=5000] [--lease-ms=3000]
 *   npm run drill -- redis       [--viewers=6] [--max-gap-ms=1000] [--down-ms=8000]
 *   npm run drill -- drain       [--viewers=6] [--max-gap-ms=1000]
 *
 * Each: a private redis-server, nodes A, B, C as child processes on
 * 127.0.0.2/.3/.4 (clusterRig.ts), an SDK publisher and N SDK viewers, every
 * viewer sampled every ~20 ms (frameTimeline.ts). The failure, then per viewer
 * the longest interruption (last frame before → first frame after) and
 * p50/p95/max over the viewers, PASS/FAIL against the issue's targets, a
 * Markdown table, bench-results/drill-<name>-<timestamp>.json.
 */
import type { Socket } from 'socket.io-client';
import { isJoinRedirect, type Ack, type JoinAnswer, type JoinRedirect } from '../../server/contracts/signaling.js';
import type { HeadlessViewer } from '../../test/helpers/headlessPeer.js';
import { connectRaw } from '../../test/helpers/rawSignaling.js';
import { waitFor, WaitTimeoutError } from '../../test/helpers/wait.js';
import type { BenchRun } from '../bench/lib/lifecycle.js';
import { sleep } from '../bench/lib/lifecycle.js';
import { machineInfo } from '../bench/lib/machine.js';
import { fmt, numberArg, progress, writeResult } from '../bench/lib/results.js';
import { ClusterRig, type NodeId } from './clusterRig.js';
import { FrameTimeline } from './frameTimeline.js';
import { describeInterruption, viewerReport, type ViewerReport } from './viewerReport.js';

const ROOM = 'drill';
/** Frames every viewer must have after the failure before the drill calls it recovered. */
const RECOVERED_FRAMES = 15;

type DrillFn = (run: BenchRun, args: Map<string, string>) => Promise<boolean>;

function viewerCountArg(args: Map<string, string>): number {
  const count = Math.round(numberArg(args, 'viewers', 6));
  // Every viewer is a werift peer in this process, next to three nodes on two cores.
  if (count < 2 || count > 16) throw new Error(`--viewers must be 2…16, got ${count}`);
  return count;
}

/** performance.now() when `condition` first held (polled), or null if it did not within `timeoutMs`. */
function whenTrue(condition: () => boolean | Promise<boolean>, description: string, timeoutMs: number, intervalMs = 50): Promise<number | null> {
  return waitFor(condition, { description, timeoutMs, intervalMs, progressEveryMs: 0 }).then(
    () => performance.now(),
    () => null,
  );
}

/** A stage: the rig, viewers sampled in steady state, where each viewer is. */
interface Stage {
  rig: ClusterRig;
  viewers: HeadlessViewer[];
  timeline: FrameTimeline;
  nodesBefore: string[];
  joinsBefore: number[];
}

async function stage(run: BenchRun, rig: ClusterRig, viewers: HeadlessViewer[]): Promise<Stage> {
  await rig.waitForMedia(viewers, 'media at every viewer before the failure');
  const timeline = run.defer('timeline', new FrameTimeline(viewers), (t) => t.stop());
  timeline.start();
  await sleep(2_000); // steady state before the failure
  const nodesBefore = viewers.map((v) => rig.nodeAt(v.signaling.serverUrl));
  progress(run.name, `viewers on ${[...new Set(nodesBefore)].map((n) => `${n} ×${nodesBefore.filter((m) => m === n).length}`).join(', ')}`);
  return { rig, viewers, timeline, nodesBefore, joinsBefore: viewers.map((v) => v.stats().joins) };
}

/** Waits until every viewer has RECOVERED_FRAMES frames after `since` (false on timeout), then 1 s more of sampling. */
async function waitForRecovery(s: Stage, since: number, timeoutMs = 30_000): Promise<boolean> {
  try {
    await waitFor(() => s.viewers.every((_, i) => s.timeline.framesSince(i, since) >= RECOVERED_FRAMES), {
      description: 'media again at every viewer',
      timeoutMs,
      intervalMs: 50,
      progress: () => s.viewers.map((v) => `${v.summary()} on ${s.rig.nodeAt(v.signaling.serverUrl)}`).join('\n'),
    });
    return true;
  } catch (error) {
    if (!(error instanceof WaitTimeoutError)) throw error;
    return false;
  } finally {
    await sleep(1_000);
    s.timeline.stop();
  }
}

function report(s: Stage, eventAt: number): ViewerReport {
  return viewerReport({ ...s, nodeAt: (url) => s.rig.nodeAt(url), eventAt, to: performance.now() });
}

/** Nodes that died though nobody killed them: a crash is a FAIL whatever the media did. */
function unexpectedDeaths(rig: ClusterRig, killed: readonly NodeId[]): string[] {
  return rig
    .deadNodes()
    .filter((id) => !killed.includes(id))
    .map((id) => `${id} died:\n${rig.node(id).process.output().split('\n').slice(-15).join('\n')}`);
}

function finish(name: string, title: string, r: ViewerReport, checks: Array<[string, boolean]>, notes: string[], data: Record<string, unknown>): boolean {
  const pass = checks.every(([, ok]) => ok);
  console.log(`\n## ${title}\n`);
  console.log('Times in ms relative to the failure. Video gap: last complete frame before → first complete frame after (the longest gap in the window).\n');
  console.log(r.table);
  console.log(`\n- interruption over ${r.outcomes.length} viewers: ${describeInterruption(r.interruption)}`);
  for (const note of notes) console.log(`- ${note}`);
  console.log('');
  for (const [label, ok] of checks) console.log(`${ok ? 'PASS' : 'FAIL'}  ${label}`);
  console.log(`Overall: ${pass ? 'PASS' : 'FAIL'}`);
  const file = writeResult(`drill-${name}`, {
    drill: name,
    ...data,
    viewers: r.outcomes,
    interruption: r.interruption,
    checks,
    notes,
    pass,
    machine: machineInfo(),
  });
  console.log(`\nResults: ${file}`);
  return pass;
}

// ------------------------------------------------------------------ node-edge

const nodeEdge: DrillFn = async (run, args) => {
  const count = viewerCountArg(args);
  const maxGapMs = numberArg(args, 'max-gap-ms', 5_000);
  const rig = await ClusterRig.start(run);
  await rig.publisher('node-a', ROOM);
  const s = await stage(run, rig, await rig.viewers('node-b', ROOM, count, 'viewer'));

  progress(run.name, 'SIGKILL node-b (the edge holding the viewers)');
  const killAt = performance.now();
  rig.node('node-b').process.kill('SIGKILL');
  const recovered = await waitForRecovery(s, killAt);
  const r = report(s, killAt);
  const moved = r.outcomes.filter((o) => o.nodeBefore === 'node-b').every((o) => o.nodeAfter !== 'node-b' && o.joinsAfter > o.joinsBefore);
  const deaths = unexpectedDeaths(rig, ['node-b']);
  return finish(
    'node-edge',
    `Edge node SIGKILL: node-b with ${count} viewers (publisher on node-a)`,
    r,
    [
      [`every viewer receives media again, p95 interruption ≤ ${maxGapMs} ms`, recovered && r.interruption.p95 <= maxGapMs],
      ['the viewers of node-b rejoined on another node by themselves (SDK failover)', moved],
      ['no other node died', deaths.length === 0],
    ],
    deaths,
    { maxGapMs },
  );
};

// ------------------------------------------------------------------ node-origin

const nodeOrigin: DrillFn = async (run, args) => {
  const count = viewerCountArg(args);
  const maxGapMs = numberArg(args, 'max-gap-ms', 5_000);
  const leaseMs = numberArg(args, 'lease-ms', 3_000);
  const rig = await ClusterRig.start(run);
  const publisher = await rig.publisher('node-a', ROOM);
  const half = Math.ceil(count / 2);
  const viewers = [...(await rig.viewers('node-b', ROOM, half, 'b')), ...(await rig.viewers('node-c', ROOM, count - half, 'c'))];
  const s = await stage(run, rig, viewers);
  const before = await rig.room('node-b', ROOM);
  if (before?.origin?.node !== 'node-a') throw new Error(`node-a is not the origin: ${JSON.stringify(before)}`);
  const publisherJoins = publisher.stats().joins;

  progress(run.name, `SIGKILL node-a (the origin, epoch ${before.origin.epoch})`);
  const killAt = performance.now();
  rig.node('node-a').process.kill('SIGKILL');
  const leaseDropped = whenTrue(async () => (await rig.room('node-b', ROOM))?.origin?.node !== 'node-a', "node-a's lease dropped", 15_000, 100);
  const publisherBack = whenTrue(() => publisher.stats().joins > publisherJoins && publisher.state === 'joined', 'the publisher republished', 30_000);
  const [leaseAt, publisherAt] = await Promise.all([leaseDropped, publisherBack]);
  const after = await whenTrue(
    async () => (await rig.room('node-b', ROOM))?.origin?.node === rig.nodeAt(publisher.signaling.serverUrl),
    'the new origin',
    10_000,
  ).then(() => rig.room('node-b', ROOM));
  const recovered = await waitForRecovery(s, publisherAt ?? killAt);
  const r = report(s, killAt);
  const sincePublisher = s.viewers.map((_, i) => {
    const first = s.timeline.firstFrameAfter(i, publisherAt ?? Infinity);
    return first === undefined || publisherAt === null ? Infinity : first - publisherAt;
  });
  const worstSincePublisher = Math.max(...sincePublisher);
  const kept = r.outcomes.every((o) => o.joinsAfter === o.joinsBefore && o.nodeAfter === o.nodeBefore);
  const deaths = unexpectedDeaths(rig, ['node-a']);
  const rel = (t: number | null) => (t === null ? null : Math.round(t - killAt));
  return finish(
    'node-origin',
    `Origin node SIGKILL: node-a with the publisher, ${count} viewers on node-b and node-c`,
    r,
    [
      [`the directory drops node-a's lease within ${leaseMs} ms`, leaseAt !== null && leaseAt - killAt <= leaseMs],
      [
        'the publisher republishes through another node, which becomes origin with a higher epoch',
        !!after?.origin && after.origin.node !== 'node-a' && after.origin.epoch > before.origin.epoch,
      ],
      [`every viewer gets media again within ${maxGapMs} ms of the publisher being back`, recovered && worstSincePublisher <= maxGapMs],
      ['no viewer rejoined (same node, same join count)', kept],
      ['no other node died', deaths.length === 0],
    ],
    [
      `lease dropped: +${fmt(rel(leaseAt), 0)} ms; publisher back (joined) on ${rig.nodeAt(publisher.signaling.serverUrl)}: +${fmt(rel(publisherAt), 0)} ms`,
      `origin epoch ${before.origin.epoch} on node-a → ${after?.origin ? `${after.origin.epoch} on ${after.origin.node}` : 'none'}`,
      `media back after the publisher: ${sincePublisher.map((v) => fmt(v, 0)).join(', ')} ms (worst ${fmt(worstSincePublisher, 0)})`,
      ...deaths,
    ],
    {
      maxGapMs,
      leaseMs,
      leaseDroppedMs: rel(leaseAt),
      publisherBackMs: rel(publisherAt),
      before: before.origin,
      after: after?.origin ?? null,
      sincePublisherMs: sincePublisher,
    },
  );
};

// ------------------------------------------------------------------ redis

interface JoinProbe {
  at: number;
  ms: number;
  outcome: string;
  ok: boolean;
}

/**
 * One viewer join over a bare socket at `node` (no media): how it was
 * answered, and how fast. `timeoutMs` is long on purpose: a join that waits
 * for Redis shows how long it waits, not just that it missed a deadline.
 */
async function probeJoin(rig: ClusterRig, node: NodeId, room: string, since: number, timeoutMs = 5_000): Promise<JoinProbe> {
  const start = performance.now();
  const done = (outcome: string, ok: boolean): JoinProbe => ({ at: Math.round(start - since), ms: Math.round(performance.now() - start), outcome, ok });
  let socket: Socket | undefined;
  try {
    socket = await connectRaw(rig.url(node));
    const ack = (await socket.timeout(timeoutMs).emitWithAck('join', { room, role: 'viewer' })) as Ack<JoinAnswer | JoinRedirect>;
    if (!ack.ok) return done(`${ack.error.code}: ${ack.error.message}`, false);
    if (isJoinRedirect(ack.data)) return done(`redirect to ${rig.nodeAt(ack.data.redirect)}`, false);
    return done('joined', true);
  } catch (error) {
    return done(`no answer within ${timeoutMs} ms (${(error as Error).message})`, false);
  } finally {
    socket?.disconnect();
  }
}

const redis: DrillFn = async (run, args) => {
  const count = viewerCountArg(args);
  const maxGapMs = numberArg(args, 'max-gap-ms', 1_000);
  const downMs = numberArg(args, 'down-ms', 8_000);
  const rig = await ClusterRig.start(run);
  await rig.publisher('node-a', ROOM);
  // A second room on node-a that no other node serves yet: joining it at node-b is a new cross-node join.
  const LATE = 'drill-late';
  await rig.publisher('node-a', LATE, 'late-publisher');
  const half = Math.ceil(count / 2);
  const viewers = [...(await rig.viewers('node-b', ROOM, half, 'b')), ...(await rig.viewers('node-c', ROOM, count - half, 'c'))];
  const s = await stage(run, rig, viewers);

  progress(run.name, `stopping redis-server for ${downMs} ms`);
  const stopAt = performance.now();
  await rig.redis.stop();
  await sleep(1_000);
  // In the background: if the join waits for Redis, its answer comes after the restart, and says how long it hung.
  const whileDownProbe = probeJoin(rig, 'node-b', LATE, stopAt, downMs + 10_000);
  await sleep(Math.max(0, downMs - (performance.now() - stopAt)));

  progress(run.name, 'restarting redis-server (empty: nothing is persisted)');
  const restartAt = performance.now();
  await rig.redis.restart();
  // Does the room's origin come back into the (emptied) directory by itself? Watched from the restart on.
  const originBackWatch = whenTrue(async () => (await rig.room('node-b', ROOM))?.origin?.node === 'node-a', 'the origin lease back', 10_000, 100);
  const probes: JoinProbe[] = [];
  const joinWorks = await whenTrue(
    async () => {
      probes.push(await probeJoin(rig, 'node-b', LATE, restartAt));
      return probes.at(-1)!.ok;
    },
    'a cross-node join working again',
    30_000,
    250,
  );
  const whileDown = await whileDownProbe;
  progress(run.name, `join while Redis was down: ${whileDown.outcome} after ${whileDown.ms} ms`);
  const originAfter = (await rig.room('node-b', ROOM))?.origin ?? null;
  let lateMediaMs: number | null = null;
  if (joinWorks !== null) {
    const [late] = await rig.viewers('node-b', LATE, 1, 'late');
    const at = await whenTrue(() => (late?.stats().video.completeFrames ?? 0) > 0, 'a frame at the late viewer', 15_000);
    lateMediaMs = at === null ? null : Math.round(at - restartAt);
  }
  const originBack = await originBackWatch;
  const originEnd = (await rig.room('node-b', ROOM))?.origin ?? null;
  await sleep(1_000);
  s.timeline.stop();
  const r = report(s, stopAt);
  const worst = (from: number, to: number) => Math.max(...s.viewers.map((_, i) => s.timeline.interruption(i, from, from, to).videoGapMs ?? 0));
  const gapWhileDown = worst(stopAt, restartAt);
  const gapAfterRestart = worst(restartAt, performance.now());
  const deaths = unexpectedDeaths(rig, []);
  // The edges' own account (warn lines of cascadeEdges.ts): did they drop their pipe when Redis came back empty?
  const originGone = (id: NodeId) =>
    rig
      .node(id)
      .process.output()
      .split('\n')
      .filter((line) => line.includes('the room origin is gone')).length;
  const distinct = [...new Set(probes.map((p) => p.outcome))];
  return finish(
    'redis',
    `Redis down for ${downMs} ms: publisher on node-a, ${count} viewers on node-b and node-c`,
    r,
    [
      [`nodes keep serving their rooms: every viewer's longest gap ≤ ${maxGapMs} ms while Redis is down and back`, r.interruption.max <= maxGapMs],
      [
        'a new cross-node join while Redis is down fails with UNAVAILABLE, within 5 s (no hang)',
        whileDown.outcome.startsWith('UNAVAILABLE') && whileDown.ms <= 5_000,
      ],
      ['after the restart a new cross-node join works again, by itself (within 30 s)', joinWorks !== null],
      ["the room's origin lease is back in the directory by itself after the restart (no stuck state)", originBack !== null],
      ['no node crashed', deaths.length === 0],
    ],
    [
      `join at node-b while down (sent +${whileDown.at} ms after the stop): ${whileDown.outcome}, answered after ${whileDown.ms} ms (Redis restarted at +${Math.round(restartAt - stopAt)} ms)`,
      `origin of "${ROOM}" in the directory: epoch 1 on node-a before; when the hung join answered ${originAfter ? `${originAfter.node}, epoch ${originAfter.epoch}` : 'none'}; back on node-a ${originBack === null ? 'NOT within 10 s' : `+${Math.round(originBack - restartAt)} ms after the restart`} (${originEnd ? `epoch ${originEnd.epoch}` : 'none'})`,
      `edge logs "the room origin is gone" (cascade ended, waiting for a new origin): node-b ×${originGone('node-b')}, node-c ×${originGone('node-c')}`,
      `longest video gap of any viewer while Redis was down: ${fmt(gapWhileDown, 0)} ms; from the restart on: ${fmt(gapAfterRestart, 0)} ms`,
      `after the restart: ${probes.length} join probe(s); answers seen: ${distinct.join(' | ')}`,
      `cross-node join works again: ${joinWorks === null ? 'NOT within 30 s' : `+${Math.round(joinWorks - restartAt)} ms after the restart`}; its viewer's first frame: ${lateMediaMs === null ? '—' : `+${lateMediaMs} ms`}`,
      ...deaths,
    ],
    {
      maxGapMs,
      downMs,
      whileDown,
      originAfter,
      originEnd,
      gapWhileDown,
      gapAfterRestart,
      probes,
      joinWorksMs: joinWorks === null ? null : Math.round(joinWorks - restartAt),
      lateMediaMs,
    },
  );
};

// ------------------------------------------------------------------ drain

const drain: DrillFn = async (run, args) => {
  const count = viewerCountArg(args);
  const maxGapMs = numberArg(args, 'max-gap-ms', 1_000);
  const rig = await ClusterRig.start(run);
  await rig.publisher('node-a', ROOM);
  const s = await stage(run, rig, await rig.viewers('node-b', ROOM, count, 'viewer'));

  progress(run.name, 'draining node-b (admin API, asked at node-a)');
  const drainAt = performance.now();
  const status = await rig.drain('node-a', 'node-b');
  if (status !== 202) throw new Error(`drain answered ${status}, not 202`);
  const movedAt = await whenTrue(
    () => s.viewers.every((v) => rig.nodeAt(v.signaling.serverUrl) !== 'node-b' && v.state === 'joined'),
    'every viewer moved off node-b',
    30_000,
  );
  const recovered = movedAt !== null && (await waitForRecovery(s, movedAt));
  s.timeline.stop();
  const r = report(s, drainAt);
  const deaths = unexpectedDeaths(rig, []);
  const draining = (await rig.overview('node-a'))?.nodes.find((n) => n.id === 'node-b')?.state ?? 'gone';
  return finish(
    'drain',
    `Drain (admin API) of node-b with ${count} viewers (publisher on node-a)`,
    r,
    [
      ['every viewer moved to another node and receives media there', recovered],
      [`no viewer's media stops for more than ${maxGapMs} ms (max)`, r.interruption.max <= maxGapMs],
      ['no node crashed', deaths.length === 0],
    ],
    [
      `all viewers moved: ${movedAt === null ? 'NOT within 30 s' : `+${Math.round(movedAt - drainAt)} ms after the drain request`}`,
      `node-b afterwards: ${draining} in the registry, process ${rig.node('node-b').process.running ? 'still running (an admin drain does not stop it)' : 'exited'}`,
      ...deaths,
    ],
    { maxGapMs, movedMs: movedAt === null ? null : Math.round(movedAt - drainAt), nodeBState: draining },
  );
};

/** The drills drill.ts dispatches to, with their known options. */
export const clusterDrills: Record<string, { known: string[]; run: DrillFn }> = {
  'node-edge': { known: ['viewers', 'max-gap-ms'], run: nodeEdge },
  'node-origin': { known: ['viewers', 'max-gap-ms', 'lease-ms'], run: nodeOrigin },
  redis: { known: ['viewers', 'max-gap-ms', 'down-ms'], run: redis },
  drain: { known: ['viewers', 'max-gap-ms'], run: drain },
};
