/**
 * Room, Program and RouterSet against a real mediasoup worker pool (no
 * network peers): which source is on air, where viewers are placed, what
 * gets piped, what a worker death and close() leave behind.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import { WorkerPool } from '../../server/media/workerPool.js';
import { LocalPipe } from '../../server/media/pipes/localPipe.js';
import { Room } from '../../server/rooms/room.js';
import { RoomError } from '../../server/rooms/roomError.js';
import type { Eviction, ParticipantLink, RoomNotice } from '../../server/rooms/roomNotices.js';
import { SafeEmitter } from '../../server/lib/safeEmitter.js';
import type { MediaSourceEvents, MediaSource, SourceEndReason, SourceSlot, SourceTrack } from '../../server/sources/mediaSource.js';
import type { SourceHealth } from '../../server/sources/sourceHealth.js';
import { createLogger } from '../../server/observability/logger.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger('warn');
let pool: WorkerPool;

before(async () => {
  pool = await WorkerPool.create({
    numWorkers: 2,
    rtcMinPort: 31000,
    rtcMaxPort: 31499,
    listenIp: '127.0.0.1',
    announcedIp: '127.0.0.1',
    logLevel: 'warn',
    logger: log,
  });
});

after(() => pool.close());

/** A source whose producers sit on a PlainTransport (nothing needs to flow for these tests). */
class PlainSource extends SafeEmitter<MediaSourceEvents> implements MediaSource {
  readonly id = randomUUID();
  readonly protocol = 'rtmp' as const;
  readonly #tracks: SourceTrack[] = [];
  #transport: ms.PlainTransport | undefined;
  ended = false;
  endReason: SourceEndReason | undefined;

  constructor(
    readonly router: ms.Router,
    readonly slot: SourceSlot,
  ) {
    super();
    router.observer.once('close', () => this.end('media-lost'));
  }

  async addTrack(kind: ms.MediaKind, ssrc: number): Promise<SourceTrack> {
    this.#transport ??= await this.router.createPlainTransport({ listenInfo: { protocol: 'udp', ip: '127.0.0.1' }, comedia: true, rtcpMux: true });
    const codec =
      kind === 'video'
        ? { mimeType: 'video/VP8', payloadType: 101, clockRate: 90000 }
        : { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2 };
    const producer = await this.#transport.produce({ kind, rtpParameters: { codecs: [codec], encodings: [{ ssrc }] } });
    const track: SourceTrack = { kind, producer, label: kind === 'video' ? 'camera' : 'microphone' };
    this.#tracks.push(track);
    this.safeEmit('trackAdded', track);
    return track;
  }

  tracks(): readonly SourceTrack[] {
    return this.#tracks;
  }

  health(): SourceHealth {
    return { lastVideoPacketAt: null, lastPacketAt: null, bitrateBps: 0, keyFrameIntervalMs: null, lastKeyFrameAt: null };
  }

