/**
 * GET /api/cluster (admin): the cluster as the node that answers sees it in
 * the shared state: every live node with its load, every room with its
 * origin and its audience per node. A single node without Redis answers the
 * same shape with mode 'memory' and itself as the only node.
 */

export interface ClusterNodeLoad {
  /** Share of the machine's CPU in use by the node's media workers, 0-1. */
  cpu: number;
  viewers: number;
  consumers: number;
  bitrateOutBps: number;
}

export interface ClusterNodeView {
  id: string;
  publicUrl: string;
  /** Address other nodes' pipes reach this node's media on. */
  mediaAddress: string;
  region: string;
  roles: ('webrtc' | 'hls')[];
  /** A draining node takes no new joins and moves its clients away. */
  state: 'serving' | 'draining';
  load: ClusterNodeLoad;
  /** When the node last renewed its announcement (its own clock, ISO). */
  updatedAt: string;
}

export interface ClusterRoomView {
  id: string;
  /** The node holding the room's source, with its fencing epoch; null while nobody broadcasts. */
  origin: { node: string; epoch: number } | null;
  live: boolean;
  /** WebRTC viewers per serving node; every node here but the origin is an edge fed by a pipe. */
  viewersByNode: Record<string, number>;
  createdAt: string;
}

export interface ClusterOverview {
  mode: 'memory' | 'redis';
  /** The node that answered. */
  node: string;
  nodes: ClusterNodeView[];
  rooms: ClusterRoomView[];
}

/** The nodes serving a room other than its origin: each holds one pipe per track from the origin. */
export function edgesOf(room: ClusterRoomView): string[] {
  return Object.keys(room.viewersByNode)
    .filter((node) => node !== room.origin?.node)
    .sort();
}
