/**
 * The cluster drills' stage: a private redis-server and three Floodlight nodes
 * as child processes on 127.0.0.2/.3/.4 (so a node can be SIGKILLed for real),
 * a headless SDK publisher and viewers (werift, the browser SDK's own
 * signaling, redirect and failover code), and the admin views the drills
 * measure through (GET /api/cluster, the drain API). Everything started is
 * registered with the BenchRun, so it is stopped on success, error or Ctrl-C.
 */
import { TokenService } from '../../server/auth/tokens.js';
import type { ClusterOverview, ClusterRoomView } from '../../server/contracts/clusterApi.js';
import { spawnClusterNode, type ChildNode } from '../../test/helpers/clusterNodes.js';
import { HeadlessPublisher, HeadlessViewer } from '../../test/helpers/headlessPeer.js';
import { RedisServer } from '../../test/helpers/redisServer.js';
import { TEST_AUTH_SECRET } from '../../test/helpers/testServer.js';
import { waitFor } from '../../test/helpers/wait.js';
import type { BenchRun } from '../bench/lib/lifecycle.js';
import { progress } from '../bench/lib/results.js';

export const NODE_IDS = ['node-a', 'node-b', 'node-c'] as const;
export type NodeId = (typeof NODE_IDS)[number];
const NODE_IPS: Record<NodeId, string> = { 'node-a': '127.0.0.2', 'node-b': '127.0.0.3', 'node-c': '127.0.0.4' };

/** Small video: three nodes, their workers, ffmpeg and every werift peer share this machine. */
const DRILL_VIDEO = { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 1 };

export class ClusterRig {
  readonly #tokens = new TokenService(TEST_AUTH_SECRET);
  readonly #nodes = new Map<NodeId, ChildNode>();

  private constructor(
    private readonly run: BenchRun,
    readonly redis: RedisServer,
  ) {}

  /** Redis, then the three nodes one after another (they share two cores). */
  static async start(run: BenchRun): Promise<ClusterRig> {
    const redis = run.defer('redis-server', await RedisServer.start(), (r) => r.stop());
    const rig = new ClusterRig(run, redis);
    for (const id of NODE_IDS) {
      const node = run.defer(id, await spawnClusterNode(redis.url, id, NODE_IPS[id], { STATS_INTERVAL_SECONDS: '1' }), (n) => n.process.stop());
      rig.#nodes.set(id, node);
    }
    progress(run.name, `redis ${redis.url}; ${NODE_IDS.map((id) => `${id} ${rig.url(id)}`).join(', ')}`);
    return rig;
  }

  node(id: NodeId): ChildNode {
    const node = this.#nodes.get(id);
    if (!node) throw new Error(`no ${id}`);
    return node;
  }

  url(id: NodeId): string {
    return this.node(id).url;
  }

  /** Which node a URL is (the SDK's current server), or the URL itself. */
  nodeAt(url: string | undefined): string {
    return NODE_IDS.find((id) => this.#nodes.get(id)?.url === url) ?? url ?? '?';
  }

  /** Nodes that are not running any more (a drill must kill only its victim). */
  deadNodes(): NodeId[] {
    return NODE_IDS.filter((id) => !this.node(id).process.running);
  }

  async publisher(at: NodeId, room: string, name = 'publisher'): Promise<HeadlessPublisher> {
    const token = await this.#tokens.issue({ room, role: 'publisher' }, 3600);
    const peer = this.run.defer(name, new HeadlessPublisher({ url: this.url(at), room, token, name, video: DRILL_VIDEO }), (p) => p.close());
    await peer.publish();
    return peer;
  }

  /** Viewers that join at `at` (the SDK follows a redirect if the node sends one), four at a time. */
  async viewers(at: NodeId, room: string, count: number, prefix: string): Promise<HeadlessViewer[]> {
    const list = Array.from({ length: count }, (_, i) =>
      this.run.defer(`${prefix}-${i}`, new HeadlessViewer({ url: this.url(at), room, name: `${prefix}-${i}` }), (v) => v.close()),
    );
    for (let i = 0; i < list.length; i += 4) await Promise.all(list.slice(i, i + 4).map((v) => v.join()));
    return list;
  }

  /** Complete frames and audio at every viewer of `list` from now on (steady state before a failure). */
  async waitForMedia(list: readonly HeadlessViewer[], description: string, timeoutMs = 30_000): Promise<void> {
    const start = list.map((v) => ({ frames: v.stats().video.completeFrames, audio: v.stats().audio.packets }));
    await waitFor(() => list.every((v, i) => v.stats().video.completeFrames - start[i]!.frames >= 30 && v.stats().audio.packets - start[i]!.audio >= 20), {
      description,
      timeoutMs,
      progress: () => list.map((v) => v.summary()).join('\n'),
    });
  }

  async adminToken(): Promise<string> {
    return this.#tokens.issue({ room: '*', role: 'admin' }, 3600);
  }

  /** The shared state as `askAt` sees it (GET /api/cluster); undefined when that node does not answer. */
  async overview(askAt: NodeId): Promise<ClusterOverview | undefined> {
    try {
      const response = await fetch(`${this.url(askAt)}/api/cluster`, {
        headers: { authorization: `Bearer ${await this.adminToken()}` },
        signal: AbortSignal.timeout(2_000),
      });
      return response.ok ? ((await response.json()) as ClusterOverview) : undefined;
    } catch {
      return undefined;
    }
  }

  async room(askAt: NodeId, room: string): Promise<ClusterRoomView | undefined> {
    return (await this.overview(askAt))?.rooms.find((r) => r.id === room);
  }

  /** POST /api/cluster/nodes/:id/drain through `askAt`; the HTTP status. */
  async drain(askAt: NodeId, id: NodeId): Promise<number> {
    const response = await fetch(`${this.url(askAt)}/api/cluster/nodes/${id}/drain`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await this.adminToken()}` },
    });
    await response.body?.cancel();
    return response.status;
  }
}
