/**
 * The rooms this node serves. A room opens on first join and closes after a
 * grace period once empty (a publisher reconnecting within it finds its room
 * and its viewers still there). Worker deaths are forwarded to the rooms.
 *
 * The registry is also where this node's rooms meet the rest of the system:
 * it announces every room's life on the message bus (HLS, stats and alerts
 * follow rooms through the bus, not through local objects), reports rooms to
 * the room directory, and holds the origin lease of rooms it broadcasts.
 *
 * In a cluster (`cascade` set) a room opened here while another node is its
 * origin becomes an edge: its program is piped from the origin (CascadeEdges),
 * and this node serves the pipes of the rooms it is the origin of (PipeOrigin).
 *
 * Rooms that never had a broadcast cost no router, and there may only be so
 * many of them (overall, per address, per connection): a crowd of made-up
 * room names is refused with 'limit-reached' instead of eating memory.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { PipeStrategy } from '../media/pipes/pipeStrategy.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import { BusRemoteError } from '../cluster/messageBus.js';
import { OriginTakenError, type OriginLease, type RoomDirectory } from '../cluster/roomDirectory.js';
import type { RoomEvent } from '../cluster/roomEvents.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { PipeOrigin, type OriginPipeInfo, type OriginProgram } from '../media/pipes/pipeOrigin.js';
import { CascadeEdges, type EdgeInfo } from '../media/pipes/cascadeEdges.js';
import { PipeError } from '../contracts/pipeProtocol.js';
import type { MediaSource } from '../sources/mediaSource.js';
import { Room, type RoomOptions, type RoomSummary } from './room.js';
import { RoomError } from './roomError.js';

export interface IdleRoomQuotas {
  /** Rooms without a broadcast on this node. */
  total: number;
  /** …opened by one client address. */
  perAddress: number;
  /** …opened by one signaling connection. */
  perConnection: number;
}

export const DEFAULT_IDLE_ROOM_QUOTAS: IdleRoomQuotas = { total: 1000, perAddress: 20, perConnection: 4 };

/** Who asks for a room to be opened (for the idle-room quotas). */
export interface RoomOpener {
  address: string;
  connection: string;
}

export interface RoomRegistryOptions {
  nodeId: string;
  pool: WorkerPool;
  pipe: PipeStrategy;
  room: RoomOptions;
  emptyRoomGraceMs: number;
  idleQuotas?: IdleRoomQuotas;
  directory: RoomDirectory;
  bus: MessageBus;
  /** Cluster mode: rooms cascade between nodes over pipes on this address and port range. */
  cascade?: { listenInfo: ms.TransportListenInfo; nodes: NodeRegistry };
  logger: Logger;
}

/** This node's part in cascading: the pipes it serves as origin, the rooms it serves as edge. */
export interface CascadeView {
  pipes: OriginPipeInfo[];
  edges: EdgeInfo[];
}

type RegistryEvents = { roomOpened: [room: Room] };

/** Audience reports to the directory are coalesced to one per room per this. */
const AUDIENCE_REPORT_MS = 1_000;
/** A claim refused while another node's lease lives (it may be a crashed origin's) is retried this often. */
const CLAIM_RETRY_MS = 1_000;

export class RoomRegistry extends SafeEmitter<RegistryEvents> {
  readonly #rooms = new Map<string, Room>();
  readonly #graceTimers = new Map<string, NodeJS.Timeout>();
  readonly #idleOpeners = new Map<string, RoomOpener>();
  readonly #leases = new Map<string, OriginLease>();
  readonly #audienceTimers = new Map<string, NodeJS.Timeout>();
  /** Rooms kept open without participants (an HLS recorder placed here consumes them), with their hold counts. */
  readonly #holds = new Map<Room, number>();
  readonly #options: RoomRegistryOptions;
  readonly #quotas: IdleRoomQuotas;
  readonly #log: Logger;
  readonly #onWorkerDied = (index: number): void => {
    for (const room of this.#rooms.values()) room.handleWorkerDied(index);
  };
  readonly #stopWatchingLeases: () => void;
  /** Rooms being opened (cluster mode asks the directory first). */
  readonly #opening = new Map<string, Promise<Room>>();
  readonly #edges: CascadeEdges | undefined;
  readonly #pipeOrigin: PipeOrigin | undefined;
  #closed = false;

