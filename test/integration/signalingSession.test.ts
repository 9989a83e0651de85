/**
 * The signaling session against a real server: what a client is told when the
 * room's listeners misbehave, when it opens too many rooms nobody broadcasts
 * in, and when another publisher takes its seat.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Socket } from 'socket.io-client';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { connectRaw, errorCode, rawRequest } from '../helpers/rawSignaling.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
const sockets: Socket[] = [];

before(async () => {
  server = await startTestServer({
    ROOM_GRACE_SECONDS: '30',
    MAX_IDLE_ROOMS_PER_CONNECTION: '2',
    MAX_IDLE_ROOMS_PER_ADDRESS: '4', // 'hooks' (first test) and idle-1..3
  });
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  await (server as FloodlightServer | undefined)?.close();
});

async function client(): Promise<Socket> {
  const socket = await connectRaw(server.url);
  sockets.push(socket);
  return socket;
}

test('listeners that throw cannot turn a join into INTERNAL', async () => {
  server.rooms.on('roomOpened', (room) => {
    room.on('viewerJoined', () => {
      throw new Error('a broken room hook');
    });
    throw new Error('a broken registry hook');
  });
  const unsubscribe = server.bus.subscribe(() => {
    throw new Error('a broken bus subscriber');
  });
  try {
    const socket = await client();
    const joined = await rawRequest(socket, 'join', { room: 'hooks', role: 'viewer' });
    assert.ok(joined.ok, `join answered ${JSON.stringify(joined)}`);
    assert.ok((await rawRequest(socket, 'leave', {})).ok);
  } finally {
    unsubscribe();
    server.rooms.removeAllListeners('roomOpened');
  }
});

test('rooms nobody broadcasts in: capped per connection and per address, never a router; a publisher is not capped', async () => {
  const routers = server.pool.counts().routers;
  const a = await client();
  assert.ok((await rawRequest(a, 'join', { room: 'idle-1', role: 'viewer' })).ok);
  assert.ok((await rawRequest(a, 'leave', {})).ok);
  assert.ok((await rawRequest(a, 'join', { room: 'idle-2', role: 'viewer' })).ok);
  assert.ok((await rawRequest(a, 'leave', {})).ok);
  assert.equal(errorCode(await rawRequest(a, 'join', { room: 'idle-3', role: 'viewer' })), 'LIMIT_REACHED', 'third idle room from one connection');
  const b = await client();
  assert.ok((await rawRequest(b, 'join', { room: 'idle-3', role: 'viewer' })).ok, 'another connection may open one more');
  const c = await client();
  assert.equal(errorCode(await rawRequest(c, 'join', { room: 'idle-4', role: 'viewer' })), 'LIMIT_REACHED', 'fourth idle room from one address');
  assert.ok((await rawRequest(c, 'join', { room: 'idle-1', role: 'viewer' })).ok, 'joining an existing room is never refused');
  assert.equal(server.pool.counts().routers, routers, 'idle rooms cost no router');
  const listed = (await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: Array<{ id: string }> };
  assert.deepEqual(
    listed.rooms.filter((r) => r.id.startsWith('idle-')),
    [],
    'idle rooms are not listed',
  );
  const publisher = await client();
  const token = await server.tokens.issue({ room: 'idle-5', role: 'publisher' }, 60);
  assert.ok((await rawRequest(publisher, 'join', { room: 'idle-5', role: 'publisher', token })).ok, 'an authorized publisher opens its room anyway');
});

test('a second publisher takes the seat: the first is told it was kicked and its transport goes', async () => {
  const token = await server.tokens.issue({ room: 'seat', role: 'publisher' }, 60);
  const first = await client();
  assert.ok((await rawRequest(first, 'join', { room: 'seat', role: 'publisher', token })).ok);
  assert.ok((await rawRequest(first, 'createTransport', { direction: 'send' })).ok);
  const transports = server.pool.counts().transports;
  const kicked = new Promise<{ reason: string }>((resolve) => first.once('kicked', resolve));
  const second = await client();
  assert.ok((await rawRequest(second, 'join', { room: 'seat', role: 'publisher', token })).ok);
  assert.match((await kicked).reason, /another publisher/);
  await waitFor(() => server.pool.counts().transports === transports - 1, { description: "the first publisher's transport closed" });
  assert.equal(errorCode(await rawRequest(first, 'createTransport', { direction: 'send' })), 'NOT_JOINED', 'the kicked connection is out of the room');
});
