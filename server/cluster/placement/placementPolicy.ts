/**
 * Where a join should go, from a snapshot of the cluster: pure functions over
 * the node records, the room's origin and audience, and the runtime settings
 * (placementService.ts gathers the snapshot).
 *
 *   viewers    → serving nodes with room under the per-node limit, region first, least loaded first
 *   publishers → the room's origin when it is serving (one origin per room), else as viewers without the limit
 *
 * And for a client that is already connected to some node, whether that node
 * should serve it or send it elsewhere (`joinDecision`).
 */
import type { NodeRecord } from '../nodeRegistry.js';
import type { OriginLease } from '../roomDirectory.js';
import { chain, leastLoaded, pinned, regionFirst, servingNodes, withinCapacity, type PlacementRequest } from './selectors.js';

/** What placement looks at. */
export interface ClusterSnapshot {
  /** Live nodes (the registry). */
  nodes: readonly NodeRecord[];
  /** The room's current origin, if any. */
  origin: OriginLease | undefined;
  /** WebRTC viewers of the room on each node. */
  roomViewersByNode: Readonly<Record<string, number>>;
  /** Effective MAX_WEBRTC_VIEWERS (runtime setting or configuration); 0 = unlimited. */
  maxWebRtcViewers: number;
  /** Runtime drain flags per node. */
  drain: Readonly<Record<string, boolean>>;
}

export interface Placement {
  node: NodeRecord;
  /** Other acceptable nodes, best first (for failover). */
  alternates: NodeRecord[];
}

/** At most this many alternates travel with an answer: enough to survive a node or two. */
export const MAX_ALTERNATES = 4;

/** The node for this join and its alternates; undefined when no node can take it. */
export function place(request: PlacementRequest, snapshot: ClusterSnapshot, exclude?: string): Placement | undefined {
  const candidates = snapshot.nodes.filter((node) => node.id !== exclude);
  const capacity = snapshot.maxWebRtcViewers > 0 ? snapshot.maxWebRtcViewers : undefined;
  const select = chain(
    servingNodes(snapshot.drain),
    withinCapacity(snapshot.maxWebRtcViewers, snapshot.roomViewersByNode),
    leastLoaded(capacity),
    regionFirst,
    pinned(request.role === 'publisher' ? snapshot.origin?.node : undefined),
  );
  const [node, ...rest] = select(candidates, request);
  return node ? { node, alternates: rest.slice(0, MAX_ALTERNATES) } : undefined;
}

export type JoinDecision =
  | { action: 'serve' }
  | { action: 'redirect'; placement: Placement; reason: string }
  /** This node must not serve and no other node can: the client gets UNAVAILABLE. */
  | { action: 'refuse'; reason: string };

/** Should node `self` serve this join, or send the client elsewhere? */
export function joinDecision(request: PlacementRequest, self: string, selfDraining: boolean, snapshot: ClusterSnapshot): JoinDecision {
  const elsewhere = (reason: string): JoinDecision => {
    const placement = place(request, snapshot, self);
    return placement ? { action: 'redirect', placement, reason } : { action: 'refuse', reason: `${reason}, and no other node can take this join` };
  };
  if (selfDraining || snapshot.drain[self] === true) return elsewhere('this node is draining');
  if (request.role === 'publisher') {
    const origin = snapshot.origin?.node;
    // place() pins a serving origin first; a draining origin is being left, so the publisher may land here and take over.
    const placement = origin !== undefined && origin !== self ? place(request, snapshot) : undefined;
    if (placement && placement.node.id === origin) {
      const alternates = placement.alternates.filter((node) => node.id !== self);
      return { action: 'redirect', placement: { node: placement.node, alternates }, reason: `the room's origin is node ${origin}` };
    }
    return { action: 'serve' };
  }
  const limit = snapshot.maxWebRtcViewers;
  if (limit > 0 && (snapshot.roomViewersByNode[self] ?? 0) >= limit) {
    const placement = place(request, snapshot, self);
    // Nobody else has room either: serve, and the room's own limit answers ROOM_FULL.
    if (placement) return { action: 'redirect', placement, reason: `this node holds its limit of ${limit} viewers of the room` };
  }
  return { action: 'serve' };
}
