/**
 * The behaviour every implementation of the cluster state must show (room
 * directory, message bus, node registry, runtime settings), as one table of
 * tests run over each backend: in memory (test/unit/roomDirectory.test.ts)
 * and Redis (test/integration/redisCluster.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OriginTakenError, type RoomDirectory } from '../../server/cluster/roomDirectory.js';
import { BusRemoteError, BusTimeoutError, type MessageBus } from '../../server/cluster/messageBus.js';
import { NodeIdTakenError, type NodeAnnouncement, type NodeRegistry } from '../../server/cluster/nodeRegistry.js';
import type { NodeRegistryTiming } from '../../server/cluster/memoryNodeRegistry.js';
import type { RuntimeSettings, SettingChange } from '../../server/cluster/runtimeSettings.js';
import type { RoomEvent } from '../../server/cluster/roomEvents.js';
import { waitFor } from './wait.js';

/** One shared state (a hub, or one Redis) that several nodes' parts can be made on. */
export interface ClusterBackend {
  directory(): Promise<RoomDirectory>;
  bus(nodeId: string, onListenerError?: (error: unknown) => void): Promise<MessageBus>;
  nodeRegistry(timing?: NodeRegistryTiming): Promise<NodeRegistry>;
  settings(): Promise<RuntimeSettings>;
  /** Closes what it made. */
  close(): Promise<void>;
}

export function announcement(id: string, overrides: Partial<NodeAnnouncement> = {}): NodeAnnouncement {
  return {
    id,
    publicUrl: `http://${id}.example.test:3000`,
    mediaAddress: '127.0.0.2',
    region: 'eu-west',
    roles: ['webrtc', 'hls'],
    state: 'serving',
    load: { cpu: 0.2, viewers: 3, consumers: 6, bitrateOutBps: 3_000_000 },
    ...overrides,
  };
}

