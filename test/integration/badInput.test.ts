/**
 * Bad input over the real signaling against the real worker: every bad
 * message gets an error ack with a code, the server stays up, and nothing is
 * left behind (transports, consumers, producers, routers).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { connectRaw, errorCode, rawRequest } from '../helpers/rawSignaling.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
const sockets: Socket[] = [];
const tokens = new TokenService(TEST_AUTH_SECRET);

async function client(): Promise<Socket> {
  const socket = await connectRaw(server.url);
  sockets.push(socket);
  return socket;
}

before(async () => {
  server = await startTestServer();
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  // undefined when before() failed
  await (server as FloodlightServer | undefined)?.close();
});

test('malformed shapes and wrong types are BAD_REQUEST', async () => {
  const socket = await client();
  for (const payload of [{ room: 42, role: 'viewer' }, { room: 'live' }, { room: '../../etc', role: 'viewer' }, 'join me', 7, null, []]) {
    const ack = await rawRequest(socket, 'join', payload);
    assert.equal(errorCode(ack), 'BAD_REQUEST', JSON.stringify(payload));
    assert.ok(!ack.ok && ack.error.message.length > 0);
  }
  assert.equal(errorCode(await rawRequest(socket, 'join', { room: 'live', role: 'viewer' }, 'extra')), 'BAD_REQUEST');
  assert.equal(errorCode(await rawRequest(socket, 'createTransport', { direction: 'up' })), 'BAD_REQUEST');
});

test('oversized payloads are PAYLOAD_TOO_LARGE', async () => {
  const socket = await client();
  const ack = await rawRequest(socket, 'join', { room: 'live', role: 'viewer', token: 'x'.repeat(100_000) });
  assert.equal(errorCode(ack), 'PAYLOAD_TOO_LARGE');
  assert.ok(socket.connected, 'connection survives');
});

test('unknown messages are UNKNOWN_MESSAGE', async () => {
  const socket = await client();
  assert.equal(errorCode(await rawRequest(socket, 'dropDatabase', {})), 'UNKNOWN_MESSAGE');
  assert.equal(errorCode(await rawRequest(socket, '__proto__', {})), 'UNKNOWN_MESSAGE');
  assert.equal(errorCode(await rawRequest(socket, 'constructor', {})), 'UNKNOWN_MESSAGE');
});

test('out-of-order requests are NOT_JOINED', async () => {
  const socket = await client();
  assert.equal(errorCode(await rawRequest(socket, 'consume', { producerId: 'p', rtpCapabilities: { codecs: [] } })), 'NOT_JOINED');
  assert.equal(errorCode(await rawRequest(socket, 'createTransport', { direction: 'recv' })), 'NOT_JOINED');
  assert.equal(errorCode(await rawRequest(socket, 'leave', {})), 'NOT_JOINED');
  assert.equal(errorCode(await rawRequest(socket, 'resumeConsumer', { consumerId: 'c' })), 'NOT_JOINED');
});

test('publishing needs a valid token for this room', async () => {
  const socket = await client();
  const join = (token?: string) => rawRequest(socket, 'join', { room: 'stage', role: 'publisher', ...(token ? { token } : {}) });
  assert.equal(errorCode(await join()), 'UNAUTHORIZED');
  const forged = await new TokenService('not-the-server-secret-at-all').issue({ room: 'stage', role: 'publisher' }, 60);
  assert.equal(errorCode(await join(forged)), 'TOKEN_INVALID');
  const expired = await new SignJWT({ room: 'stage', role: 'publisher' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setExpirationTime(Math.floor(Date.now() / 1000) - 5)
    .sign(new TextEncoder().encode(TEST_AUTH_SECRET));
  assert.equal(errorCode(await join(expired)), 'TOKEN_EXPIRED');
  assert.equal(errorCode(await join(await tokens.issue({ room: 'elsewhere', role: 'publisher' }, 60))), 'TOKEN_WRONG_ROOM');
  assert.equal(errorCode(await join(await tokens.issue({ room: 'stage', role: 'viewer' }, 60))), 'FORBIDDEN');
  assert.equal(errorCode(await join('garbage')), 'TOKEN_INVALID');
  // And a good one works on the same connection afterwards.
  const ok = await join(await tokens.issue({ room: 'stage', role: 'publisher' }, 60));
  assert.ok(ok.ok, JSON.stringify(ok));
  assert.equal(errorCode(await join(await tokens.issue({ room: 'stage', role: 'publisher' }, 60))), 'ALREADY_JOINED');
  assert.ok((await rawRequest(socket, 'leave', {})).ok);
});

test('a viewer can never produce', async () => {
  const socket = await client();
  const joined = await rawRequest(socket, 'join', { room: 'stage2', role: 'viewer' });
  assert.ok(joined.ok);
  assert.equal(errorCode(await rawRequest(socket, 'createTransport', { direction: 'send' })), 'FORBIDDEN');
  // A room that never had a broadcast costs no router: no transport yet.
  assert.equal(errorCode(await rawRequest(socket, 'createTransport', { direction: 'recv' })), 'NOT_LIVE');
  const publisher = await client();
  assert.ok(
    (await rawRequest(publisher, 'join', { room: 'stage2', role: 'publisher', token: await tokens.issue({ room: 'stage2', role: 'publisher' }, 60) })).ok,
  );
  const recv = await rawRequest(socket, 'createTransport', { direction: 'recv' });
  assert.ok(recv.ok);
  const produce = await rawRequest(socket, 'produce', {
    transportId: (recv.data as { id: string }).id,
    kind: 'video',
    rtpParameters: { codecs: [{ mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 }], encodings: [{ ssrc: 1111 }] },
  });
  assert.equal(errorCode(produce), 'FORBIDDEN');
  assert.equal(errorCode(await rawRequest(socket, 'createTransport', { direction: 'recv' })), 'LIMIT_REACHED');
  assert.equal(errorCode(await rawRequest(socket, 'consume', { producerId: 'nope', rtpCapabilities: { codecs: [] } })), 'NOT_FOUND');
  assert.equal(
    errorCode(await rawRequest(socket, 'connectTransport', { transportId: 'nope', dtlsParameters: { fingerprints: [{ algorithm: 'sha-256', value: 'AA' }] } })),
    'NOT_FOUND',
  );
});

test('a publisher with garbage rtpParameters gets BAD_REQUEST and nothing is created', async () => {
  const socket = await client();
  assert.ok((await rawRequest(socket, 'join', { room: 'stage3', role: 'publisher', token: await tokens.issue({ room: 'stage3', role: 'publisher' }, 60) })).ok);
  const send = await rawRequest(socket, 'createTransport', { direction: 'send' });
  assert.ok(send.ok);
  const before = server.pool.counts().producers;
  const produce = await rawRequest(socket, 'produce', {
    transportId: (send.data as { id: string }).id,
    kind: 'video',
    rtpParameters: { codecs: [{ mimeType: 'video/NOPE' }], encodings: [{ ssrc: 5 }] },
  });
  assert.equal(errorCode(produce), 'BAD_REQUEST');
  assert.equal(server.pool.counts().producers, before);
});

test('flooding is RATE_LIMITED and the connection keeps working', async () => {
  const socket = await client();
  const acks = await Promise.all(Array.from({ length: 250 }, () => rawRequest(socket, 'getRouterRtpCapabilities', {})));
  assert.ok(acks.some((a) => errorCode(a) === 'RATE_LIMITED'));
  // Once the bucket refills, the same connection is answered normally again.
  const answer = await waitFor(
    async () => {
      const code = errorCode(await rawRequest(socket, 'getRouterRtpCapabilities', {}));
      return code === 'RATE_LIMITED' ? undefined : { code };
    },
    { description: 'a request past the rate limit again', timeoutMs: 10_000, intervalMs: 250 },
  );
  assert.equal(answer.code, 'NOT_JOINED');
});

test('messages without an ack are ignored; the server stays up', async () => {
  const socket = await client();
  socket.emit('join', { room: 'x', role: 'viewer' });
  socket.emit('nonsense');
  const response = await fetch(`${server.url}/healthz`);
  assert.equal(response.status, 200);
  assert.equal(errorCode(await rawRequest(socket, 'leave', {})), 'NOT_JOINED');
});

test('after everyone leaves, nothing is left behind', async () => {
  for (const socket of sockets.splice(0)) socket.disconnect();
  // Rooms close after their 1 s grace period; then routers go too.
  await waitFor(
    () => {
      const counts = server.pool.counts();
      return counts.transports === 0 && counts.consumers === 0 && counts.producers === 0 && counts.routers === 0 && server.rooms.size === 0;
    },
    {
      description: 'every room, router, transport, producer and consumer gone',
      timeoutMs: 10_000,
      progress: () => `${JSON.stringify(server.pool.counts())}, ${server.rooms.size} rooms`,
    },
  );
  assert.deepEqual(server.pool.counts(), { routers: 0, transports: 0, producers: 0, consumers: 0 });
  assert.equal(server.rooms.size, 0);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});
