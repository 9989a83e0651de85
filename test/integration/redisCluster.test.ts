/**
 * The Redis cluster state against a real redis-server (and redis-sentinel):
 * the shared behaviour table, then what only a shared store across processes
 * has — lease expiry and fencing, TTLs, no key leaks, malformed pub/sub
 * payloads, refused credentials, a Redis restart and a Sentinel failover.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { createLogger } from '../../server/observability/logger.js';
import { loadConfig } from '../../server/config/config.js';
import { createClusterState } from '../../server/cluster/clusterState.js';
import { RedisKeys } from '../../server/cluster/redis/redisKeys.js';
import { RedisRoomDirectory } from '../../server/cluster/redis/redisRoomDirectory.js';
import { RedisMessageBus } from '../../server/cluster/redis/redisMessageBus.js';
import { RedisNodeRegistry } from '../../server/cluster/redis/redisNodeRegistry.js';
import { RedisRuntimeSettings } from '../../server/cluster/redis/redisRuntimeSettings.js';
import { RedisConnectError, connectRedis } from '../../server/cluster/redis/redisConnection.js';
import type { OriginLease } from '../../server/cluster/roomDirectory.js';
import { announcement, clusterBehaviour } from '../helpers/clusterBehaviour.js';
import { RedisServer, SentinelGroup } from '../helpers/redisServer.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('silent');
let server: RedisServer;
let prefixes = 0;

before(async () => {
  server = await RedisServer.start();
});
after(async () => {
  await server.stop();
});

const connect = (name = 'test'): Promise<Redis> => connectRedis({ mode: 'url', url: server.url, keyPrefix: '' }, { name, logger });

/** Every part on one client, under a prefix of its own (tests do not see each other's keys). */
async function redisBackend(): Promise<{ keys: RedisKeys; client: Redis; closers: (() => Promise<void>)[] }> {
  const client = await connect();
  return { keys: new RedisKeys(`t${++prefixes}:`), client, closers: [] };
}

clusterBehaviour('redis', async () => {
  const { keys, client, closers } = await redisBackend();
  const made = <T extends { close(): Promise<void> }>(part: T): T => {
    closers.push(() => part.close());
    return part;
  };
  return {
    directory: async () => made(new RedisRoomDirectory({ client, keys, logger })),
    bus: async (nodeId, onListenerError) => made(await RedisMessageBus.create({ nodeId, client, keys, logger, onListenerError })),
    nodeRegistry: async (timing) => made(new RedisNodeRegistry({ client, keys, logger, ...timing })),
    settings: async () => made(await RedisRuntimeSettings.create({ client, keys, logger })),
    close: async () => {
      await Promise.all(closers.map((close) => close()));
      await client.quit();
    },
  };
});

test('redis: a holder that stops renewing loses its lease within 3 s; its renew and release then fail (fencing)', async () => {
  const { keys, client } = await redisBackend();
  const frozen = new RedisRoomDirectory({ client, keys, logger, renewLeases: false });
  const other = new RedisRoomDirectory({ client, keys, logger });
  const old = await frozen.claimOrigin('match', 'a');
  const claimedAt = Date.now();
  await waitFor(async () => (await other.originOf('match')) === undefined, { description: 'the unrenewed lease to expire', timeoutMs: 5_000 });
  assert.ok(Date.now() - claimedAt <= 3_300, `expired after ${Date.now() - claimedAt} ms`);
  const taken = await other.claimOrigin('match', 'b');
  assert.ok(taken.epoch > old.epoch, 'the new holder has a higher epoch');
  assert.equal(await frozen.renewOrigin(old), false, 'the old holder learns it lost the lease');
  await frozen.releaseOrigin(old);
  assert.deepEqual(await other.originOf('match'), taken, "the old holder's release leaves the new lease alone");
  // The new holder keeps its lease by renewing, past the TTL.
  await waitFor(() => Date.now() - claimedAt > 7_000, { description: 'two lease lifetimes', timeoutMs: 8_000, intervalMs: 500 });
  assert.deepEqual(await other.originOf('match'), taken);
  await Promise.all([frozen.close(), other.close()]);
  await client.quit();
});

test('redis: a renewing holder whose lease was taken hears of it', async () => {
  const { keys, client } = await redisBackend();
  const holder = new RedisRoomDirectory({ client, keys, logger, renewEveryMs: 200 });
  const lost: OriginLease[] = [];
  holder.onOriginLost((lease) => lost.push(lease));
  const lease = await holder.claimOrigin('match', 'a');
  // As if Redis lost the key (a failover) and another node claimed the room meanwhile.
  await client.del(keys.origin('match'));
  const thief = new RedisRoomDirectory({ client, keys, logger });
  await thief.claimOrigin('match', 'b');
  await waitFor(() => lost.length === 1, { description: 'the holder to notice', timeoutMs: 3_000 });
  assert.deepEqual(lost[0], lease);
  await Promise.all([holder.close(), thief.close()]);
  await client.quit();
});

