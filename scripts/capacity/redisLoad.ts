/**
 * Redis commands per second of a cluster, counted from the code (each line
 * names where): periodic renewals, the edges' checks and pipe syncs, the
 * alert monitor every node runs, audience reports, and the reads of each
 * join's placement. Pipelined commands count one each; an EVAL counts one
 * (its script runs several commands inside Redis, noted per line).
 */
import { NODE_RENEW_MS } from '../../server/cluster/nodeRegistry.js';
import { PIPE_SYNC_MS } from '../../server/contracts/pipeProtocol.js';

/** server/rooms/roomRegistry.ts AUDIENCE_REPORT_MS (not exported): audience reports are coalesced to one per room per node per second. */
export const AUDIENCE_REPORT_SECONDS = 1;
/** server/cluster/redis/redisRoomDirectory.ts: renewal round every 1 s (renewEveryMs default). */
export const DIRECTORY_RENEW_SECONDS = 1;
/** server/media/pipes/cascadeEdges.ts CHECK_MS: each edge room's origin is looked up every 1 s. */
export const EDGE_CHECK_SECONDS = 1;
/** server/alerts/clusterAlertMonitor.ts: every node ticks every 1 s. */
export const ALERT_TICK_SECONDS = 1;

/** placementService.ts snapshot(): 6 commands; a client asking /api/rooms/:room/join first takes a second snapshot at its join. */
export const REDIS_OPS_PER_JOIN = 12;

export interface RedisLoadInput {
  nodes: number;
  /** Rooms live in the cluster (each with one origin). */
  rooms: number;
  /** Nodes serving each room (origin + edges). */
  nodesPerRoom: number;
  /** Viewer joins per second across the cluster (at the surge). */
  joinsPerSecond: number;
}

export interface RedisLoadLine {
  what: string;
  opsPerSecond: number;
  where: string;
}

export interface RedisLoad {
  lines: RedisLoadLine[];
  opsPerSecond: number;
  /** Pub/sub messages delivered per second (every node subscribes to room events). */
  pubsubDeliveriesPerSecond: number;
}

export function redisLoad(input: RedisLoadInput): RedisLoad {
  const { nodes, rooms, nodesPerRoom, joinsPerSecond } = input;
  const edgesPerRoom = Math.max(0, nodesPerRoom - 1);
  const reportsPerRoom = nodesPerRoom; // every node serving a room reports it
  const lines: RedisLoadLine[] = [
    { what: 'node registry renewal (EVAL: GET, SET PX, SADD, PEXPIRE)', opsPerSecond: nodes / (NODE_RENEW_MS / 1000), where: 'redisNodeRegistry.ts' },
    {
      what: 'room reports renewed (SET PX, SADD, PEXPIRE, SADD, PEXPIRE per room per node)',
      opsPerSecond: (rooms * reportsPerRoom * 5) / DIRECTORY_RENEW_SECONDS,
      where: 'redisRoomDirectory.ts #writeReports',
    },
    { what: 'origin lease renewal (EVAL per room)', opsPerSecond: rooms / DIRECTORY_RENEW_SECONDS, where: 'redisRoomDirectory.ts #renewHeld' },
    { what: "edges' origin check (GET per edge room)", opsPerSecond: (rooms * edgesPerRoom) / EDGE_CHECK_SECONDS, where: 'cascadeEdges.ts #check' },
    {
      what: 'pipe sync over the bus (request + reply PUBLISH per edge room)',
      opsPerSecond: (rooms * edgesPerRoom * 2) / (PIPE_SYNC_MS / 1000),
      where: 'cascadeSource.ts, redisMessageBus.ts',
    },
    {
      what: 'alert monitor: every node reads the nodes (SMEMBERS + MGET); only the speaker lists the rooms (SMEMBERS, then SMEMBERS + GET + MGET per room)',
      opsPerSecond: (nodes * 2 + 1 + 3 * rooms) / ALERT_TICK_SECONDS,
      where: 'clusterAlertMonitor.ts #tick',
    },
    {
      what: 'audience changes while viewers join (report pipeline 5 + PUBLISH, per room per node, coalesced to 1/s)',
      opsPerSecond: joinsPerSecond > 0 ? (rooms * reportsPerRoom * 6) / AUDIENCE_REPORT_SECONDS : 0,
      where: 'roomRegistry.ts #reportAudience',
    },
    {
      what: 'placement per join: 2 snapshots (GET /api/rooms/:room/join, then the join itself) of SMEMBERS + MGET nodes, GET origin, SMEMBERS + GET + MGET room',
      opsPerSecond: joinsPerSecond * REDIS_OPS_PER_JOIN,
      where: 'placementService.ts, joinRoutes.ts, signalingServer.ts',
    },
  ];
  const publishesPerSecond = joinsPerSecond > 0 ? (rooms * reportsPerRoom) / AUDIENCE_REPORT_SECONDS : 0;
  return {
    lines,
    opsPerSecond: lines.reduce((sum, line) => sum + line.opsPerSecond, 0),
    // Room events go to every node's subscriber; bus requests and replies to one node each.
    pubsubDeliveriesPerSecond: publishesPerSecond * nodes + (rooms * edgesPerRoom * 2) / (PIPE_SYNC_MS / 1000),
  };
}
