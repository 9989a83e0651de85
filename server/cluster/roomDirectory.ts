/**
 * Where rooms live and who watches them: the answer to "which node holds room
 * X, and how big is its audience". One node is a room's origin (it holds the
 * room's active source); the origin holds a lease with a fencing epoch, so two
 * nodes can never both act as origin — a node that lost its lease learns it
 * from a higher epoch. Implementations: in memory (one node, the default) and
 * Redis (a cluster).
 *
 * A lease lives as long as its holder keeps it: the implementation renews the
 * leases it handed out (and this node's reports) while the process lives, so a
 * node that dies loses its rooms within seconds. `renewOrigin` is the explicit
 * form of that renewal: false means the lease is gone (expired, or another
 * node holds a newer epoch) and the caller must stop acting as origin.
 */

export interface OriginLease {
  room: string;
  node: string;
  /** Increases every time the origin of this room changes hands. */
  epoch: number;
}

export interface RoomListing {
  id: string;
  origin: OriginLease | null;
  live: boolean;
  /** WebRTC viewers per node. */
  viewersByNode: Record<string, number>;
  createdAt: string;
}

/** Listing order: live first, then by total audience, then by id. */
export function compareListings(a: RoomListing, b: RoomListing): number {
  const total = (l: RoomListing): number => Object.values(l.viewersByNode).reduce((sum, n) => sum + n, 0);
  return Number(b.live) - Number(a.live) || total(b) - total(a) || a.id.localeCompare(b.id);
}

/** One room's listing from the nodes' reports; undefined when nobody reports it. */
export function listingFromReports(id: string, origin: OriginLease | null, reports: [node: string, report: NodeRoomReport][]): RoomListing | undefined {
  if (reports.length === 0) return undefined;
  return {
    id,
    origin,
    live: reports.some(([, r]) => r.live),
    viewersByNode: Object.fromEntries(reports.map(([node, r]) => [node, r.viewers])),
    createdAt: reports.map(([, r]) => r.createdAt).sort()[0]!,
  };
}

/** What one node says about a room it serves. */
export interface NodeRoomReport {
  live: boolean;
  viewers: number;
  createdAt: string;
}

export class OriginTakenError extends Error {
  constructor(readonly holder: OriginLease) {
    super(`room "${holder.room}" already has its origin on node ${holder.node} (epoch ${holder.epoch})`);
    this.name = 'OriginTakenError';
  }
}

export interface RoomDirectory {
  /** Becomes the room's origin (a new epoch), unless another live node holds it: OriginTakenError. */
  claimOrigin(room: string, node: string): Promise<OriginLease>;
  /** Gives the origin up, only if `lease` is still the current one. */
  releaseOrigin(lease: OriginLease): Promise<void>;
  /** Keeps `lease` alive; false when it was lost (expired and taken, or released). */
  renewOrigin(lease: OriginLease): Promise<boolean>;
  /** Called when a lease this directory was renewing is found lost; returns an unsubscribe function. */
  onOriginLost(listener: (lease: OriginLease) => void): () => void;
  originOf(room: string): Promise<OriginLease | undefined>;
  /** This node's view of a room it serves: liveness and its own audience. */
  report(node: string, room: { id: string; live: boolean; viewers: number; createdAt: string }): Promise<void>;
  /** This node no longer serves the room. */
  forget(node: string, room: string): Promise<void>;
  /** Rooms someone serves, live first, then by audience. */
  list(): Promise<RoomListing[]>;
  get(room: string): Promise<RoomListing | undefined>;
  close(): Promise<void>;
}