test('redis: reports of a node that stops renewing vanish within 3 s; after close only epoch counters remain', async () => {
  const { keys, client } = await redisBackend();
  const silent = new RedisRoomDirectory({ client, keys, logger, renewEveryMs: 60_000 });
  const live = new RedisRoomDirectory({ client, keys, logger });
  const createdAt = new Date().toISOString();
  await silent.report('a', { id: 'match', live: true, viewers: 5, createdAt });
  await live.report('b', { id: 'match', live: true, viewers: 2, createdAt });
  await live.report('b', { id: 'other', live: false, viewers: 0, createdAt });
  await live.claimOrigin('match', 'b');
  const reportedAt = Date.now();
  await waitFor(async () => (await live.get('match'))?.viewersByNode.a === undefined, { description: "a's report to expire", timeoutMs: 5_000 });
  assert.ok(Date.now() - reportedAt <= 3_300);
  assert.deepEqual((await live.get('match'))?.viewersByNode, { b: 2 }, 'the renewed report stays');
  assert.deepEqual(
    (await live.list()).map((l) => l.id),
    ['match', 'other'],
  );
  for (const key of await client.keys(`${keys.prefix}*`)) assert.ok((await client.pttl(key)) > 0, `${key} has a TTL`);
  await Promise.all([silent.close(), live.close()]);
  assert.deepEqual(await client.keys(`${keys.prefix}*`), [keys.epoch('match')], 'only the epoch counter stays (so epochs never go back)');
  await client.quit();
});

test('redis: the whole cluster state leaves no key behind but epoch counters; two nodes see the same settings within 2 s', async () => {
  const prefix = `t${++prefixes}:`;
  const config = loadConfig({ REDIS_URL: server.url, REDIS_KEY_PREFIX: prefix });
  const a = await createClusterState(config, 'a', logger);
  const b = await createClusterState(config, 'b', logger);
  assert.equal(a.mode, 'redis');
  await a.nodes.announce(announcement('a'));
  await a.directory.claimOrigin('match', 'a');
  await a.directory.report('a', { id: 'match', live: true, viewers: 1, createdAt: new Date().toISOString() });
  await a.settings.set({ setting: 'drain', node: 'a', value: true });
  const setAt = Date.now();
  await waitFor(() => b.settings.snapshot().drain.a === true, { description: 'b to apply the drain flag', timeoutMs: 2_000 });
  assert.ok(Date.now() - setAt < 2_000);
  await a.settings.set({ setting: 'drain', node: 'a', value: undefined });
  await waitFor(() => b.settings.snapshot().drain.a === undefined, { description: 'b to apply the cleared flag', timeoutMs: 2_000 });
  await Promise.all([a.close(), b.close(), a.close()]);
  const client = await connect();
  assert.deepEqual(await client.keys(`${prefix}*`), [`${prefix}room:match:epoch`]);
  await client.quit();
});

test('redis: malformed bus messages are dropped and counted; the bus keeps working', async () => {
  const { keys, client } = await redisBackend();
  const a = await RedisMessageBus.create({ nodeId: 'a', client, keys, logger });
  const b = await RedisMessageBus.create({ nodeId: 'b', client, keys, logger });
  b.handle('echo', async (payload) => payload);
  const events: string[] = [];
  b.subscribe((event) => events.push(event.type));
  for (const junk of ['not json', '{"type":"exploded"}', 'null', '[1,2]', '{"id":1}']) {
    await client.publish(keys.eventsChannel, junk);
    await client.publish(keys.requestChannel('b'), junk);
    await client.publish(keys.replyChannel('a'), junk);
  }
  // Both see the events channel; a also its reply channel, b its request channel.
  await waitFor(() => b.droppedMessages === 10 && a.droppedMessages === 10, {
    description: 'the junk to be dropped',
    timeoutMs: 3_000,
    progress: () => `a ${a.droppedMessages}, b ${b.droppedMessages}`,
  });
  assert.deepEqual(events, []);
  assert.deepEqual(await a.request('b', 'echo', { ok: 1 }), { ok: 1 });
  await Promise.all([a.close(), b.close()]);
  await client.quit();
});

test('redis: refused credentials give one clear error and no reconnect loop', async () => {
  const secured = await RedisServer.start({ password: 'right-password-123' });
  try {
    for (const url of [secured.url, `redis://:wrong-password@127.0.0.1:${secured.port}`]) {
      const started = Date.now();
      await assert.rejects(
        connectRedis({ mode: 'url', url, keyPrefix: '' }, { name: 'auth-test', logger }),
        (error: unknown) => error instanceof RedisConnectError && error.reason === 'auth' && /refused the credentials/.test(error.message),
      );
      assert.ok(Date.now() - started < 3_000, 'refused at once, not after retries');
    }
    const ok = await connectRedis({ mode: 'url', url: `redis://:right-password-123@127.0.0.1:${secured.port}`, keyPrefix: '' }, { name: 'auth-ok', logger });
    assert.equal(await ok.ping(), 'PONG');
    await ok.quit();
    const admin = new Redis({ port: secured.port, password: 'right-password-123' });
    assert.doesNotMatch(String(await admin.call('CLIENT', 'LIST')), /auth-test/, 'the refused clients are gone');
    admin.disconnect();
  } finally {
    await secured.stop();
  }
});

