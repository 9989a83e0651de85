/**
 * Node selectors: small pure functions that narrow or order the candidate
 * nodes for one join. A placement policy (placementPolicy.ts) chains them;
 * each can be swapped or tested alone (the LiveKit selector shape).
 *
 * A filter that would leave no candidate is the caller's business: filters
 * here answer what they are asked, the policy decides what "nobody" means.
 */
import type { NodeLoad, NodeRecord } from '../nodeRegistry.js';

/** What one join asks for. */
export interface PlacementRequest {
  room: string;
  role: 'viewer' | 'publisher';
  /** The client's region hint (a REGION label), if it gave one. */
  region?: string | undefined;
}

/** Narrows or orders candidates; never invents nodes. */
export type Selector = (candidates: readonly NodeRecord[], request: PlacementRequest) => NodeRecord[];

/** Nodes that take new work: serving, WebRTC role, and not told to drain through the runtime settings. */
export function servingNodes(drainFlags: Readonly<Record<string, boolean>>): Selector {
  return (candidates) => candidates.filter((node) => node.state === 'serving' && node.roles.includes('webrtc') && drainFlags[node.id] !== true);
}

/**
 * Per-node capacity: nodes already holding `limit` WebRTC viewers of the room
 * are full for more viewers (0 = unlimited). Publishers are never refused here.
 */
export function withinCapacity(limit: number, roomViewersByNode: Readonly<Record<string, number>>): Selector {
  return (candidates, request) => {
    if (limit <= 0 || request.role !== 'viewer') return [...candidates];
    return candidates.filter((node) => (roomViewersByNode[node.id] ?? 0) < limit);
  };
}

/**
 * One number per node, lower is lighter: the larger of its CPU share and its
 * viewer share of `viewerCapacity`, so a node busy either way counts as busy;
 * consumers break near-ties (a node forwarding many tracks per viewer works harder).
 */
export function loadScore(load: NodeLoad, viewerCapacity: number): number {
  return Math.max(load.cpu, load.viewers / viewerCapacity) + load.consumers / (viewerCapacity * 1_000);
}

/** Viewers a node is assumed to carry comfortably when no limit is configured (mediasoup: ~500 consumers per worker). */
export const DEFAULT_VIEWER_CAPACITY = 500;

/** Lightest first; equal scores by id, so every node orders the same way. */
export function leastLoaded(viewerCapacity = DEFAULT_VIEWER_CAPACITY): Selector {
  const capacity = Math.max(1, viewerCapacity);
  return (candidates) => [...candidates].sort((a, b) => loadScore(a.load, capacity) - loadScore(b.load, capacity) || a.id.localeCompare(b.id));
}

/** Stable reorder: nodes of the client's region first (others keep their order behind them). No hint: unchanged. */
export const regionFirst: Selector = (candidates, request) => {
  if (!request.region) return [...candidates];
  const near = candidates.filter((node) => node.region === request.region);
  return [...near, ...candidates.filter((node) => node.region !== request.region)];
};

/** Stable reorder: `nodeId` first when it is a candidate (a publisher's pinned origin). */
export function pinned(nodeId: string | undefined): Selector {
  return (candidates) => {
    const pin = candidates.find((node) => node.id === nodeId);
    return pin ? [pin, ...candidates.filter((node) => node !== pin)] : [...candidates];
  };
}

/** Applies selectors left to right. */
export function chain(...selectors: Selector[]): Selector {
  return (candidates, request) => selectors.reduce<NodeRecord[]>((current, select) => select(current, request), [...candidates]);
}
