/** The in-memory room directory and message bus: leases, epochs, listings, delivery. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemoryRoomDirectory } from '../../server/cluster/memoryRoomDirectory.js';
import { OriginTakenError } from '../../server/cluster/roomDirectory.js';
import { MemoryBusHub, MemoryMessageBus } from '../../server/cluster/memoryMessageBus.js';
import { BusRemoteError, BusTimeoutError } from '../../server/cluster/messageBus.js';
import type { RoomEvent } from '../../server/cluster/roomEvents.js';

test('one origin per room: a second node is refused, a release with a stale epoch changes nothing', async () => {
  const directory = new MemoryRoomDirectory();
  const lease = await directory.claimOrigin('match', 'a');
  assert.equal(lease.epoch, 1);
  assert.deepEqual(await directory.claimOrigin('match', 'a'), lease, 'claiming again is idempotent');
  await assert.rejects(directory.claimOrigin('match', 'b'), (error: unknown) => error instanceof OriginTakenError && error.holder.node === 'a');
  await directory.releaseOrigin({ ...lease, epoch: 0 });
  assert.equal((await directory.originOf('match'))?.node, 'a', 'a stale release is ignored');
  await directory.releaseOrigin(lease);
  assert.equal(await directory.originOf('match'), undefined);
  const next = await directory.claimOrigin('match', 'b');
  assert.equal(next.epoch, 2, 'epochs never go back, so a returning node cannot resurrect its old lease');
});

test('listings: only reported rooms, live first, audiences summed per node', async () => {
  const directory = new MemoryRoomDirectory();
  await directory.report('a', { id: 'quiet', live: false, viewers: 0, createdAt: '2026-01-01T00:00:00.000Z' });
  await directory.report('a', { id: 'match', live: true, viewers: 3, createdAt: '2026-01-01T00:00:01.000Z' });
  await directory.report('b', { id: 'match', live: true, viewers: 4, createdAt: '2026-01-01T00:00:02.000Z' });
  const list = await directory.list();
  assert.deepEqual(
    list.map((l) => [l.id, l.live, l.viewersByNode]),
    [
      ['match', true, { a: 3, b: 4 }],
      ['quiet', false, { a: 0 }],
    ],
  );
  assert.equal(list[0]!.createdAt, '2026-01-01T00:00:01.000Z', 'the earliest report is the creation time');
  await directory.forget('a', 'quiet');
  assert.equal(await directory.get('quiet'), undefined);
});

test('the bus delivers room events to every node, asynchronously; a throwing listener hurts nobody', async () => {
  const hub = new MemoryBusHub();
  const errors: unknown[] = [];
  const a = new MemoryMessageBus('a', { hub, onListenerError: (error) => errors.push(error) });
  const b = new MemoryMessageBus('b', { hub });
  const seen: string[] = [];
  a.subscribe(() => {
    throw new Error('bad listener');
  });
  a.subscribe((event) => seen.push(`a:${event.type}`));
  b.subscribe((event) => seen.push(`b:${event.type}`));
  const event: RoomEvent = { type: 'opened', room: 'match', node: 'a', at: Date.now() };
  a.publish(event);
  assert.deepEqual(seen, [], 'delivery is not synchronous');
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(seen.sort(), ['a:opened', 'b:opened']);
  assert.equal(errors.length, 1);
  assert.throws(() => new MemoryMessageBus('a', { hub }), /already on this bus/);
  await Promise.all([a.close(), b.close()]);
});

test('bus requests: answered, remote errors carried back, unknown methods time out', async () => {
  const hub = new MemoryBusHub();
  const a = new MemoryMessageBus('a', { hub });
  const b = new MemoryMessageBus('b', { hub });
  b.handle('echo', async (payload, from) => ({ payload, from }));
  b.handle('fail', () => Promise.reject(Object.assign(new Error('stale epoch'), { code: 'STALE_EPOCH' })));
  assert.deepEqual(await a.request('b', 'echo', { x: 1 }), { payload: { x: 1 }, from: 'a' });
  await assert.rejects(a.request('b', 'fail', {}), (error: unknown) => error instanceof BusRemoteError && error.code === 'STALE_EPOCH');
  await assert.rejects(a.request('b', 'nope', {}, 50), BusTimeoutError);
  await assert.rejects(a.request('c', 'echo', {}, 50), BusTimeoutError);
  await Promise.all([a.close(), b.close()]);
});
