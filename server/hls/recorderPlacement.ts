/**
 * Where a room is recorded, as the HLS service needs to know it: whether this
 * node records the room, and as leader or follower (issue 12's redundant
 * origins). One node: every live room with a local source, switched on, is
 * recorded here. A cluster: the room's origin places its recorders
 * (RecorderAssignments: an `hls` node if there is one, two when redundant) and
 * an `hls` node records what origins ask it to (RecorderHolds).
 */
import type { Logger } from '../observability/logger.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { NodeRegistry, NodeRole } from '../cluster/nodeRegistry.js';
import type { RoomDirectory } from '../cluster/roomDirectory.js';
import type { RuntimeSettings } from '../cluster/runtimeSettings.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { Room } from '../rooms/room.js';
import { RecorderAssignments } from './recorderAssignments.js';
import { RecorderHolds } from './recorderHolds.js';
import { HLS_RECORDER_METHODS, parseHlsRecordersAnswer, type RecorderRank } from './hlsRecorderProtocol.js';

export interface RecorderPlacementCluster {
  nodes: Pick<NodeRegistry, 'nodes'>;
  /** The rooms' audience (WebRTC viewers on every node), for the redundancy default. */
  directory: Pick<RoomDirectory, 'get'>;
  roles: readonly NodeRole[];
  /** Rooms with more viewers than this get a second recorder unless the `hlsRedundant` setting says otherwise (0 = never by default). */
  redundantAudience: number;
}

export interface RecorderPlacementOptions {
  rooms: RoomRegistry;
  bus: MessageBus;
  settings: RuntimeSettings | undefined;
  /** Absent on a single node. */
  cluster: RecorderPlacementCluster | undefined;
  /** This node became, or stopped being, one of the room's recorders. */
  onChange: (room: string) => void;
  logger: Logger;
}

/** How long a node asking a room's origin where it is recorded waits for the answer. */
const RECORDERS_QUERY_TIMEOUT_MS = 1_000;

/** The room's program comes from a source on this node (not from another node over a cascade pipe). */
function hasLocalSource(room: Room): boolean {
  return room.program.source?.protocol !== 'cascade';
}

export class RecorderPlacement {
  readonly #options: RecorderPlacementOptions;
  /** Cluster mode: where the rooms this node is the origin of are recorded. */
  readonly #assignments: RecorderAssignments | undefined;
  /** Cluster mode, `hls` role: rooms of other origins recorded here. */
  readonly #holds: RecorderHolds | undefined;

  constructor(options: RecorderPlacementOptions) {
    this.#options = options;
    const { cluster, bus, rooms, settings, onChange, logger } = options;
    if (!cluster) return;
    const canRecord = cluster.roles.includes('hls');
    this.#assignments = new RecorderAssignments({
      bus,
      nodes: cluster.nodes,
      selfCanRecord: canRecord,
      wanted: (room) => this.#recordersWanted(room),
      drainFlags: () => settings?.snapshot().drain ?? {},
      onLocalChange: onChange,
      logger,
    });
    if (canRecord) this.#holds = new RecorderHolds({ bus, rooms, onChange, logger });
  }

  /** The operator's switch for the room (unset = on: the HLS service runs because HLS is enabled). */
  ladderOn(roomId: string): boolean {
    return this.#options.settings?.snapshot().hlsLadder[roomId] !== false;
  }

  /** One recorder per room unless placed elsewhere: see RecorderAssignments (origin) and RecorderHolds (`hls` node). */
  recordedHere(room: Room): boolean {
    if (!this.ladderOn(room.id)) return false;
    if (hasLocalSource(room)) return this.#assignments ? this.#assignments.recordsHere(room.id) : true;
    return this.#holds?.holds(room.id) ?? false;
  }

  /** This node's rank among the room's recorders (undefined when it does not record it, or on a single node). */
  rankOf(room: Room): { rank: RecorderRank; leader: string } | undefined {
    if (!hasLocalSource(room)) return this.#holds?.rankOf(room.id);
    const leader = this.#assignments?.leaderOf(room.id);
    if (!leader || !this.#assignments?.recordsHere(room.id)) return undefined;
    return { rank: leader === this.#options.bus.nodeId ? 'leader' : 'follower', leader };
  }

  /** The origin tells its placement what the room wants: recorders while live and switched on. */
  update(roomId: string): void {
    if (!this.#assignments) return;
    const room = this.#options.rooms.get(roomId);
    if (!room || room.closed || !room.live || !hasLocalSource(room)) this.#assignments.forget(roomId);
    else this.#assignments.place(roomId);
  }

  /** The room closed on this node: its recorders are released. */
  forget(roomId: string): void {
    this.#assignments?.forget(roomId);
  }

  /**
   * The node recording a room whose origin is `origin` (the origin itself, an
   * `hls` node, or undefined when unknown: then the origin is asked as before).
   * For the /hls proxy (hlsClusterProxy.ts).
   */
  async recorderOf(room: string, origin: string): Promise<string | undefined> {
    const cluster = this.#options.cluster;
    if (!this.#assignments || !cluster) return undefined;
    let recorders: string[];
    if (origin === this.#options.bus.nodeId) recorders = this.#assignments.recorders(room);
    else {
      try {
        const answer = await this.#options.bus.request(origin, HLS_RECORDER_METHODS.recorders, { room }, RECORDERS_QUERY_TIMEOUT_MS);
        recorders = parseHlsRecordersAnswer(answer).nodes;
      } catch {
        return undefined;
      }
    }
    if (recorders.length < 2) return recorders[0];
    // Redundant: the first one still announced (a dead recorder leaves the registry before its origin replaces it).
    const announced = new Set((await cluster.nodes.nodes().catch(() => [])).map((node) => node.id));
    return recorders.find((node) => announced.has(node)) ?? recorders[0];
  }

  close(): void {
    this.#assignments?.close();
    this.#holds?.close();
  }

  /** Recorders a room of this origin wants: none when switched off, two when redundant (by setting, or by audience). */
  async #recordersWanted(roomId: string): Promise<number> {
    const cluster = this.#options.cluster;
    if (!this.ladderOn(roomId)) return 0;
    if (!cluster) return 1;
    const redundant = this.#options.settings?.snapshot().hlsRedundant?.[roomId];
    if (redundant !== undefined) return redundant ? 2 : 1;
    if (cluster.redundantAudience <= 0) return 1;
    const listing = await cluster.directory.get(roomId).catch(() => undefined);
    const audience = Object.values(listing?.viewersByNode ?? {}).reduce((sum, n) => sum + n, 0);
    return audience > cluster.redundantAudience ? 2 : 1;
  }
}