  constructor(options: RoomRegistryOptions) {
    super();
    this.#options = options;
    this.#quotas = options.idleQuotas ?? DEFAULT_IDLE_ROOM_QUOTAS;
    this.#log = options.logger.child({ component: 'rooms' });
    options.pool.on('workerDied', this.#onWorkerDied);
    this.#stopWatchingLeases = options.directory.onOriginLost((lease) => this.#onOriginLost(lease));
    if (options.cascade) {
      const { listenInfo, nodes } = options.cascade;
      const { nodeId, directory, bus } = options;
      this.#pipeOrigin = new PipeOrigin({
        bus,
        listenInfo,
        program: (room, epoch) => this.#originProgram(room, epoch),
        edgeRecord: (node) => nodes.get(node),
        logger: options.logger,
      });
      this.#edges = new CascadeEdges({ nodeId, directory, bus, listenInfo, rooms: () => this.rooms(), room: (id) => this.get(id), logger: options.logger });
    }
  }

  get size(): number {
    return this.#rooms.size;
  }

  get(id: string): Room | undefined {
    return this.#rooms.get(id);
  }

  rooms(): Room[] {
    return [...this.#rooms.values()];
  }

  /** This node's rooms that have had a broadcast: live first, then by audience. */
  list(): RoomSummary[] {
    return this.rooms()
      .filter((room) => room.everLive)
      .map((room) => room.summary())
      .sort((a, b) => Number(b.live) - Number(a.live) || b.viewers - a.viewers || a.id.localeCompare(b.id));
  }

  /** Pipes served and rooms cascaded by this node (empty without a cluster). */
  cascade(): CascadeView {
    return { pipes: this.#pipeOrigin?.pipes() ?? [], edges: this.#edges?.edges() ?? [] };
  }

  /**
   * The room, opened if needed. `opener` is checked against the idle-room quotas.
   * In a cluster, a room whose origin is another node opens as its edge, piped
   * before this resolves; an origin that does not answer or refuses fails the open
   * ('unavailable' / 'not-live') and leaves nothing behind.
   */
  async open(id: string, opener?: RoomOpener): Promise<Room> {
    if (this.#closed) throw new RoomError('unavailable', 'server is shutting down');
    // No await unless an open is in flight: two opens of one room in one tick must find each other.
    const pending = this.#opening.get(id);
    const existing = this.#rooms.get(id) ?? (pending ? await pending : undefined);
    if (existing && !existing.closed) {
      this.#cancelGrace(id);
      return existing;
    }
    if (opener) this.#checkIdleQuota(opener);
    const edges = this.#edges;
    if (!edges) return this.#create(id, opener);
    const opening = this.#openInCluster(id, edges, opener).finally(() => this.#opening.delete(id));
    this.#opening.set(id, opening);
    return opening;
  }

  async #openInCluster(id: string, edges: CascadeEdges, opener: RoomOpener | undefined): Promise<Room> {
    let origin: OriginLease | undefined;
    try {
      origin = await this.#options.directory.originOf(id);
    } catch (error) {
      throw new RoomError('unavailable', `the cluster state is unreachable (${(error as Error).message}); try again`);
    }
    if (this.#closed) throw new RoomError('unavailable', 'server is shutting down');
    const room = this.#create(id, opener);
    if (!origin || origin.node === this.#options.nodeId) return room;
    // The grace countdown starts once the pipe is up: a slow origin must not close the room meanwhile.
    this.#cancelGrace(id);
    try {
      await edges.attach(room, origin);
      this.#scheduleClose(room);
    } catch (error) {
      room.close('its origin cannot be reached');
      const refused = error instanceof BusRemoteError;
      const why = `room "${id}" is broadcast from node ${origin.node}, which ${refused ? 'no longer has it' : 'does not answer'} (${(error as Error).message})`;
      throw new RoomError(refused ? 'not-live' : 'unavailable', why);
    }
    return room;
  }

  #create(id: string, opener: RoomOpener | undefined): Room {
    const room = new Room(id, {
      pool: this.#options.pool,
      pipe: this.#options.pipe,
      options: this.#options.room,
      logger: this.#log,
    });
    this.#rooms.set(id, room);
    if (opener) this.#idleOpeners.set(id, opener);
    this.#follow(room);
    // A room nobody manages to join (bad token, refused) must not linger.
    this.#scheduleClose(room);
    this.#log.info({ room: id }, 'room opened');
    this.#announce(room, { type: 'opened' });
    this.safeEmit('roomOpened', room);
    return room;
  }

  /**
   * Keeps an open room open while nobody is in it (an HLS recorder placed on
   * this node consumes it: issue 10's `hls` role). The returned function lets
   * go (idempotent); an empty room then starts its grace countdown.
   */
  hold(room: Room): () => void {
    this.#holds.set(room, (this.#holds.get(room) ?? 0) + 1);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      const left = (this.#holds.get(room) ?? 1) - 1;
      if (left > 0) this.#holds.set(room, left);
      else this.#holds.delete(room);
      this.releaseIfEmpty(room);
    };
  }

  /** After a failed join: an empty room goes back to its grace countdown. */
  releaseIfEmpty(room: Room): void {
    if (!room.closed && room.participantCount === 0 && this.#rooms.get(room.id) === room) this.#scheduleClose(room);
  }

  close(reason = 'server shutting down'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.pool.off('workerDied', this.#onWorkerDied);
    this.#stopWatchingLeases();
    this.#edges?.close();
    this.#pipeOrigin?.close();
    for (const timer of this.#graceTimers.values()) clearTimeout(timer);
    this.#graceTimers.clear();
    for (const room of this.rooms()) room.close(reason);
    this.#rooms.clear();
  }

  /**
   * Fencing: another node now holds this room's origin (our lease expired, e.g.
   * while Redis was out of reach). Two origins must never feed one room, so
   * this node's sources end and their owners are sent to reconnect.
   */
  #onOriginLost(lease: OriginLease): void {
    const room = this.#rooms.get(lease.room);
    if (this.#leases.get(lease.room)?.epoch !== lease.epoch) return;
    this.#leases.delete(lease.room);
    this.#log.warn({ room: lease.room, epoch: lease.epoch }, 'lost the room origin to another node; ending its sources here');
    for (const source of room?.sources() ?? []) source.end('failed');
  }

  /** What the pipes of a room this node is the origin of carry; PipeError when it is not (or not at `epoch`). */
  #originProgram(id: string, epoch: number): OriginProgram {
    const lease = this.#leases.get(id);
    const room = this.#rooms.get(id);
    const media = room?.programMedia();
    if (!lease || !room || room.closed || !media) throw new PipeError('unknown-room', `node ${this.#options.nodeId} is not the origin of room "${id}"`);
    if (lease.epoch !== epoch) throw new PipeError('stale-epoch', `room "${id}" is at epoch ${lease.epoch} here, not ${epoch}`);
    return { router: media.router, tracks: () => room.program.tracks() };
  }

  /** Claims the room's origin for a source of this node; a lease held elsewhere is claimed again once it expires. */
  #claimOrigin(room: Room, source: MediaSource, retry = false): void {
    const { directory, nodeId } = this.#options;
    if (this.#leases.has(room.id) || room.closed || source.ended || this.#closed) return;
    directory.claimOrigin(room.id, nodeId).then(
      (lease) => {
        if (room.closed) void directory.releaseOrigin(lease);
        else this.#leases.set(room.id, lease);
      },
      (error: unknown) => {
        if (!(error instanceof OriginTakenError)) {
          this.#log.error({ room: room.id, err: (error as Error).message }, 'could not claim the room origin');
          return;
        }
        // The holder may have crashed: its lease expires within its TTL.
        if (!retry) this.#log.warn({ room: room.id, holder: error.holder.node }, 'another node holds the room origin; claiming again once its lease expires');
        setTimeout(() => this.#claimOrigin(room, source, true), CLAIM_RETRY_MS).unref();
      },
    );
  }

  #checkIdleQuota(opener: RoomOpener): void {
    const idle = [...this.#idleOpeners.values()];
    const quotas = this.#quotas;
    if (idle.length >= quotas.total) throw new RoomError('limit-reached', `too many rooms without a broadcast on this server (${quotas.total})`);
    if (idle.filter((o) => o.address === opener.address).length >= quotas.perAddress) {
      throw new RoomError('limit-reached', `too many rooms without a broadcast opened from this address (${quotas.perAddress})`);
    }
    if (idle.filter((o) => o.connection === opener.connection).length >= quotas.perConnection) {
      throw new RoomError('limit-reached', `too many rooms without a broadcast opened by this connection (${quotas.perConnection})`);
    }
  }

  #follow(room: Room): void {
    const { directory, nodeId } = this.#options;
    room.on('empty', () => this.#scheduleClose(room));
    room.on('sourceAdded', (source) => {
      this.#idleOpeners.delete(room.id);
      this.#announce(room, { type: 'sourceAdded', source: source.id, protocol: source.protocol, slot: source.slot });
      // A cascade is fed by the origin; any other source makes this node the origin.
      if (source.protocol !== 'cascade') this.#claimOrigin(room, source);
      this.#reportAudience(room, true);
    });
    room.on('sourceRemoved', (source, reason) => this.#announce(room, { type: 'sourceRemoved', source: source.id, reason }));
    room.on('programChanged', () => {
      this.#announce(room, { type: 'programChanged', live: room.live });
      this.#reportAudience(room, true);
    });
    room.on('viewerJoined', () => this.#reportAudience(room, false));
    room.on('viewerLeft', () => this.#reportAudience(room, false));
    room.once('closed', () => {
      this.#cancelGrace(room.id);
      this.#idleOpeners.delete(room.id);
      this.#holds.delete(room);
      clearTimeout(this.#audienceTimers.get(room.id));
      this.#audienceTimers.delete(room.id);
      if (this.#rooms.get(room.id) === room) this.#rooms.delete(room.id);
      const lease = this.#leases.get(room.id);
      this.#leases.delete(room.id);
      if (lease) void directory.releaseOrigin(lease).catch(() => undefined);
      void directory.forget(nodeId, room.id).catch(() => undefined);
      this.#announce(room, { type: 'closed' });
    });
  }

  /** Rooms that have had a broadcast are reported to the directory; audience changes are coalesced. */
  #reportAudience(room: Room, now: boolean): void {
    if (!room.everLive || room.closed) return;
    const send = (): void => {
      this.#audienceTimers.delete(room.id);
      if (room.closed) return;
      const summary = room.summary();
      void this.#options.directory
        .report(this.#options.nodeId, { id: room.id, live: room.live, viewers: room.viewerCount, createdAt: summary.createdAt })
        .catch((error: unknown) => this.#log.warn({ room: room.id, err: (error as Error).message }, 'room directory report failed'));
      this.#announce(room, { type: 'audienceChanged', viewers: room.viewerCount });
    };
    if (now) {
      clearTimeout(this.#audienceTimers.get(room.id));
      send();
      return;
    }
    if (this.#audienceTimers.has(room.id)) return;
    const timer = setTimeout(send, AUDIENCE_REPORT_MS);
    timer.unref();
    this.#audienceTimers.set(room.id, timer);
  }

  #announce(room: Room, event: DistributiveOmit<RoomEvent, 'room' | 'node' | 'at'>): void {
    this.#options.bus.publish({ ...event, room: room.id, node: this.#options.nodeId, at: Date.now() });
  }

  #scheduleClose(room: Room): void {
    this.#cancelGrace(room.id);
    const timer = setTimeout(() => {
      this.#graceTimers.delete(room.id);
      if (room.participantCount === 0 && !this.#holds.has(room)) room.close('empty');
    }, this.#options.emptyRoomGraceMs);
    timer.unref();
    this.#graceTimers.set(room.id, timer);
  }

  #cancelGrace(id: string): void {
    const timer = this.#graceTimers.get(id);
    if (timer) clearTimeout(timer);
    this.#graceTimers.delete(id);
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
