/**
 * The edge side of cascading: rooms of this node whose origin is another
 * node get the origin's program through a CascadeSource in their primary
 * slot. Checked when a room opens (`attach`, awaited by the join, so the
 * joining viewer sees the tracks at once), every second for every room
 * without a local source, and at once when another node announces a change
 * of the room on the bus.
 *
 * Origin gone (lease expired, released, or a new epoch): the cascade ends
 * with 'media-lost' and the room and its viewers stay; when a node claims the
 * room again, the room is re-piped from it and its viewers get the new tracks
 * on their connection, as when a publisher republishes on one node.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../../observability/logger.js';
import type { MessageBus } from '../../cluster/messageBus.js';
import type { OriginLease, RoomDirectory } from '../../cluster/roomDirectory.js';
import type { Room } from '../../rooms/room.js';
import { CascadeSource } from '../../sources/cascadeSource.js';

export interface CascadeEdgesOptions {
  nodeId: string;
  directory: RoomDirectory;
  bus: MessageBus;
  listenInfo: ms.TransportListenInfo;
  /** This node's rooms. */
  rooms: () => Room[];
  room: (id: string) => Room | undefined;
  logger: Logger;
  checkMs?: number;
}

/** This node as a room's edge: its origin and the cascade's pipe. */
export interface EdgeInfo {
  room: string;
  origin: string;
  epoch: number;
  tracks: number;
  /** The pipe's id at the origin. */
  pipeId: string;
  /** Bytes received over the pipe, as of its last sync. */
  bytesReceived: number;
}

const CHECK_MS = 1_000;
/**
 * How long a room's lease may be missing from the directory before its pipe is
 * dropped. A Redis restarted empty shows no lease until the origin's next
 * renewal (within a second): dropping at once cost every edge viewer up to a
 * second of media (measured in the redis drill). A new origin (another epoch)
 * still ends the old pipe at once, and a dead origin's pipe carries nothing anyway.
 */
const LEASE_ABSENT_GRACE_MS = 3_000;

export class CascadeEdges {
  readonly #options: CascadeEdgesOptions;
  readonly #log: Logger;
  /** Rooms with a check in flight (one at a time per room). */
  readonly #checking = new Map<string, Promise<void>>();
  /** Rooms piped here whose lease is missing from the directory, since when (see LEASE_ABSENT_GRACE_MS). */
  readonly #leaseAbsentSince = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(options: CascadeEdgesOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'cascade' });
    this.#timer = setInterval(() => {
      for (const room of options.rooms()) if (!hasLocalSource(room)) void this.#check(room);
    }, options.checkMs ?? CHECK_MS);
    this.#timer.unref();
    this.#unsubscribe = options.bus.subscribe((event) => {
      if (event.node === options.nodeId || event.type === 'audienceChanged') return;
      const room = options.room(event.room);
      if (!room || hasLocalSource(room)) return;
      const cascade = cascadeOf(room);
      if (cascade && event.type === 'programChanged' && event.node === cascade.origin.node) void cascade.syncNow();
      else void this.#check(room);
    });
  }

  /** Rooms this node serves as an edge. */
  edges(): EdgeInfo[] {
    return this.#options
      .rooms()
      .map((room) => [room, cascadeOf(room)] as const)
      .filter((pair): pair is readonly [Room, CascadeSource] => pair[1] !== undefined)
      .map(([room, cascade]) => ({
        room: room.id,
        origin: cascade.origin.node,
        epoch: cascade.epoch,
        tracks: cascade.tracks().length,
        pipeId: cascade.pipeId,
        bytesReceived: cascade.bytesReceived,
      }));
  }

  /**
   * A room just opened here while `origin` (another node) holds it: pipes it
   * now. Throws if the origin cannot be reached or refuses; nothing is left allocated.
   */
  async attach(room: Room, origin: OriginLease): Promise<void> {
    await this.#serialized(room, () => this.#cascade(room, origin));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unsubscribe();
  }

  #check(room: Room): Promise<void> {
    // A check already in flight answers this one too (the next tick catches anything later).
    const busy = this.#checking.get(room.id);
    if (busy) return busy;
    return this.#serialized(room, async () => {
      const origin = await this.#options.directory.originOf(room.id);
      if (room.closed || hasLocalSource(room)) {
        this.#leaseAbsentSince.delete(room.id);
        return;
      }
      const cascade = cascadeOf(room);
      const current = origin && origin.node !== this.#options.nodeId ? origin : undefined;
      if (origin) this.#leaseAbsentSince.delete(room.id);
      else if (cascade && !this.#leaseAbsentSince.has(room.id)) this.#leaseAbsentSince.set(room.id, Date.now());
      const absentFor = Date.now() - (this.#leaseAbsentSince.get(room.id) ?? Date.now());
      if (cascade && !origin && absentFor < LEASE_ABSENT_GRACE_MS) return;
      this.#leaseAbsentSince.delete(room.id);
      if (cascade && cascade.epoch !== current?.epoch) {
        this.#log.warn({ room: room.id, origin: cascade.origin.node, epoch: cascade.epoch }, 'the room origin is gone; its viewers wait here for a new one');
        cascade.end('media-lost');
      }
      // Rooms in their grace period (no viewer left) are not piped again.
      if (current && !cascadeOf(room) && room.viewerCount > 0) await this.#cascade(room, current);
    }).catch((error: unknown) => this.#log.warn({ room: room.id, err: (error as Error).message }, 'cascade check failed'));
  }

  async #cascade(room: Room, origin: OriginLease): Promise<void> {
    const { router } = await room.ingestRouter();
    const source = await CascadeSource.open({ router, listenInfo: this.#options.listenInfo, bus: this.#options.bus, origin, logger: this.#log });
    if (this.#closed || room.closed || hasLocalSource(room)) {
      source.end('room-closed');
      return;
    }
    room.addSource(source, { replace: true });
    this.#log.info({ room: room.id, origin: origin.node, epoch: origin.epoch, tracks: source.tracks().length }, 'edge: piping the room from its origin');
  }

  /** Runs `task` after whatever this room has in flight; checks and attaches never overlap. */
  #serialized(room: Room, task: () => Promise<void>): Promise<void> {
    const previous = this.#checking.get(room.id) ?? Promise.resolve();
    const run = previous.then(task);
    const settled = run.catch(() => undefined);
    this.#checking.set(room.id, settled);
    void settled.then(() => {
      if (this.#checking.get(room.id) === settled) this.#checking.delete(room.id);
    });
    return run;
  }
}

function cascadeOf(room: Room): CascadeSource | undefined {
  return room.sources().find((s): s is CascadeSource => s instanceof CascadeSource && !s.ended);
}

/** A source other than a cascade: this node feeds the room itself (it is, or becomes, its origin). */
function hasLocalSource(room: Room): boolean {
  return room.sources().some((s) => s.protocol !== 'cascade');
}
