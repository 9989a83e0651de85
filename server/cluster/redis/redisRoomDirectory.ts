/**
 * The room directory of a cluster, in Redis (key layout in redisKeys.ts and
 * docs/cluster.md). Every key has a TTL: leases and reports live as long as
 * this process renews them (every second), so a node that dies loses its
 * leases and vanishes from listings within the TTL (3 s), and close() removes
 * what this node wrote. The one exception is the per-room epoch counter, which
 * must outlive its lease so epochs only grow (it expires after a week without
 * a claim or a renewal: far longer than any lease a stale node could hold).
 *
 * Lease changes are Lua scripts keyed on the lease value ("<epoch> <node>"),
 * so claim, compare-and-renew and compare-and-release are atomic.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import {
  OriginTakenError,
  compareListings,
  listingFromReports,
  type NodeRoomReport,
  type OriginLease,
  type RoomDirectory,
  type RoomListing,
} from '../roomDirectory.js';
import type { RedisKeys } from './redisKeys.js';

export interface RedisRoomDirectoryOptions {
  /** A connected client; shared, not owned (close() leaves it open). */
  client: Redis;
  keys: RedisKeys;
  logger: Logger;
  /** Default 3000 ms. */
  leaseTtlMs?: number;
  /** Default 3000 ms. */
  reportTtlMs?: number;
  /** How often leases and reports are renewed. Default 1000 ms. */
  renewEveryMs?: number;
  /** Renew the leases this directory hands out (tests turn it off to play a frozen holder). Default true. */
  renewLeases?: boolean;
  /**
   * Replicas a claim waits for (WAIT) before it counts, when Redis has replicas (Sentinel).
   * Replication is asynchronous: a claim acknowledged by a primary that dies before passing it
   * on would let the promoted replica hand out the same epoch again. Default 0 (no wait).
   */
  claimReplicas?: number;
}

/** How long a claim waits for its replicas; past it the claim stands and a warning is logged. */
const CLAIM_REPLICATION_WAIT_MS = 500;

const EPOCH_TTL_MS = 7 * 24 * 3600 * 1000;

// KEYS: origin, epoch. ARGV: node, lease TTL, epoch TTL. Returns the current lease value.
const CLAIM = `
local current = redis.call('GET', KEYS[1])
if current then
  if string.sub(current, string.find(current, ' ') + 1) == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  return current
end
local value = redis.call('INCR', KEYS[2]) .. ' ' .. ARGV[1]
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], value, 'PX', ARGV[2])
return value`;

// KEYS: origin, epoch. ARGV: lease value, lease TTL, epoch TTL. 1 if the lease was still ours.
const RENEW = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
return 1`;

// KEYS: origin. ARGV: lease value.
const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0`;

// KEYS: report, reporters, rooms. ARGV: node, room.
const FORGET = `
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[1])
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[3], ARGV[2]) end
return 0`;

const leaseValue = (lease: OriginLease): string => `${lease.epoch} ${lease.node}`;

function parseLease(room: string, value: string | null): OriginLease | undefined {
  if (value === null) return undefined;
  const space = value.indexOf(' ');
  return { room, node: value.slice(space + 1), epoch: Number(value.slice(0, space)) };
}

function parseReport(value: string | null): NodeRoomReport | undefined {
  if (value === null) return undefined;
  try {
    const report = JSON.parse(value) as Partial<NodeRoomReport>;
    if (typeof report.live === 'boolean' && typeof report.viewers === 'number' && typeof report.createdAt === 'string') return report as NodeRoomReport;
  } catch {
    // A foreign or corrupt value: treated as no report.
  }
  return undefined;
}

