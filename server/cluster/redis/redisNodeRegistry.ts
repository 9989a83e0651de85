/**
 * Nodes in Redis: one key per node ("{owner, record}" JSON, TTL NODE_TTL_MS)
 * renewed every second, and an index set of ids (same TTL, refreshed by every
 * renewal; ids whose key expired are pruned on read). The owner is a random
 * token per process, so a second process announcing a live id is refused
 * while the same process renewing its own key is not.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { NodeRegistryTiming } from '../memoryNodeRegistry.js';
import {
  NODE_RENEW_MS,
  NODE_TTL_MS,
  NodeIdTakenError,
  nodeRecordSchema,
  parseAnnouncement,
  type NodeAnnouncement,
  type NodeRecord,
  type NodeRegistry,
} from '../nodeRegistry.js';
import type { RedisKeys } from './redisKeys.js';

// KEYS: node, index. ARGV: owner, value, TTL, id. 1 if written; the holder's value if another owner holds it.
const PUT = `
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).owner ~= ARGV[1] then return current end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

// KEYS: node, index. ARGV: owner, id.
const REMOVE = `
local current = redis.call('GET', KEYS[1])
if current and cjson.decode(current).owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('SREM', KEYS[2], ARGV[2])
return 0`;

function parseStored(value: string | null): NodeRecord | undefined {
  if (value === null) return undefined;
  try {
    const parsed = nodeRecordSchema.safeParse((JSON.parse(value) as { record?: unknown }).record);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

export class RedisNodeRegistry implements NodeRegistry {
  readonly #client: Redis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #owner = randomUUID();
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  #node: NodeAnnouncement | undefined;
  #timer: NodeJS.Timeout | undefined;
  #renewing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: NodeRegistryTiming & { client: Redis; keys: RedisKeys; logger: Logger }) {
    this.#client = options.client;
    this.#keys = options.keys;
    this.#log = options.logger.child({ component: 'node-registry' });
    this.#ttlMs = options.ttlMs ?? NODE_TTL_MS;
    this.#renewEveryMs = options.renewEveryMs ?? NODE_RENEW_MS;
  }

  async announce(node: NodeAnnouncement): Promise<void> {
    if (this.#closed) throw new Error('the node registry is closed');
    if (this.#node) throw new Error(`this registry already announced node ${this.#node.id}`);
    const announced = parseAnnouncement(node);
    const holder = await this.#put(announced);
    if (holder) throw new NodeIdTakenError(holder);
    this.#node = announced;
    this.#timer = setInterval(() => {
      this.#renewing = this.#renewing.then(() => this.#renew());
    }, this.#renewEveryMs);
    this.#timer.unref();
  }

  update(change: Partial<Pick<NodeAnnouncement, 'state' | 'load'>>): void {
    if (!this.#node) throw new Error('announce the node first');
    this.#node = parseAnnouncement({ ...this.#node, ...change });
  }

  async nodes(): Promise<NodeRecord[]> {
    const ids = await this.#client.smembers(this.#keys.nodes);
    if (ids.length === 0) return [];
    const values = await this.#client.mget(ids.map((id) => this.#keys.node(id)));
    const records: NodeRecord[] = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const record = parseStored(values[i] ?? null);
      if (record) records.push(record);
      else gone.push(id);
    });
    if (gone.length > 0) void this.#client.srem(this.#keys.nodes, ...gone).catch(() => undefined);
    return records.sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    return parseStored(await this.#client.get(this.#keys.node(id)));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#renewing;
    if (this.#node) await this.#client.eval(REMOVE, 2, this.#keys.node(this.#node.id), this.#keys.nodes, this.#owner, this.#node.id);
  }

  async #renew(): Promise<void> {
    if (!this.#node || this.#closed) return;
    try {
      const holder = await this.#put(this.#node);
      if (holder) this.#log.error({ node: holder.id, holder: holder.publicUrl }, 'another process announced this node id after ours expired');
    } catch (error) {
      this.#log.debug({ err: (error as Error).message }, 'node renewal failed');
    }
  }

  /** Writes our record unless another owner holds the id; returns that holder. */
  async #put(node: NodeAnnouncement): Promise<NodeRecord | undefined> {
    const record: NodeRecord = { ...node, updatedAt: new Date().toISOString() };
    const value = JSON.stringify({ owner: this.#owner, record });
    const result = await this.#client.eval(PUT, 2, this.#keys.node(node.id), this.#keys.nodes, this.#owner, value, this.#ttlMs, node.id);
    return result === 1 ? undefined : (parseStored(result as string) ?? { ...record, publicUrl: 'unknown' });
  }
}
