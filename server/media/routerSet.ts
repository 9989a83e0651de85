/**
 * The routers of one room and the pipes between them.
 *
 * The origin router (first, on the least-loaded worker) holds the room's
 * program. Viewers fill routers up to MAX_CONSUMERS_PER_ROUTER consumer slots;
 * when every router is full, a consumer router is opened on the least-loaded
 * worker (workers the room does not use yet first) and the program's tracks
 * are piped there, so one broadcast uses every core and each worker receives
 * it once. A consumer router whose last viewer leaves is closed, which closes
 * its pipes too.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { RoomError } from '../rooms/roomError.js';
import type { WorkerPool } from './workerPool.js';
import { placeViewer } from './placement.js';
import { RouterEntry } from './routerEntry.js';
import type { PipeStrategy } from './pipes/pipeStrategy.js';

/** Each viewer reserves this many consumer slots (one audio + one video). */
export const SLOTS_PER_VIEWER = 2;

/** What the router set pipes: a track of the program, by id, with its producer on the origin. */
export interface PipedTrack {
  readonly id: string;
  readonly producer: ms.Producer;
}

export interface RouterSetOptions {
  roomId: string;
  pool: WorkerPool;
  pipe: PipeStrategy;
  maxConsumersPerRouter: number;
  /** The program's current tracks (piped into every new consumer router). */
  tracks: () => readonly PipedTrack[];
  logger: Logger;
}

export interface RouterLayoutEntry {
  routerId: string;
  workerIndex: number;
  publisher: boolean;
  reserved: number;
}

export class RouterSet {
  readonly #options: RouterSetOptions;
  readonly #log: Logger;
  /** The origin (if any) is always entries[0]. */
  #entries: RouterEntry[] = [];
  #lock: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: RouterSetOptions) {
    this.#options = options;
    this.#log = options.logger;
  }

  get origin(): RouterEntry | undefined {
    const first = this.#entries[0];
    return first?.isOrigin && !first.router.closed ? first : undefined;
  }

  entries(): readonly RouterEntry[] {
    return this.#entries;
  }

  /** Distinct workers the room uses, ascending. */
  workers(): number[] {
    return [...new Set(this.#entries.map((e) => e.workerIndex))].sort((a, b) => a - b);
  }

  layout(): RouterLayoutEntry[] {
    return this.#entries.map((e) => ({ routerId: e.id, workerIndex: e.workerIndex, publisher: e.isOrigin, reserved: e.reserved }));
  }

  /** The origin router, created on the least-loaded worker on first use. */
  ensureOrigin(): Promise<RouterEntry> {
    return this.#withLock(() => this.#ensureOrigin());
  }

  /** Places one viewer: a router with room for its consumers (opened and fed if needed). */
  reserveViewer(): Promise<RouterEntry> {
    return this.#withLock(async () => {
      if (!this.origin) throw new RoomError('not-live', 'the room has no broadcast yet');
      const decision = placeViewer(
        this.#entries.map((e) => ({ id: e.id, workerIndex: e.workerIndex, reserved: e.reserved })),
        SLOTS_PER_VIEWER,
        this.#options.maxConsumersPerRouter,
      );
      let entry = decision.kind === 'existing' ? this.#entries.find((e) => e.id === decision.routerId) : undefined;
      if (!entry) entry = await this.#openConsumerRouter();
      entry.reserved += SLOTS_PER_VIEWER;
      return entry;
    });
  }

  /** A viewer left `entry`; an emptied consumer router closes. */
  release(entry: RouterEntry): void {
    entry.reserved = Math.max(0, entry.reserved - SLOTS_PER_VIEWER);
    if (entry.reserved === 0 && !entry.isOrigin && this.#entries.includes(entry)) {
      this.#entries = this.#entries.filter((e) => e !== entry);
      entry.close();
    }
  }

  /** The id under which `track` can be consumed on `entry`'s router (piped on demand). */
  localProducerId(entry: RouterEntry, track: PipedTrack): Promise<string> {
    return entry.localProducerIds.get(track.id) ?? this.#pipe(track, entry);
  }

  /** A program track appeared: the origin has it as is, consumer routers get it piped. */
  trackAdded(track: PipedTrack): void {
    for (const entry of this.#entries) {
      if (entry.isOrigin) entry.localProducerIds.set(track.id, Promise.resolve(track.producer.id));
      else void this.#pipe(track, entry).catch(() => undefined);
    }
  }

  trackRemoved(trackId: string): void {
    for (const entry of this.#entries) entry.localProducerIds.delete(trackId);
  }

  /**
   * A worker died: its routers are gone. If the origin was there, every router
   * goes (viewers elsewhere lost their feed too). Returns what was lost.
   */
  workerDied(workerIndex: number): { originLost: boolean; lost: RouterEntry[] } {
    const affected = this.#entries.filter((e) => e.workerIndex === workerIndex);
    if (affected.length === 0) return { originLost: false, lost: [] };
    const originLost = affected.some((e) => e.isOrigin);
    const lost = originLost ? this.#entries : affected;
    for (const entry of lost) entry.close();
    this.#entries = this.#entries.filter((e) => !lost.includes(e));
    return { originLost, lost };
  }

  /** Closes every router (and so every transport on them). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#entries) entry.close();
    this.#entries = [];
  }

  async #ensureOrigin(): Promise<RouterEntry> {
    const existing = this.origin;
    if (existing) return existing;
    const entry = await this.#openRouter(this.#options.pool.leastLoadedWorker(), 'origin');
    this.#entries.unshift(entry);
    return entry;
  }

  async #openConsumerRouter(): Promise<RouterEntry> {
    const entry = await this.#openRouter(this.#options.pool.leastLoadedWorker(this.#entries.map((e) => e.workerIndex)), 'consumer');
    this.#entries.push(entry);
    for (const track of this.#options.tracks()) void this.#pipe(track, entry).catch(() => undefined);
    this.#log.info({ worker: entry.workerIndex, router: entry.id, routers: this.#entries.length }, 'opened consumer router');
    return entry;
  }

  async #openRouter(workerIndex: number | undefined, role: 'origin' | 'consumer'): Promise<RouterEntry> {
    if (this.#closed) throw new RoomError('unavailable', 'room closed');
    if (workerIndex === undefined) throw new RoomError('unavailable', 'no media worker is available');
    const router = await this.#options.pool.createRouter(workerIndex, { room: this.#options.roomId, role });
    if (this.#closed) {
      router.close();
      throw new RoomError('unavailable', 'room closed');
    }
    return new RouterEntry(router, workerIndex, role === 'origin');
  }

  #pipe(track: PipedTrack, entry: RouterEntry): Promise<string> {
    const origin = this.origin;
    const piped = (async () => {
      if (!origin) throw new Error('no origin router');
      const producer = await this.#options.pipe.pipe({ producer: track.producer, from: origin.router, to: entry.router });
      producer.observer.once('close', () => entry.localProducerIds.delete(track.id));
      return producer.id;
    })();
    piped.catch((error: unknown) => {
      if (entry.localProducerIds.get(track.id) === piped) entry.localProducerIds.delete(track.id);
      if (!entry.router.closed) this.#log.error({ track: track.id, router: entry.id, err: (error as Error).message }, 'pipe failed');
    });
    entry.localProducerIds.set(track.id, piped);
    return piped;
  }

  /** Serializes placement so concurrent joins don't overfill a router. */
  #withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn);
    this.#lock = run.catch(() => undefined);
    return run;
  }
}
