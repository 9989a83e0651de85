/**
 * A Floodlight server in cluster mode (REDIS_URL, a private redis-server): it
 * announces itself, lists rooms from the shared directory with itself as
 * origin, refuses a second process with its node id, and leaves no keys but
 * epoch counters behind when it stops.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { RedisServer } from '../helpers/redisServer.js';
import { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisServer;
let client: Redis;

before(async () => {
  redis = await RedisServer.start();
  client = new Redis(redis.url, { lazyConnect: false });
});

after(async () => {
  client.disconnect();
  await redis.stop();
});

test('a node on Redis announces itself, is origin of its rooms, and cleans up after itself', { timeout: 60_000 }, async () => {
  const server: FloodlightServer = await startTestServer({ REDIS_URL: redis.url, NODE_ID: 'node-a', REGION: 'eu' });
  let publisher: HeadlessPublisher | undefined;
  try {
    assert.equal(server.cluster.mode, 'redis');
    const nodes = await server.cluster.nodes.nodes();
    assert.deepEqual(
      nodes.map((n) => [n.id, n.region, n.state]),
      [['node-a', 'eu', 'serving']],
    );

    // A second process with the same node id is refused at start.
    await assert.rejects(startTestServer({ REDIS_URL: redis.url, NODE_ID: 'node-a' }), /already announced/);

    const token = await server.tokens.issue({ room: 'match', role: 'publisher' }, 600);
    publisher = new HeadlessPublisher({ url: server.url, room: 'match', token, name: 'publisher' });
    await publisher.publish();
    await waitFor(
      async () => {
        const body = (await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: Array<{ id: string; live: boolean }> };
        return body.rooms.some((r) => r.id === 'match' && r.live);
      },
      { description: 'the room listed live from the shared directory' },
    );
    const origin = await server.directory.originOf('match');
    assert.equal(origin?.node, 'node-a');
    assert.ok((origin?.epoch ?? 0) >= 1);
    const admin = await server.tokens.issue({ room: '*', role: 'admin' }, 60);
    assert.equal((await fetch(`${server.url}/api/cluster`)).status, 401, 'the cluster view is for admins');
    const view = (await (await fetch(`${server.url}/api/cluster`, { headers: { authorization: `Bearer ${admin}` } })).json()) as {
      mode: string;
      nodes: Array<{ id: string; load: { viewers: number } }>;
      rooms: Array<{ id: string; origin: { node: string } | null }>;
    };
    assert.equal(view.mode, 'redis');
    assert.deepEqual(
      view.nodes.map((n) => n.id),
      ['node-a'],
    );
    assert.equal(view.rooms.find((r) => r.id === 'match')?.origin?.node, 'node-a');
  } finally {
    await publisher?.close();
    await server.close();
  }
  const left = await client.keys('*');
  assert.ok(
    left.every((key) => key.includes('epoch')),
    `only epoch counters remain after the node stopped: ${left.join(', ')}`,
  );
});

test('a Redis that refuses our password stops the start with a clear error', { timeout: 30_000 }, async () => {
  const guarded = await RedisServer.start({ password: 'right-password' });
  try {
    const url = `redis://:wrong-password@127.0.0.1:${guarded.port}`;
    await assert.rejects(startTestServer({ REDIS_URL: url, NODE_ID: 'node-b' }), (error: unknown) => /auth|password/i.test((error as Error).message));
  } finally {
    await guarded.stop();
  }
});
