/**
 * GET /api/cluster (admin): the cluster as the node that answers sees it in
 * the shared state: every live node with its load, every room with its
 * origin, its audience per node and the pipes that carry it to its edges
 * (asked of each origin node over the bus: `cluster.pipes`). A single node
 * without Redis answers the same shape with mode 'memory' and itself as the
 * only node.
 */
import { z } from 'zod';

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
  /**
   * The pipes from the origin to the edges, as the origin node reports them (empty without a
   * cluster).
   */
  pipes: ClusterPipeView[];
}

export interface ClusterOverview {
  mode: 'memory' | 'redis';
  /** The node that answered. */
  node: string;
  nodes: ClusterNodeView[];
  rooms: ClusterRoomView[];
  /** Origin nodes that did not report their pipes in time: their rooms' `pipes` may be incomplete. */
  pipesUnreported: string[];
}

/** The bus method each node serves with the pipes it holds as an origin. */
export const CLUSTER_PIPES_METHOD = 'cluster.pipes';
/** How long /api/cluster waits for an origin node's pipes (a live node answers in milliseconds). */
export const CLUSTER_PIPES_TIMEOUT_MS = 1_000;

/** One track carried by a pipe, from the origin's pipe consumer (all simulcast layers summed). */
const clusterPipeTrackSchema = z.strictObject({
  id: z.string().min(1).max(128),
  kind: z.enum(['audio', 'video']),
  /** 'flowing': sending; 'paused': the track is paused; 'idle': nothing sent in the last stats window. */
  state: z.enum(['flowing', 'paused', 'idle']),
  bitrateBps: z.number().nonnegative(),
  packets: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
});

/** One pipe: a room's program from its origin node to one edge node (one per edge, whatever its audience). */
const clusterPipeSchema = z.strictObject({
  id: z.string().min(1).max(128),
  room: z.string().min(1).max(64),
  origin: z.string().min(1).max(64),
  edge: z.string().min(1).max(64),
  epoch: z.number().int().positive(),
  tracks: z.array(clusterPipeTrackSchema).max(64),
});

/** The answer to CLUSTER_PIPES_METHOD; validated by the asking node. */
export const clusterPipesAnswerSchema = z.strictObject({ pipes: z.array(clusterPipeSchema).max(10_000) });

export type ClusterPipeTrackView = z.infer<typeof clusterPipeTrackSchema>;
export type ClusterPipeView = z.infer<typeof clusterPipeSchema>;
export type ClusterPipesAnswer = z.infer<typeof clusterPipesAnswerSchema>;

/** The nodes serving a room other than its origin: each holds one pipe per track from the origin. */
export function edgesOf(room: ClusterRoomView): string[] {
  return Object.keys(room.viewersByNode)
    .filter((node) => node !== room.origin?.node)
    .sort();
}

/** GET /api/settings (admin): the runtime settings as applied on the answering node. */
export interface RuntimeSettingsSnapshot {
  /** Overrides MAX_WEBRTC_VIEWERS (0 = unlimited). */
  maxWebRtcViewers: number | undefined;
  /** Rooms whose HLS ladder is switched on or off (others follow the configuration). */
  hlsLadder: Record<string, boolean>;
  /**
   * Rooms recorded on two nodes (true) or one (false) whatever their audience
   * (others follow HLS_REDUNDANT_AUDIENCE). Absent while no room has one.
   */
  hlsRedundant?: Record<string, boolean>;
  /** Nodes told to drain (true) or to serve again. */
  drain: Record<string, boolean>;
}
