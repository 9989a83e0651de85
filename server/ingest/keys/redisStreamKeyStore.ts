/**
 * Stream keys in the cluster's Redis, so any node can check a key:
 *   <prefix>streamkey:<id>           the record (JSON, no secret)
 *   <prefix>streamkey:<id>:used      when it was last presented (ISO time)
 *   <prefix>streamkeys:room:<room>   hash slot → key id (one key per slot)
 * Last use is kept apart from the record so that recording a use can never
 * write back a hash that a rotation just replaced.
 */
import type { Redis } from 'ioredis';
import type { SourceSlot } from '../../sources/mediaSource.js';
import {
  StreamKeyError,
  keyInfo,
  keyMatches,
  mintStreamKey,
  newStreamKeyId,
  streamKeyId,
  streamKeyRecordSchema,
  type IssuedStreamKey,
  type StreamKeyGrant,
  type StreamKeyInfo,
  type StreamKeyRecord,
} from './streamKey.js';
import { bySlot, type StreamKeyStore } from './streamKeyStore.js';

/** Claims the slot and stores the record in one step; returns the id already there, if any. */
const CREATE_SCRIPT = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing and redis.call('EXISTS', ARGV[4] .. existing) == 1 then return existing end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
return false`;

export interface RedisStreamKeyStoreOptions {
  client: Redis;
  /** REDIS_KEY_PREFIX. */
  prefix: string;
  /** Close the client with the store (true when the store opened it). */
  ownsClient: boolean;
}

export class RedisStreamKeyStore implements StreamKeyStore {
  readonly #client: Redis;
  readonly #prefix: string;
  readonly #ownsClient: boolean;
  #closed = false;

  constructor(options: RedisStreamKeyStoreOptions) {
    this.#client = options.client;
    this.#prefix = options.prefix;
    this.#ownsClient = options.ownsClient;
  }

  async create(room: string, slot: SourceSlot): Promise<IssuedStreamKey> {
    const { key, record } = mintStreamKey(newStreamKeyId(), room, slot);
    const existing = await this.#client.eval(
      CREATE_SCRIPT,
      2,
      this.#roomKey(room),
      this.#recordKey(record.id),
      slot,
      record.id,
      JSON.stringify(record),
      `${this.#prefix}streamkey:`,
    );
    if (typeof existing === 'string') throw new StreamKeyError('exists', `room "${room}" already has a ${slot} key (${existing}); rotate or revoke it`);
    return { ...keyInfo(record), key };
  }

  async list(room: string): Promise<StreamKeyInfo[]> {
    const ids = Object.values(await this.#client.hgetall(this.#roomKey(room)));
    const records = await Promise.all(ids.map((id) => this.#record(id)));
    return records
      .filter((r): r is StreamKeyRecord => r?.room === room)
      .map((r) => keyInfo(r))
      .sort(bySlot);
  }

  async rotate(room: string, id: string): Promise<IssuedStreamKey> {
    const current = await this.#ownRecord(room, id);
    const { key, record } = mintStreamKey(id, room, current.slot);
    const stored = await this.#client.set(this.#recordKey(id), JSON.stringify(record), 'XX');
    if (stored !== 'OK') throw new StreamKeyError('not-found', `room "${room}" has no key ${id}`);
    return { ...keyInfo(record), key };
  }

  async revoke(room: string, id: string): Promise<void> {
    const record = await this.#ownRecord(room, id);
    await this.#client.multi().del(this.#recordKey(id), this.#usedKey(id)).hdel(this.#roomKey(room), record.slot).exec();
  }

  async resolve(key: string): Promise<StreamKeyGrant | undefined> {
    const id = streamKeyId(key);
    if (id === undefined) return undefined;
    const record = await this.#record(id);
    if (!record || !keyMatches(key, record)) return undefined;
    await this.#client.set(this.#usedKey(id), new Date().toISOString()).catch(() => undefined);
    return { keyId: id, room: record.room, slot: record.slot };
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#ownsClient) await this.#client.quit().catch(() => this.#client.disconnect());
  }

  async #ownRecord(room: string, id: string): Promise<StreamKeyRecord> {
    const record = await this.#record(id);
    if (record?.room !== room) throw new StreamKeyError('not-found', `room "${room}" has no key ${id}`);
    return record;
  }

  async #record(id: string): Promise<StreamKeyRecord | undefined> {
    const [raw, used] = await this.#client.mget(this.#recordKey(id), this.#usedKey(id));
    if (raw === null || raw === undefined) return undefined;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return undefined;
    }
    const parsed = streamKeyRecordSchema.safeParse(json);
    return parsed.success ? { ...parsed.data, lastUsedAt: used ?? parsed.data.lastUsedAt } : undefined;
  }

  #recordKey(id: string): string {
    return `${this.#prefix}streamkey:${id}`;
  }

  #usedKey(id: string): string {
    return `${this.#prefix}streamkey:${id}:used`;
  }

  #roomKey(room: string): string {
    return `${this.#prefix}streamkeys:room:${room}`;
  }
}
