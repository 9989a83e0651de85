/**
 * All rooms of this server. Rooms are created on first join and close after a
 * grace period once empty (a publisher reconnecting within it finds its room
 * and its viewers still there). Forwards worker deaths to the rooms.
 */
import { EventEmitter } from 'node:events';
import type { Logger } from '../observability/logger.js';
import type { WorkerPool } from '../media/workerPool.js';
import { Room, type RoomOptions, type RoomSummary } from './room.js';

export interface RoomRegistryOptions extends RoomOptions {
  emptyRoomGraceMs: number;
}

type RegistryEvents = { roomCreated: [room: Room] };

export class RoomRegistry extends EventEmitter<RegistryEvents> {
  readonly #rooms = new Map<string, Room>();
  readonly #graceTimers = new Map<string, NodeJS.Timeout>();
  readonly #pool: WorkerPool;
  readonly #options: RoomRegistryOptions;
  readonly #log: Logger;
  readonly #onWorkerDied = (index: number) => {
    for (const room of this.#rooms.values()) room.handleWorkerDied(index);
  };
  #closed = false;

  constructor(pool: WorkerPool, options: RoomRegistryOptions, logger: Logger) {
    super();
    this.#pool = pool;
    this.#options = options;
    this.#log = logger.child({ component: 'rooms' });
    pool.on('workerDied', this.#onWorkerDied);
  }

  get size(): number {
    return this.#rooms.size;
  }

  get(id: string): Room | undefined {
    return this.#rooms.get(id);
  }

  getOrCreate(id: string): Room {
    if (this.#closed) throw new Error('room registry is closed');
    this.#cancelGrace(id);
    let room = this.#rooms.get(id);
    if (!room) {
      room = new Room(id, this.#pool, this.#options, this.#log);
      const created = room;
      this.#rooms.set(id, created);
      created.on('empty', () => this.#scheduleClose(created));
      created.on('closed', () => {
        this.#cancelGrace(id);
        if (this.#rooms.get(id) === created) this.#rooms.delete(id);
      });
      // A room nobody manages to join (e.g. bad token) must not linger.
      this.#scheduleClose(created);
      this.#log.info({ room: id }, 'room created');
      this.emit('roomCreated', created);
    }
    return room;
  }

  /** After a failed join: an empty room goes back to its grace countdown. */
  releaseIfEmpty(room: Room): void {
    if (!room.closed && room.peerCount === 0 && this.#rooms.get(room.id) === room) this.#scheduleClose(room);
  }

  /** Live first, then by audience. */
  list(): RoomSummary[] {
    return [...this.#rooms.values()]
      .map((room) => room.summary())
      .sort((a, b) => Number(b.live) - Number(a.live) || b.viewers - a.viewers || a.id.localeCompare(b.id));
  }

  rooms(): Room[] {
    return [...this.#rooms.values()];
  }

  close(reason = 'server shutting down'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.off('workerDied', this.#onWorkerDied);
    for (const timer of this.#graceTimers.values()) clearTimeout(timer);
    this.#graceTimers.clear();
    for (const room of [...this.#rooms.values()]) room.close(reason);
    this.#rooms.clear();
  }

  #scheduleClose(room: Room): void {
    this.#cancelGrace(room.id);
    const timer = setTimeout(() => {
      this.#graceTimers.delete(room.id);
      if (room.peerCount === 0) room.close('empty');
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
