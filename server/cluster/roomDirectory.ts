/**
 * Where rooms live and who watches them: the answer to "which node holds room
 * X, and how big is its audience". One node is a room's origin (it holds the
 * room's active source); the origin holds a lease with a fencing epoch, so two
 * nodes can never both act as origin — a node that lost its lease learns it
 * from a higher epoch. Implementations: in memory (one node, the default) and
 * Redis (a cluster).
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