export function clusterBehaviour(name: string, makeBackend: () => Promise<ClusterBackend>): void {
  const withBackend = (title: string, body: (backend: ClusterBackend) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const backend = await makeBackend();
      try {
        await body(backend);
      } finally {
        await backend.close();
      }
    });
  };

  withBackend('one origin per room: a second node is refused, a release with a stale epoch changes nothing', async (backend) => {
    const directory = await backend.directory();
    const lease = await directory.claimOrigin('match', 'a');
    assert.equal(lease.epoch, 1);
    assert.deepEqual(await directory.claimOrigin('match', 'a'), lease, 'claiming again is idempotent');
    await assert.rejects(directory.claimOrigin('match', 'b'), (error: unknown) => error instanceof OriginTakenError && error.holder.node === 'a');
    await directory.releaseOrigin({ ...lease, epoch: 0 });
    assert.equal((await directory.originOf('match'))?.node, 'a', 'a stale release is ignored');
    assert.equal(await directory.renewOrigin(lease), true, 'the holder renews its lease');
    await directory.releaseOrigin(lease);
    assert.equal(await directory.originOf('match'), undefined);
    assert.equal(await directory.renewOrigin(lease), false, 'a released lease cannot be renewed');
    const next = await directory.claimOrigin('match', 'b');
    assert.equal(next.epoch, 2, 'epochs never go back, so a returning node cannot resurrect its old lease');
    assert.equal(await directory.renewOrigin(lease), false, 'the old epoch stays fenced off');
  });

  withBackend('listings: only reported rooms, live first, audiences summed per node', async (backend) => {
    const directory = await backend.directory();
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

  withBackend('the bus delivers room events to every node, asynchronously; a throwing listener hurts nobody', async (backend) => {
    const errors: unknown[] = [];
    const a = await backend.bus('a', (error) => errors.push(error));
    const b = await backend.bus('b');
    const seen: string[] = [];
    a.subscribe(() => {
      throw new Error('bad listener');
    });
    a.subscribe((event) => seen.push(`a:${event.type}`));
    b.subscribe((event) => seen.push(`b:${event.type}`));
    const event: RoomEvent = { type: 'opened', room: 'match', node: 'a', at: Date.now() };
    a.publish(event);
    assert.deepEqual(seen, [], 'delivery is not synchronous');
    await waitFor(() => seen.length === 2, { description: 'both nodes to see the event', timeoutMs: 5_000 });
    assert.deepEqual(seen.sort(), ['a:opened', 'b:opened']);
    assert.equal(errors.length, 1);
  });

  withBackend('bus requests: answered, remote errors carried back, unknown methods and nodes time out', async (backend) => {
    const a = await backend.bus('a');
    const b = await backend.bus('b');
    b.handle('echo', async (payload, from) => ({ payload, from }));
    b.handle('fail', () => Promise.reject(Object.assign(new Error('stale epoch'), { code: 'STALE_EPOCH' })));
    assert.deepEqual(await a.request('b', 'echo', { x: 1 }), { payload: { x: 1 }, from: 'a' });
    await assert.rejects(a.request('b', 'fail', {}), (error: unknown) => error instanceof BusRemoteError && error.code === 'STALE_EPOCH');
    await assert.rejects(a.request('b', 'nope', {}, 50), BusTimeoutError);
    await assert.rejects(a.request('c', 'echo', {}, 50), BusTimeoutError);
  });

  withBackend('node registry: announced nodes are listed with their load; updates travel; close withdraws', async (backend) => {
    const a = await backend.nodeRegistry();
    const b = await backend.nodeRegistry();
    await a.announce(announcement('a'));
    await b.announce(announcement('b', { region: 'us-east', roles: ['hls'] }));
    assert.deepEqual(
      (await a.nodes()).map((n) => [n.id, n.region, n.roles]),
      [
        ['a', 'eu-west', ['webrtc', 'hls']],
        ['b', 'us-east', ['hls']],
      ],
    );
    a.update({ state: 'draining', load: { cpu: 0.9, viewers: 10, consumers: 20, bitrateOutBps: 1e7 } });
    await waitFor(async () => (await b.get('a'))?.state === 'draining', { description: "b to see a's drain", timeoutMs: 3_000 });
    assert.equal((await b.get('a'))?.load.viewers, 10);
    assert.throws(() => a.update({ load: { cpu: 2, viewers: 0, consumers: 0, bitrateOutBps: 0 } }), /load\.cpu/, 'bad load is refused');
    await assert.rejects(
      backend.nodeRegistry().then((r) => r.announce({ ...announcement('c'), publicUrl: 'ftp://x' })),
      /publicUrl/,
    );
    await a.close();
    assert.deepEqual(
      (await b.nodes()).map((n) => n.id),
      ['b'],
    );
  });

  withBackend('node registry: an id held by a live process is refused; a node that stops renewing is gone within 3 s', async (backend) => {
    // A holder that renews far too rarely: it plays a node that froze or died.
    const frozen = await backend.nodeRegistry({ renewEveryMs: 60_000 });
    await frozen.announce(announcement('a'));
    const second = await backend.nodeRegistry();
    await assert.rejects(second.announce(announcement('a')), (error: unknown) => error instanceof NodeIdTakenError && /NODE_ID/.test(error.message));
    const watcher = await backend.nodeRegistry();
    const started = Date.now();
    await waitFor(async () => (await watcher.get('a')) === undefined, { description: 'the silent node to expire', timeoutMs: 5_000 });
    assert.ok(Date.now() - started <= 3_200, `gone after ${Date.now() - started} ms`);
    await second.announce(announcement('a'));
    assert.equal((await watcher.get('a'))?.id, 'a', 'the id is free again once its holder expired');
  });

  withBackend('runtime settings: set, cleared, announced once per change; bad input changes nothing', async (backend) => {
    const settings = await backend.settings();
    const changes: SettingChange[] = [];
    settings.onChange((change) => changes.push(change));
    await settings.set({ setting: 'maxWebRtcViewers', value: 50 });
    await settings.set({ setting: 'hlsLadder', room: 'match', value: false });
    await settings.set({ setting: 'drain', node: 'a', value: true });
    await settings.set({ setting: 'drain', node: 'a', value: true });
    assert.deepEqual(settings.snapshot(), { maxWebRtcViewers: 50, hlsLadder: { match: false }, drain: { a: true } });
    await waitFor(() => changes.length >= 3, { description: 'three change events', timeoutMs: 2_000 });
    await assert.rejects(settings.set({ setting: 'maxWebRtcViewers', value: -1 }), /maxWebRtcViewers|value/);
    await assert.rejects(settings.set({ setting: 'hlsLadder', room: '../etc', value: true }), /room/);
    await settings.set({ setting: 'maxWebRtcViewers', value: undefined });
    assert.deepEqual(settings.snapshot(), { maxWebRtcViewers: undefined, hlsLadder: { match: false }, drain: { a: true } });
    assert.equal(changes.length, 4, 'no event for a repeated value');
  });
}
