/**
 * The stream key store the configuration asks for, chosen as
 * createClusterState chooses: Redis in cluster mode (REDIS_URL /
 * REDIS_SENTINELS), a file under STREAM_KEYS_DIR otherwise. The server and
 * `npm run key` both open it through here, so they always agree.
 */
import type { Config } from '../../config/config.js';
import type { Logger } from '../../observability/logger.js';
import { connectRedis } from '../../cluster/redis/redisConnection.js';
import { FileStreamKeyStore } from './fileStreamKeyStore.js';
import { RedisStreamKeyStore } from './redisStreamKeyStore.js';
import type { StreamKeyStore } from './streamKeyStore.js';

export async function createStreamKeyStore(config: Pick<Config, 'redis' | 'ingest'>, name: string, logger: Logger): Promise<StreamKeyStore> {
  if (!config.redis) return new FileStreamKeyStore(config.ingest.streamKeysDir);
  const client = await connectRedis(config.redis, { name, logger });
  return new RedisStreamKeyStore({ client, prefix: config.redis.keyPrefix, ownsClient: true });
}
