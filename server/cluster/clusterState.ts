/**
 * The state nodes share, chosen by the configuration: in memory for a single
 * node (no REDIS_URL / REDIS_SENTINELS), in Redis for a cluster. The caller
 * owns the result and closes it once (components first, then connections).
 */
import type { Redis } from 'ioredis';
import type { Config } from '../config/config.js';
import type { Logger } from '../observability/logger.js';
import { MemoryMessageBus } from './memoryMessageBus.js';
import { MemoryNodeRegistry } from './memoryNodeRegistry.js';
import { MemoryRoomDirectory } from './memoryRoomDirectory.js';
import type { MessageBus } from './messageBus.js';
import type { NodeRegistry } from './nodeRegistry.js';
import type { RoomDirectory } from './roomDirectory.js';
import { MemoryRuntimeSettings, type RuntimeSettings } from './runtimeSettings.js';
import { connectRedis } from './redis/redisConnection.js';
import { RedisKeys } from './redis/redisKeys.js';
import { RedisMessageBus } from './redis/redisMessageBus.js';
import { RedisNodeRegistry } from './redis/redisNodeRegistry.js';
import { RedisRoomDirectory } from './redis/redisRoomDirectory.js';
import { RedisRuntimeSettings } from './redis/redisRuntimeSettings.js';

export interface ClusterState {
  mode: 'memory' | 'redis';
  directory: RoomDirectory;
  bus: MessageBus;
  nodes: NodeRegistry;
  settings: RuntimeSettings;
  /** Closes everything (this node's leases, reports and announcement withdrawn). Idempotent. */
  close(): Promise<void>;
}

export async function createClusterState(config: Pick<Config, 'redis'>, nodeId: string, logger: Logger): Promise<ClusterState> {
  const onListenerError = (error: unknown): void => logger.error({ err: (error as Error).message }, 'a cluster listener threw');
  if (!config.redis) {
    const parts = {
      directory: new MemoryRoomDirectory(),
      bus: new MemoryMessageBus(nodeId, { onListenerError }),
      nodes: new MemoryNodeRegistry(),
      settings: new MemoryRuntimeSettings({ onListenerError }),
    };
    return { mode: 'memory', ...parts, close: onceOnly(() => closeParts(parts, undefined)) };
  }
  const keys = new RedisKeys(config.redis.keyPrefix);
  const client = await connectRedis(config.redis, { name: `floodlight-${nodeId}`, logger });
  const opened: { directory?: RoomDirectory; bus?: MessageBus; nodes?: NodeRegistry; settings?: RuntimeSettings } = {};
  try {
    // Behind Sentinel there is a replica to fail over to: claims wait until it has them.
    opened.directory = new RedisRoomDirectory({ client, keys, logger, claimReplicas: config.redis.mode === 'sentinel' ? 1 : 0 });
    opened.nodes = new RedisNodeRegistry({ client, keys, logger });
    opened.bus = await RedisMessageBus.create({ nodeId, client, keys, logger, onListenerError });
    opened.settings = await RedisRuntimeSettings.create({ client, keys, logger, name: `floodlight-settings-${nodeId}` });
  } catch (error) {
    await closeParts(opened, client);
    throw error;
  }
  const parts = { directory: opened.directory, bus: opened.bus, nodes: opened.nodes, settings: opened.settings };
  return { mode: 'redis', ...parts, close: onceOnly(() => closeParts(parts, client)) };
}

async function closeParts(parts: Partial<Omit<ClusterState, 'mode' | 'close'>>, client: Redis | undefined): Promise<void> {
  await Promise.allSettled([parts.directory?.close(), parts.nodes?.close(), parts.bus?.close(), parts.settings?.close()]);
  if (client) await client.quit().catch(() => client.disconnect());
}

function onceOnly(close: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined;
  return () => (closing ??= close());
}
