/**
 * Runtime settings in Redis: a hash (one field per setting, see
 * runtimeSettings.ts) and a channel announcing which field changed. Every node
 * loads the hash at start and re-reads a field when told it changed; after a
 * reconnect (messages may have been missed) it reloads the whole hash. The
 * hash has no TTL: it is operator configuration, kept until cleared.
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import {
  AppliedSettings,
  parseSettingChange,
  settingField,
  settingFromField,
  type RuntimeSettings,
  type RuntimeSettingsSnapshot,
  type SettingChange,
} from '../runtimeSettings.js';
import type { RedisKeys } from './redisKeys.js';
import { duplicateConnection } from './redisConnection.js';

export class RedisRuntimeSettings implements RuntimeSettings {
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #applied: AppliedSettings;
  #closed = false;

  /** Settings loaded and followed. */
  static async create(options: { client: Redis; keys: RedisKeys; logger: Logger; name?: string }): Promise<RedisRuntimeSettings> {
    const subscriber = await duplicateConnection(options.client, { name: options.name ?? 'floodlight-settings', logger: options.logger });
    const settings = new RedisRuntimeSettings(options, subscriber);
    try {
      await subscriber.subscribe(options.keys.settingsChannel);
      await settings.#reload();
    } catch (error) {
      await settings.close();
      throw error;
    }
    return settings;
  }

  private constructor(options: { client: Redis; keys: RedisKeys; logger: Logger }, subscriber: Redis) {
    this.#client = options.client;
    this.#subscriber = subscriber;
    this.#keys = options.keys;
    this.#log = options.logger.child({ component: 'runtime-settings' });
    this.#applied = new AppliedSettings((error) => this.#log.error({ err: (error as Error).message }, 'a settings listener threw'));
    subscriber.on('message', (_channel: string, field: string) => void this.#refresh(field));
    // Back from a disconnection: changes announced meanwhile were missed.
    let connectedOnce = false;
    subscriber.on('ready', () => {
      if (connectedOnce) void this.#reload().catch((error: unknown) => this.#log.warn({ err: (error as Error).message }, 'settings reload failed'));
      connectedOnce = true;
    });
  }

  snapshot(): RuntimeSettingsSnapshot {
    return this.#applied.snapshot();
  }

  async set(change: SettingChange): Promise<void> {
    if (this.#closed) throw new Error('the runtime settings are closed');
    const valid = parseSettingChange(change);
    const field = settingField(valid);
    const batch = this.#client.multi();
    if (valid.value === undefined) batch.hdel(this.#keys.settings, field);
    else batch.hset(this.#keys.settings, field, JSON.stringify(valid.value));
    batch.publish(this.#keys.settingsChannel, field);
    await batch.exec();
    this.#applied.apply(valid);
  }

  onChange(listener: (change: SettingChange) => void): () => void {
    return this.#applied.onChange(listener);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#applied.clearListeners();
    this.#subscriber.disconnect();
  }

  async #refresh(field: string): Promise<void> {
    try {
      const change = settingFromField(field, await this.#client.hget(this.#keys.settings, field));
      if (change && !this.#closed) this.#applied.apply(change);
      else if (!change) this.#log.warn({ field }, 'ignored a malformed runtime setting');
    } catch (error) {
      this.#log.warn({ field, err: (error as Error).message }, 'could not read a changed runtime setting');
    }
  }

  async #reload(): Promise<void> {
    const stored = await this.#client.hgetall(this.#keys.settings);
    const fresh = Object.entries(stored).flatMap(([field, raw]) => settingFromField(field, raw) ?? []);
    const freshFields = new Set(fresh.map(settingField));
    for (const old of this.#applied.entries()) {
      if (!freshFields.has(settingField(old))) this.#applied.apply({ ...old, value: undefined });
    }
    for (const change of fresh) this.#applied.apply(change);
  }
}
