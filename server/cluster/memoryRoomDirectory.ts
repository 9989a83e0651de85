/** The room directory of a single node: a map in this process. */
import { OriginTakenError, type OriginLease, type RoomDirectory, type RoomListing } from './roomDirectory.js';

interface Entry {
  origin: OriginLease | null;
  /** Last epoch handed out, kept after a release so epochs never go back. */
  epoch: number;
  reports: Map<string, { live: boolean; viewers: number; createdAt: string }>;
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
    const listings = [...this.#rooms.keys()].flatMap((id) => this.#listing(id) ?? []);
    const total = (l: RoomListing): number => Object.values(l.viewersByNode).reduce((a, b) => a + b, 0);
    return listings.sort((a, b) => Number(b.live) - Number(a.live) || total(b) - total(a) || a.id.localeCompare(b.id));
  }

  async get(room: string): Promise<RoomListing | undefined> {
    return this.#listing(room);
  }

  async close(): Promise<void> {
    this.#rooms.clear();
  }

  #listing(id: string): RoomListing | undefined {
    const entry = this.#rooms.get(id);
    if (!entry || entry.reports.size === 0) return undefined;
    const reports = [...entry.reports.entries()];
    return {
      id,
      origin: entry.origin,
      live: reports.some(([, r]) => r.live),
      viewersByNode: Object.fromEntries(reports.map(([node, r]) => [node, r.viewers])),
      createdAt: reports.map(([, r]) => r.createdAt).sort()[0]!,
    };
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