test('redis: after a Redis restart the clients reconnect by themselves and the bus works again', async () => {
  const own = await RedisServer.start();
  try {
    const config = loadConfig({ REDIS_URL: own.url });
    const a = await createClusterState(config, 'a', logger);
    const b = await createClusterState(config, 'b', logger);
    b.bus.handle('echo', async (payload) => payload);
    const seen: string[] = [];
    b.bus.subscribe((event) => seen.push(event.room));
    assert.deepEqual(await a.bus.request('b', 'echo', 1), 1);
    await own.kill();
    await own.restart();
    await waitFor(
      async () => {
        try {
          return (await a.bus.request('b', 'echo', 2, 300)) === 2;
        } catch {
          return false;
        }
      },
      { description: 'a request to be answered again', timeoutMs: 10_000 },
    );
    a.bus.publish({ type: 'opened', room: 'after-restart', node: 'a', at: Date.now() });
    await waitFor(() => seen.includes('after-restart'), { description: 'events to flow again', timeoutMs: 5_000 });
    await Promise.all([a.close(), b.close()]);
  } finally {
    await own.stop();
  }
});

test('redis sentinel: a failover of the primary loses no room and the directory keeps working', async () => {
  const group = await SentinelGroup.start();
  const cleanups: (() => void)[] = [];
  try {
    const config = loadConfig({ REDIS_SENTINELS: `127.0.0.1:${group.sentinelPort}`, REDIS_SENTINEL_NAME: group.name });
    const state = await createClusterState(config, 'a', logger);
    await state.nodes.announce(announcement('a'));
    const lease = await state.directory.claimOrigin('match', 'a');
    await state.directory.report('a', { id: 'match', live: true, viewers: 7, createdAt: new Date().toISOString() });
    // Raw clients for the test's own look-ups; their errors while servers stop are expected.
    const sentinel = new Redis({ port: group.sentinelPort }).on('error', () => undefined);
    const replica = new Redis({ port: group.replica.port }).on('error', () => undefined);
    cleanups.push(
      () => sentinel.disconnect(),
      () => replica.disconnect(),
      () => void state.close(),
    );
    const primaryPort = async (): Promise<number> => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', group.name)) as string[])[1]);
    assert.equal(await primaryPort(), group.primary.port);
    // The replica must have caught up before it can be promoted.
    await waitFor(async () => /master_link_status:up/.test(await replica.info('replication')), {
      description: 'the replica to sync',
      timeoutMs: 10_000,
    });
    // Behind Sentinel a claim returns once a replica has it (WAIT), so a switch cannot hand its epoch out again.
    const third = await state.directory.claimOrigin('third', 'a');
    assert.equal(await replica.get('floodlight:room:third:origin'), `${third.epoch} a`, 'the claim is on the replica when it returns');
    // The sentinel learns of replicas from the primary's INFO (every few seconds).
    // The sentinel learns of the replica and its link from INFO, every few seconds: promotable once its link is "ok".
    const promotable = async (): Promise<boolean> => {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', group.name)) as string[][];
      return replicas.some((fields) => {
        const info = new Map(fields.flatMap((field, i) => (i % 2 === 0 ? [[field, fields[i + 1]] as const] : [])));
        return info.get('port') === String(group.replica.port) && info.get('master-link-status') === 'ok' && info.get('flags') === 'slave';
      });
    };
    await waitFor(promotable, { description: 'the sentinel to see a promotable replica', timeoutMs: 30_000 });
    await sentinel.call('SENTINEL', 'FAILOVER', group.name);
    await waitFor(async () => (await primaryPort()) === group.replica.port, { description: 'the sentinel to promote the replica', timeoutMs: 20_000 });
    await waitFor(
      async () => {
        const role = await replica.role();
        return role[0] === 'master';
      },
      { description: 'the replica to be primary', timeoutMs: 10_000 },
    );
    // Writes reach the new primary (the client followed the switch), and nothing was lost.
    await waitFor(
      async () => {
        await state.directory.report('a', { id: 'second', live: true, viewers: 1, createdAt: new Date().toISOString() });
        return true;
      },
      { description: 'a write to succeed after the switch', timeoutMs: 15_000 },
    );
    assert.deepEqual(await state.directory.originOf('match'), lease, 'the lease survived the switch');
    assert.equal(await state.directory.renewOrigin(lease), true);
    assert.deepEqual(
      (await state.directory.list()).map((l) => [l.id, l.viewersByNode]),
      [
        ['match', { a: 7 }],
        ['second', { a: 1 }],
      ],
    );
    assert.equal((await state.nodes.get('a'))?.id, 'a');
    const next = await state.directory.claimOrigin('another', 'a');
    assert.equal(next.epoch, 1);
  } finally {
    for (const cleanup of cleanups) cleanup();
    await group.stop();
  }
});
