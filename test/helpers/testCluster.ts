/**
 * Several Floodlight nodes in this process on one private redis-server (the
 * placement and drain tests): each its own NODE_ID and port, one shared
 * AUTH_SECRET, so a token is good on every node. `url(node)` is the node's
 * public URL as the registry announces it.
 */
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from './redisServer.js';
import { startTestServer } from './testServer.js';

export class TestCluster {
  private constructor(
    readonly redis: RedisServer,
    readonly nodes: FloodlightServer[],
  ) {}

  /** A redis-server and `ids.length` nodes on it (started one after another: they share two cores). */
  static async start(ids: string[], env: Record<string, string> = {}): Promise<TestCluster> {
    const redis = await RedisServer.start();
    const cluster = new TestCluster(redis, []);
    try {
      for (const id of ids) cluster.nodes.push(await startTestServer({ REDIS_URL: redis.url, NODE_ID: id, STATS_INTERVAL_SECONDS: '1', ...env }));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  node(id: string): FloodlightServer {
    const node = this.nodes.find((n) => n.config.nodeId === id);
    if (!node) throw new Error(`no node ${id} in this test cluster`);
    return node;
  }

  /** The public URL a node announces (what redirects and placements name). */
  url(id: string): string {
    return `http://${this.node(id).config.announcedIp}:${this.node(id).port}`;
  }

  async adminToken(): Promise<string> {
    return this.nodes[0]!.tokens.issue({ room: '*', role: 'admin' }, 600);
  }

  /** Stops every node still running, then Redis. Idempotent. */
  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((node) => node.close()));
    await this.redis.stop();
  }
}
