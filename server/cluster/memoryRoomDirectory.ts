/** The room directory of a single node: a map in this process. */
import {
  OriginTakenError,
  compareListings,
  listingFromReports,
  type NodeRoomReport,
  type OriginLease,
  type RoomDirectory,
  type RoomListing,
} from './roomDirectory.js';

interface Entry {
  origin: OriginLease | null;
  /** Last epoch handed out, kept after a release so epochs never go back. */
  epoch: number;
  reports: Map<string, NodeRoomReport>;
}

export class MemoryRoomDirectory implements RoomDirectory {
  readonly #rooms = new Map<string, Entry>();

  async claimOrigin(room: string, node: string): Promise<OriginLease> {
    const entry = this.#entry(room);
    if (entry.origin && entry.origin.node !== node) throw new OriginTakenError(entry.origin);
    if (entry.origin) return entry.origin;
    entry.epoch++;
    entry.origin = { room, node, epoch: entry.epoch };
    return entry.origin;
  }

  async releaseOrigin(lease: OriginLease): Promise<void> {
    const entry = this.#rooms.get(lease.room);
    if (entry?.origin?.epoch === lease.epoch) entry.origin = null;
    this.#prune(lease.room);
  }

  async renewOrigin(lease: OriginLease): Promise<boolean> {
    return this.#rooms.get(lease.room)?.origin?.epoch === lease.epoch;
  }

  /** In one process a lease only ends by release: nothing is ever lost. */
  onOriginLost(_listener: (lease: OriginLease) => void): () => void {
    return () => undefined;
  }

  async originOf(room: string): Promise<OriginLease | undefined> {
    return this.#rooms.get(room)?.origin ?? undefined;
  }

  async report(node: string, room: { id: string; live: boolean; viewers: number; createdAt: string }): Promise<void> {
    this.#entry(room.id).reports.set(node, { live: room.live, viewers: room.viewers, createdAt: room.createdAt });
  }

  async forget(node: string, room: string): Promise<void> {
    this.#rooms.get(room)?.reports.delete(node);
    this.#prune(room);
  }

  async list(): Promise<RoomListing[]> {
    return [...this.#rooms.keys()].flatMap((id) => this.#listing(id) ?? []).sort(compareListings);
  }

  async get(room: string): Promise<RoomListing | undefined> {
    return this.#listing(room);
  }

  async close(): Promise<void> {
    this.#rooms.clear();
  }

  #listing(id: string): RoomListing | undefined {
    const entry = this.#rooms.get(id);
    return entry ? listingFromReports(id, entry.origin, [...entry.reports.entries()]) : undefined;
  }

  #entry(room: string): Entry {
    let entry = this.#rooms.get(room);
    if (!entry) {
      entry = { origin: null, epoch: 0, reports: new Map() };
      this.#rooms.set(room, entry);
    }
    return entry;
  }

  /** A room nobody serves and nobody holds goes, but its epoch counter stays (fencing). */
  #prune(room: string): void {
    const entry = this.#rooms.get(room);
    if (entry && !entry.origin && entry.reports.size === 0 && entry.epoch === 0) this.#rooms.delete(room);
  }
}