  end(reason: SourceEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.endReason = reason;
    this.#transport?.close();
    for (const track of this.#tracks.splice(0)) this.safeEmit('trackRemoved', track);
    this.safeEmit('ended', reason);
  }
}

/** Records what the room tells one participant. */
function recorder(): ParticipantLink & { notices: RoomNotice[]; evictions: Eviction[] } {
  const notices: RoomNotice[] = [];
  const evictions: Eviction[] = [];
  return { notices, evictions, notify: (n) => notices.push(n), evicted: (e) => evictions.push(e) };
}

function newRoom(options: Partial<{ maxConsumersPerRouter: number; maxWebRtcViewers: number }> = {}): Room {
  return new Room(`room-${randomUUID().slice(0, 8)}`, {
    pool,
    pipe: new LocalPipe(pool.pipeListenInfo()),
    options: { maxConsumersPerRouter: options.maxConsumersPerRouter ?? 500, keyFrameRequestDelayMs: 0, maxWebRtcViewers: options.maxWebRtcViewers ?? 0 },
    logger: log,
  });
}

async function sourceIn(room: Room, slot: SourceSlot, options: { replace?: boolean } = {}): Promise<PlainSource> {
  const { router } = await room.ingestRouter();
  const source = new PlainSource(router, slot);
  room.addSource(source, { replace: options.replace ?? false });
  return source;
}

test('a room without a broadcast costs no router; its viewers wait for one', async () => {
  const before = pool.counts().routers;
  const room = newRoom();
  const viewer = room.admitViewer(recorder());
  await assert.rejects(room.openViewerTransport(viewer), (e: unknown) => e instanceof RoomError && e.kind === 'not-live');
  assert.equal(pool.counts().routers, before, 'no router was made');
  assert.equal(room.everLive, false);
  room.close();
});

test('the program follows the primary source, falls back to the backup, and viewers keep their tracks (relayed)', async () => {
  const room = newRoom();
  const watcher = recorder();
  room.admitViewer(watcher);
  const primary = await sourceIn(room, 'primary');
  const primaryVideo = await primary.addTrack('video', 1111);
  // A single-encoding ingest (this one says 'rtmp') goes on air through the program relay:
  // the program's track is the relay's producer, fed from the source's.
  await waitFor(() => room.live, { description: 'the primary on air through the relay' });
  const programVideo = room.program.trackOfKind('video')!;
  assert.ok(room.program.relay, 'relayed');
  assert.notEqual(programVideo.id, primaryVideo.producer.id);
  const backup = await sourceIn(room, 'backup');
  await backup.addTrack('video', 2222);
  assert.equal(room.program.source, primary, 'the backup waits while the primary is there');
  await assert.rejects(sourceIn(room, 'primary'), (e: unknown) => e instanceof RoomError && e.kind === 'slot-busy');

  primary.end('failed');
  assert.equal(room.program.source, backup, 'the backup goes on air when the primary ends');
  assert.equal(room.program.trackOfKind('video')?.id, programVideo.id, 'the same program track carries the backup');
  const types = watcher.notices.map((n) => (n.type === 'trackAdded' ? `+${n.track.trackId}` : n.type === 'trackRemoved' ? `-${n.trackId}` : n.type));
  assert.deepEqual(
    types.filter((t) => t.startsWith('+') || t.startsWith('-')),
    [`+${programVideo.id}`],
    'viewers were told of one track, once: no renegotiation at the switch',
  );
  room.close();
  assert.equal(backup.endReason, 'room-closed');
});

test('a new source replaces the one in its slot when asked to; the old owner is told it was kicked', async () => {
  const room = newRoom();
  const owner = recorder();
  const { router } = await room.ingestRouter();
  const first = new PlainSource(router, 'primary');
  room.addSource(first, { replace: true, link: owner });
  const second = new PlainSource(router, 'primary');
  room.addSource(second, { replace: true });
  assert.equal(first.endReason, 'replaced');
  assert.deepEqual(
    owner.evictions.map((e) => e.kind),
    ['kicked'],
  );
  assert.deepEqual(room.sources(), [second]);
  room.close();
});

test('viewers fill routers up to the cap; new consumer routers get the program piped, and close when empty', async () => {
  const room = newRoom({ maxConsumersPerRouter: 4 });
  const source = await sourceIn(room, 'primary');
  await source.addTrack('audio', 3333);
  await source.addTrack('video', 4444);
  // An 'rtmp' source is relayed: count after the relay's producers exist.
  await waitFor(() => room.program.tracks().length === 2, { description: 'the program relay carrying both tracks' });
  const routersBefore = pool.counts().routers;
  const producersBefore = pool.counts().producers;
  const viewers = Array.from({ length: 5 }, () => room.admitViewer(recorder()));
  for (const viewer of viewers) await room.openViewerTransport(viewer);
  const layout = room.routerLayout();
  // 2 slots per viewer, 4 per router: origin 2 viewers, then 2, then 1.
  assert.deepEqual(
    layout.map((r) => [r.publisher, r.viewers]),
    [
      [true, 2],
      [false, 2],
      [false, 1],
    ],
  );
  assert.deepEqual(new Set(layout.map((r) => r.workerIndex)), new Set([0, 1]), 'a new router goes to a worker the room does not use yet first');
  assert.equal(pool.counts().routers, routersBefore + 2);
  await waitFor(() => pool.counts().producers === producersBefore + 4, {
    description: 'both tracks piped into both consumer routers',
    progress: () => `${pool.counts().producers - producersBefore} pipe producers`,
  });
  for (const viewer of viewers.slice(2)) room.removeViewer(viewer);
  assert.equal(pool.counts().routers, routersBefore, 'emptied consumer routers closed');
  await waitFor(() => pool.counts().producers === producersBefore, { description: 'pipe producers gone with their routers' });
  room.close();
});

test('the WebRTC viewer cap is a room-full error', () => {
  const room = newRoom({ maxWebRtcViewers: 1 });
  room.admitViewer(recorder());
  assert.throws(
    () => room.admitViewer(recorder()),
    (e: unknown) => e instanceof RoomError && e.kind === 'room-full',
  );
  room.close();
});

test('losing the origin worker ends the sources (media-lost) and sends every viewer to reconnect', async () => {
  const room = newRoom({ maxConsumersPerRouter: 2 });
  const source = await sourceIn(room, 'primary');
  await source.addTrack('video', 5555);
  const links = [recorder(), recorder()];
  const viewers = links.map((link) => room.admitViewer(link));
  for (const viewer of viewers) await room.openViewerTransport(viewer);
  const originWorker = room.routerLayout().find((r) => r.publisher)!.workerIndex;
  const pid = pool.pid(originWorker)!;
  const generation = pool.details()[originWorker]!.generation;
  // The registry forwards worker deaths to its rooms; this room has none.
  pool.once('workerDied', (index) => room.handleWorkerDied(index));
  process.kill(pid, 'SIGKILL');
  await waitFor(() => source.ended && links.every((l) => l.evictions.length === 1), { description: 'source ended and viewers evicted after the worker died' });
  assert.equal(source.endReason, 'media-lost');
  assert.deepEqual(
    links.map((l) => l.evictions[0]!.kind),
    ['reconnect', 'reconnect'],
  );
  assert.equal(room.viewerCount, 0);
  assert.equal(room.routerLayout().length, 0, 'every router of the room went');
  await waitFor(() => pool.allAlive && pool.details()[originWorker]!.generation > generation, { description: 'worker replaced' });
  room.close();
});

test('close() is idempotent and leaves nothing behind', async () => {
  const base = pool.counts();
  const room = newRoom({ maxConsumersPerRouter: 2 });
  const source = await sourceIn(room, 'primary');
  await source.addTrack('video', 6666);
  const links = [recorder(), recorder()];
  for (const link of links) await room.openViewerTransport(room.admitViewer(link));
  let closedEvents = 0;
  room.on('closed', () => closedEvents++);
  room.close('test over');
  room.close('again');
  assert.equal(closedEvents, 1);
  assert.deepEqual(
    links.map((l) => l.evictions.map((e) => e.kind)),
    [['roomClosed'], ['roomClosed']],
  );
  await waitFor(() => JSON.stringify(pool.counts()) === JSON.stringify(base), {
    description: 'routers, transports, producers and consumers back to where they were',
    progress: () => JSON.stringify(pool.counts()),
  });
});

test('a listener that throws does not break the room', async () => {
  const room = newRoom();
  room.on('viewerJoined', () => {
    throw new Error('a broken stats hook');
  });
  const viewer = room.admitViewer(recorder());
  assert.equal(room.viewerCount, 1);
  room.removeViewer(viewer);
  room.close();
});

test('rooms without a broadcast are capped overall, per address and per connection; a broadcast lifts its room out', async () => {
  const { RoomRegistry } = await import('../../server/rooms/roomRegistry.js');
  const { MemoryRoomDirectory } = await import('../../server/cluster/memoryRoomDirectory.js');
  const { MemoryMessageBus } = await import('../../server/cluster/memoryMessageBus.js');
  const directory = new MemoryRoomDirectory();
  const bus = new MemoryMessageBus('node-a');
  const registry = new RoomRegistry({
    nodeId: 'node-a',
    pool,
    pipe: new LocalPipe(pool.pipeListenInfo()),
    room: { maxConsumersPerRouter: 500, keyFrameRequestDelayMs: 0, maxWebRtcViewers: 0 },
    emptyRoomGraceMs: 60_000,
    idleQuotas: { total: 5, perAddress: 3, perConnection: 2 },
    directory,
    bus,
    logger: log,
  });
  const limited = (e: unknown): boolean => e instanceof RoomError && e.kind === 'limit-reached';
  const routersBefore = pool.counts().routers;
  await registry.open('a1', { address: '10.0.0.1', connection: 'c1' });
  await registry.open('a2', { address: '10.0.0.1', connection: 'c1' });
  await assert.rejects(registry.open('a3', { address: '10.0.0.1', connection: 'c1' }), limited, 'per connection');
  await registry.open('a3', { address: '10.0.0.1', connection: 'c2' });
  await assert.rejects(registry.open('a4', { address: '10.0.0.1', connection: 'c3' }), limited, 'per address');
  await registry.open('b1', { address: '10.0.0.2', connection: 'c4' });
  await registry.open('c1', { address: '10.0.0.3', connection: 'c5' });
  await assert.rejects(registry.open('d1', { address: '10.0.0.4', connection: 'c6' }), limited, 'overall');
  assert.ok(await registry.open('a1', { address: '10.0.0.9', connection: 'c9' }), 'joining an existing room is never refused');
  assert.equal(pool.counts().routers, routersBefore, 'idle rooms cost no router');
  assert.deepEqual(await directory.list(), [], 'idle rooms are not listed');

  // A broadcast makes a1 a real room: it no longer counts, and it is listed with its origin.
  const room = registry.get('a1')!;
  const { router } = await room.ingestRouter();
  const source = new PlainSource(router, 'primary');
  room.addSource(source, { replace: false });
  await source.addTrack('video', 7777);
  await registry.open('d1', { address: '10.0.0.4', connection: 'c6' });
  await waitFor(async () => (await directory.list()).some((l) => l.id === 'a1' && l.live && l.origin?.node === 'node-a'), {
    description: 'a1 listed as live with this node as origin',
  });
  registry.close();
  await waitFor(async () => (await directory.originOf('a1')) === undefined && (await directory.list()).length === 0, {
    description: 'lease released and listings gone after close',
  });
  await bus.close();
});
