/**
 * Stream key stores, the same behaviour from both implementations: the file
 * store (a temp dir) and the Redis store (a private redis-server on a free
 * port, skipped when redis-server is not installed).
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { FileStreamKeyStore, STREAM_KEYS_FILE } from '../../server/ingest/keys/fileStreamKeyStore.js';
import { RedisStreamKeyStore } from '../../server/ingest/keys/redisStreamKeyStore.js';
import { StreamKeyError, hashStreamKey, streamKeyId } from '../../server/ingest/keys/streamKey.js';
import type { StreamKeyStore } from '../../server/ingest/keys/streamKeyStore.js';
import { authorizeIngest } from '../../server/ingest/ingestAuth.js';
import { TokenService } from '../../server/auth/tokens.js';
import { parseIceServers, iceServerLinks } from '../../server/ingest/whip/iceServerLinks.js';
import { RedisServer } from '../helpers/redisServer.js';

const isKeyError = (kind: string) => (error: unknown) => error instanceof StreamKeyError && error.kind === kind;

function storeContract(name: string, open: () => Promise<StreamKeyStore>): void {
  describe(`${name} stream key store`, () => {
    test('create → resolve to room and slot; list shows no secret; last use is recorded', async () => {
      const store = await open();
      const primary = await store.create('match', 'primary');
      const backup = await store.create('match', 'backup');
      assert.match(primary.key, /^sk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
      assert.equal(streamKeyId(primary.key), primary.id);
      assert.deepEqual(await store.resolve(primary.key), { keyId: primary.id, room: 'match', slot: 'primary' });
      assert.deepEqual(await store.resolve(backup.key), { keyId: backup.id, room: 'match', slot: 'backup' });
      const listed = await store.list('match');
      assert.deepEqual(
        listed.map((k) => [k.id, k.slot]),
        [
          [primary.id, 'primary'],
          [backup.id, 'backup'],
        ],
      );
      const text = JSON.stringify(listed);
      assert.ok(!text.includes(primary.key.slice(17)) && !text.includes(hashStreamKey(primary.key)), 'neither secret nor hash is listed');
      assert.equal(listed[0]!.prefix, `sk_${primary.id}_…`);
      assert.ok(listed[0]!.lastUsedAt !== null, 'resolve recorded the use');
      assert.deepEqual(await store.list('other-room'), []);
      await store.close();
    });

    test('one key per slot; rotate replaces the secret; revoke deletes', async () => {
      const store = await open();
      const first = await store.create('rotating', 'primary');
      await assert.rejects(store.create('rotating', 'primary'), isKeyError('exists'));
      const rotated = await store.rotate('rotating', first.id);
      assert.equal(rotated.id, first.id);
      assert.notEqual(rotated.key, first.key);
      assert.equal(await store.resolve(first.key), undefined, 'the old secret stops working');
      assert.equal((await store.resolve(rotated.key))?.room, 'rotating');
      await assert.rejects(store.rotate('another-room', first.id), isKeyError('not-found'), 'a key is only reachable through its room');
      await store.revoke('rotating', first.id);
      assert.equal(await store.resolve(rotated.key), undefined);
      await assert.rejects(store.revoke('rotating', first.id), isKeyError('not-found'));
      const again = await store.create('rotating', 'primary');
      assert.notEqual(again.id, first.id, 'the slot is free again');
      await store.close();
    });

    test('malformed, unknown and tampered keys resolve to nothing', async () => {
      const store = await open();
      const issued = await store.create('tamper', 'primary');
      const flipped = issued.key.slice(0, -1) + (issued.key.endsWith('A') ? 'B' : 'A');
      for (const key of ['', 'x', 'sk_000000000000_' + 'A'.repeat(43), flipped, issued.key + 'x', issued.key.toUpperCase()]) {
        assert.equal(await store.resolve(key), undefined, key);
      }
      await store.close();
    });
  });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-keys-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
storeContract('file', async () => new FileStreamKeyStore(dir));

test('the key file is private and rewritten whole (no temp files left)', async () => {
  const store = new FileStreamKeyStore(dir);
  await store.create('file-mode', 'primary');
  assert.equal(fs.statSync(path.join(dir, STREAM_KEYS_FILE)).mode & 0o777, 0o600);
  assert.deepEqual(
    fs.readdirSync(dir).filter((f) => f !== STREAM_KEYS_FILE),
    [],
  );
  const broken = path.join(os.tmpdir(), `floodlight-keys-broken-${process.pid}`);
  fs.mkdirSync(broken, { recursive: true });
  fs.writeFileSync(path.join(broken, STREAM_KEYS_FILE), '{not json');
  await assert.rejects(new FileStreamKeyStore(broken).list('x'), /not valid JSON/);
  fs.rmSync(broken, { recursive: true, force: true });
});

const hasRedis = (() => {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

if (hasRedis) {
  let server: RedisServer | undefined;
  const clients: Redis[] = [];
  after(async () => {
    for (const client of clients) client.disconnect();
    await server?.stop();
  });
  storeContract('Redis', async () => {
    server ??= await RedisServer.start();
    const client = new Redis(server.url);
    clients.push(client);
    return new RedisStreamKeyStore({ client, prefix: 'test:', ownsClient: false });
  });
}

test('ingest auth: stream key of the room (its slot), publisher JWT (primary), refusals with 401/403', async () => {
  const store = new FileStreamKeyStore(dir);
  const tokens = new TokenService('unit-test-secret-unit-test-secret');
  const backup = await store.create('auth-room', 'backup');
  const deps = { keys: store, tokens };
  assert.deepEqual(await authorizeIngest(backup.key, 'auth-room', deps), { ok: true, slot: 'backup', via: 'stream-key', keyId: backup.id });
  assert.equal((await authorizeIngest(backup.key, 'another-room', deps)).ok, false);
  assert.deepEqual(await authorizeIngest(undefined, 'auth-room', deps), {
    ok: false,
    status: 401,
    detail: 'a stream key is required (Authorization: Bearer <stream key>)',
  });
  const jwt = await tokens.issue({ room: 'auth-room', role: 'publisher' }, 60);
  assert.deepEqual(await authorizeIngest(jwt, 'auth-room', deps), { ok: true, slot: 'primary', via: 'jwt', keyId: undefined });
  const viewer = await tokens.issue({ room: 'auth-room', role: 'viewer' }, 60);
  assert.equal((await authorizeIngest(viewer, 'auth-room', deps)).ok, false);
  const garbage = await authorizeIngest('not-a-key', 'auth-room', deps);
  assert.ok(!garbage.ok && garbage.status === 403);
});

test('WHIP_ICE_SERVERS: STUN and TURN with credentials become Link headers; bad entries are named', () => {
  const servers = parseIceServers('stun:stun.example.net:3478, turn:turn.example.net:3478?transport=udp|user|pass');
  assert.deepEqual(iceServerLinks(servers), [
    '<stun:stun.example.net:3478>; rel="ice-server"',
    '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="user"; credential="pass"; credential-type="password"',
  ]);
  assert.throws(() => parseIceServers('http://example.net'), /http:\/\/example.net/);
  assert.throws(() => parseIceServers('turn:turn.example.net'), /TURN servers need/);
});
