/**
 * The stream key admin API on a real server (file store in a temp dir):
 * admin auth, create → 201 with the secret once, list without it, one key
 * per slot (409), rotate, revoke, and clear errors for bad input.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import type { StreamKeyIssuedResponse, StreamKeyListResponse } from '../../server/ingest/keys/streamKeyApi.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';

const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-keys-api-'));
const tokens = new TokenService(TEST_AUTH_SECRET);
let server: FloodlightServer;
let admin: string;

before(async () => {
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, HLS_ENABLED: 'false' });
  admin = await tokens.issue({ room: '*', role: 'admin' }, 600);
});

after(async () => {
  await (server as FloodlightServer | undefined)?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

const api = (pathname: string, init: { method?: string; token?: string | null; body?: string; type?: string } = {}) =>
  fetch(`${server.url}${pathname}`, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.token === null ? {} : { Authorization: `Bearer ${init.token ?? admin}` }),
      ...(init.body !== undefined ? { 'Content-Type': init.type ?? 'application/json' } : {}),
    },
    body: init.body,
  });

async function errorCode(response: Response, status: number): Promise<string> {
  const body = (await response.json()) as { error: { code: string; message: string } };
  assert.equal(response.status, status, JSON.stringify(body));
  return body.error.code;
}

test('create, list, rotate and revoke a room key through the admin API', async () => {
  const created = await api('/api/rooms/final/keys', { method: 'POST', body: JSON.stringify({ slot: 'backup' }) });
  assert.equal(created.status, 201);
  assert.equal(created.headers.get('cache-control'), 'no-store');
  const { key } = (await created.json()) as StreamKeyIssuedResponse;
  assert.equal(key.slot, 'backup');
  assert.equal(key.room, 'final');
  assert.deepEqual(await server.streamKeys.resolve(key.key), { keyId: key.id, room: 'final', slot: 'backup' });

  const primary = await api('/api/rooms/final/keys', { method: 'POST', body: '{}' });
  assert.equal(((await primary.json()) as StreamKeyIssuedResponse).key.slot, 'primary', 'slot defaults to primary');
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { method: 'POST', body: '{"slot":"backup"}' }), 409), 'CONFLICT');

  const listed = (await (await api('/api/rooms/final/keys')).json()) as StreamKeyListResponse;
  assert.deepEqual(
    listed.keys.map((k) => k.slot),
    ['primary', 'backup'],
  );
  assert.ok(!JSON.stringify(listed).includes(key.key.slice(17)), 'the list never shows a secret');

  const rotated = await api(`/api/rooms/final/keys/${key.id}/rotate`, { method: 'POST' });
  assert.equal(rotated.status, 200);
  const fresh = ((await rotated.json()) as StreamKeyIssuedResponse).key;
  assert.equal(fresh.id, key.id);
  assert.equal(await server.streamKeys.resolve(key.key), undefined);

  assert.equal((await api(`/api/rooms/final/keys/${key.id}`, { method: 'DELETE' })).status, 204);
  assert.equal(await server.streamKeys.resolve(fresh.key), undefined);
  assert.equal(await errorCode(await api(`/api/rooms/final/keys/${key.id}`, { method: 'DELETE' }), 404), 'NOT_FOUND');
  assert.equal(await errorCode(await api(`/api/rooms/other/keys/${key.id}/rotate`, { method: 'POST' }), 404), 'NOT_FOUND');
});

test('only admins; bad room, slot, body and id are refused clearly', async () => {
  const publisher = await tokens.issue({ room: 'final', role: 'publisher' }, 600);
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { token: null }), 401), 'UNAUTHORIZED');
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { token: publisher }), 403), 'FORBIDDEN');
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { method: 'POST', token: publisher, body: '{}' }), 403), 'FORBIDDEN');
  assert.equal(await errorCode(await api('/api/rooms/bad%20room/keys'), 400), 'BAD_REQUEST');
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { method: 'POST', body: '{"slot":"tertiary"}' }), 400), 'BAD_REQUEST');
  assert.equal(await errorCode(await api('/api/rooms/final/keys', { method: 'POST', body: '{"slot":' }), 400), 'BAD_REQUEST');
  assert.equal(
    await errorCode(await api('/api/rooms/final/keys', { method: 'POST', body: JSON.stringify({ slot: 'x'.repeat(4000) }) }), 413),
    'PAYLOAD_TOO_LARGE',
  );
  assert.equal(await errorCode(await api('/api/rooms/final/keys/../../etc', { method: 'DELETE' }), 404), 'NOT_FOUND');
  assert.equal(await errorCode(await api('/api/rooms/final/keys/not-an-id', { method: 'DELETE' }), 404), 'NOT_FOUND');
});