export class RedisRoomDirectory implements RoomDirectory {
  readonly #client: Redis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #leaseTtlMs: number;
  readonly #reportTtlMs: number;
  readonly #renewLeases: boolean;
  readonly #claimReplicas: number;
  /** Leases this directory renews, by room. */
  readonly #held = new Map<string, OriginLease>();
  /** This process's reports, renewed until forgotten, by report key. */
  readonly #reports = new Map<string, { node: string; room: string; report: NodeRoomReport }>();
  readonly #lostListeners = new Set<(lease: OriginLease) => void>();
  readonly #timer: NodeJS.Timeout;
  #renewing: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: RedisRoomDirectoryOptions) {
    this.#client = options.client;
    this.#keys = options.keys;
    this.#log = options.logger.child({ component: 'room-directory' });
    this.#leaseTtlMs = options.leaseTtlMs ?? 3_000;
    this.#reportTtlMs = options.reportTtlMs ?? 3_000;
    this.#renewLeases = options.renewLeases ?? true;
    this.#claimReplicas = options.claimReplicas ?? 0;
    this.#timer = setInterval(() => {
      // One renewal round at a time: a slow Redis must not pile rounds up.
      this.#renewing = this.#renewing.then(() => this.#renewAll());
    }, options.renewEveryMs ?? 1_000);
    this.#timer.unref();
  }

  async claimOrigin(room: string, node: string): Promise<OriginLease> {
    this.#assertOpen();
    const value = (await this.#client.eval(CLAIM, 2, this.#keys.origin(room), this.#keys.epoch(room), node, this.#leaseTtlMs, EPOCH_TTL_MS)) as string;
    const lease = parseLease(room, value)!;
    if (lease.node !== node) throw new OriginTakenError(lease);
    if (this.#claimReplicas > 0) {
      const acknowledged = await this.#client.wait(this.#claimReplicas, CLAIM_REPLICATION_WAIT_MS);
      if (acknowledged < this.#claimReplicas) this.#log.warn({ room, epoch: lease.epoch, acknowledged }, 'origin claim not yet on a replica');
    }
    if (this.#renewLeases && !this.#closed) this.#held.set(room, lease);
    return lease;
  }

  async renewOrigin(lease: OriginLease): Promise<boolean> {
    const renewed = await this.#client.eval(
      RENEW,
      2,
      this.#keys.origin(lease.room),
      this.#keys.epoch(lease.room),
      leaseValue(lease),
      this.#leaseTtlMs,
      EPOCH_TTL_MS,
    );
    return renewed === 1;
  }

  onOriginLost(listener: (lease: OriginLease) => void): () => void {
    this.#lostListeners.add(listener);
    return () => this.#lostListeners.delete(listener);
  }

  async releaseOrigin(lease: OriginLease): Promise<void> {
    if (this.#held.get(lease.room)?.epoch === lease.epoch) this.#held.delete(lease.room);
    await this.#client.eval(RELEASE, 1, this.#keys.origin(lease.room), leaseValue(lease));
  }

  async originOf(room: string): Promise<OriginLease | undefined> {
    return parseLease(room, await this.#client.get(this.#keys.origin(room)));
  }

  async report(node: string, room: { id: string; live: boolean; viewers: number; createdAt: string }): Promise<void> {
    this.#assertOpen();
    const entry = { node, room: room.id, report: { live: room.live, viewers: room.viewers, createdAt: room.createdAt } };
    this.#reports.set(this.#keys.report(room.id, node), entry);
    await this.#writeReports([entry]);
  }

  async forget(node: string, room: string): Promise<void> {
    const key = this.#keys.report(room, node);
    this.#reports.delete(key);
    await this.#client.eval(FORGET, 3, key, this.#keys.reporters(room), this.#keys.rooms, node, room);
  }

  async list(): Promise<RoomListing[]> {
    const rooms = await this.#client.smembers(this.#keys.rooms);
    const listings = await Promise.all(rooms.map((room) => this.get(room)));
    return listings.filter((listing) => listing !== undefined).sort(compareListings);
  }

  async get(room: string): Promise<RoomListing | undefined> {
    const [nodes, origin] = await Promise.all([this.#client.smembers(this.#keys.reporters(room)), this.#client.get(this.#keys.origin(room))]);
    const values = nodes.length > 0 ? await this.#client.mget(nodes.map((node) => this.#keys.report(room, node))) : [];
    const reports: [string, NodeRoomReport][] = [];
    const gone: string[] = [];
    nodes.forEach((node, i) => {
      const report = parseReport(values[i] ?? null);
      if (report) reports.push([node, report]);
      else gone.push(node);
    });
    // Index entries of reports that expired (their node stopped renewing).
    if (gone.length > 0) void this.#client.srem(this.#keys.reporters(room), ...gone).catch(() => undefined);
    return listingFromReports(room, parseLease(room, origin) ?? null, reports);
  }

  /** Releases this directory's leases and removes its reports. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#renewing;
    const leases = [...this.#held.values()];
    const reports = [...this.#reports.values()];
    await Promise.allSettled([...leases.map((lease) => this.releaseOrigin(lease)), ...reports.map((r) => this.forget(r.node, r.room))]);
    this.#held.clear();
    this.#reports.clear();
    this.#lostListeners.clear();
  }

  async #renewAll(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#writeReports([...this.#reports.values()]);
      await Promise.all([...this.#held.values()].map((lease) => this.#renewHeld(lease)));
    } catch (error) {
      // Redis away: leases expire on their own if it stays away; the next round retries.
      this.#log.debug({ err: (error as Error).message }, 'lease and report renewal failed');
    }
  }

  async #renewHeld(lease: OriginLease): Promise<void> {
    if (await this.renewOrigin(lease)) return;
    if (this.#held.get(lease.room) !== lease) return;
    this.#held.delete(lease.room);
    this.#log.warn({ room: lease.room, epoch: lease.epoch }, 'origin lease lost');
    for (const listener of this.#lostListeners) {
      try {
        listener(lease);
      } catch (error) {
        this.#log.error({ err: (error as Error).message }, 'an origin-lost listener threw');
      }
    }
  }

  async #writeReports(entries: { node: string; room: string; report: NodeRoomReport }[]): Promise<void> {
    if (entries.length === 0) return;
    const batch = this.#client.pipeline();
    for (const { node, room, report } of entries) {
      batch.set(this.#keys.report(room, node), JSON.stringify(report), 'PX', this.#reportTtlMs);
      batch.sadd(this.#keys.reporters(room), node).pexpire(this.#keys.reporters(room), this.#reportTtlMs);
      batch.sadd(this.#keys.rooms, room).pexpire(this.#keys.rooms, this.#reportTtlMs);
    }
    const results = (await batch.exec()) ?? [];
    const failed = results.find(([error]) => error !== null);
    if (failed) throw failed[0]!;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('the room directory is closed');
  }
}
