/**
 * Where a room's HLS recorder runs (issue 10, "HLS in a cluster"): nodes with
 * the `hls` role and not the `webrtc` one exist so that transcoding moves off
 * the WebRTC nodes, so they come first, least loaded first; without any, the
 * origin records its own rooms (as on a single node), if it has the role.
 * A pure function: the origin's HlsService calls it and keeps the answer
 * (a recorder is not moved while its node serves).
 */
import type { NodeRecord } from '../nodeRegistry.js';

export interface HlsRecorderRequest {
  /** The room's origin node (its own record may be missing while it announces). */
  origin: string;
  /** How many recorders the room wants (2 = redundant origins). */
  count: number;
  /** Recorders the room already has: kept while still eligible. */
  current: readonly string[];
  /** Nodes told to drain through the runtime settings. */
  drainFlags: Readonly<Record<string, boolean>>;
}

/** Eligible: serving, not told to drain, and announcing the `hls` role. */
function eligible(node: NodeRecord, drainFlags: Readonly<Record<string, boolean>>): boolean {
  return node.state === 'serving' && node.roles.includes('hls') && drainFlags[node.id] !== true;
}

/** Dedicated HLS nodes first, each group least loaded (CPU) first, ties by id so every node orders alike. */
function preference(origin: string): (a: NodeRecord, b: NodeRecord) => number {
  const rank = (node: NodeRecord): number => (node.roles.includes('webrtc') ? (node.id === origin ? 1 : 2) : 0);
  return (a, b) => rank(a) - rank(b) || a.load.cpu - b.load.cpu || a.id.localeCompare(b.id);
}

/**
 * The nodes that should record the room, at most `count`: the current ones
 * that are still eligible, topped up in preference order. A second recorder
 * always lands on another node than the first.
 */
export function chooseHlsRecorders(nodes: readonly NodeRecord[], request: HlsRecorderRequest): string[] {
  const candidates = nodes.filter((node) => eligible(node, request.drainFlags)).sort(preference(request.origin));
  // A running recorder is not moved while its node stays eligible (moving costs the players a discontinuity).
  const keep = request.current.filter((id) => candidates.some((node) => node.id === id));
  const chosen = keep.slice(0, request.count);
  for (const node of candidates) {
    if (chosen.length >= request.count) break;
    if (!chosen.includes(node.id)) chosen.push(node.id);
  }
  return chosen;
}
