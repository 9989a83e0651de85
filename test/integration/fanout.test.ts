/**
 * WebRTC fan-out against the real worker through the real signaling: a
 * headless publisher (ffmpeg → werift) and headless viewers (werift) that
 * count RTP packets and complete video frames. Covers placement across
 * workers through pipeToRouter, and recovery from a worker killed with SIGKILL.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import type { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { joinViewers, publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
let peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  // 20 consumer slots per router = 10 viewers (audio + video each) per router.
  server = await startTestServer({ MAX_CONSUMERS_PER_ROUTER: '20' });
});

afterEach(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  peers = [];
});

after(async () => {
  // undefined when before() failed
  await (server as FloodlightServer | undefined)?.close();
});

async function publish(room: string): Promise<HeadlessPublisher> {
  const publisher = await publishLight(server, room);
  peers.push(publisher);
  return publisher;
}

async function viewers(room: string, count: number): Promise<HeadlessViewer[]> {
  const joined = await joinViewers(server.url, room, count);
  peers.push(...joined);
  return joined;
}

/** Frames and audio packets received from now on, per viewer. */
async function waitForMedia(list: HeadlessViewer[], description: string, frames = 15, timeoutMs = 20_000): Promise<void> {
  const start = list.map((v) => ({ frames: v.stats().video.completeFrames, audio: v.stats().audio.packets }));
  await waitFor(() => list.every((v, i) => v.stats().video.completeFrames - start[i]!.frames >= frames && v.stats().audio.packets - start[i]!.audio >= 10), {
    description,
    timeoutMs,
    progress: () => {
      const behind = list.filter((v, i) => v.stats().video.completeFrames - start[i]!.frames < frames);
      return `${list.length - behind.length}/${list.length} viewers receiving; e.g. ${behind[0]?.summary() ?? ''}`;
    },
  });
}

test('a publisher reaches its viewers: packets, frames and keyframes arrive', { timeout: 60_000 }, async () => {
  await publish('basic');
  const list = await viewers('basic', 2);
  await waitForMedia(list, 'media at both viewers');
  for (const viewer of list) {
    const stats = viewer.stats();
    assert.ok(stats.video.keyframes >= 1, 'a keyframe arrived');
    assert.ok(stats.video.bytes > 20_000, `video bytes ${stats.video.bytes}`);
    assert.ok(stats.audio.bytes > 500, `audio bytes ${stats.audio.bytes}`);
    assert.ok(stats.consumers.length === 2 && stats.consumeErrors.length === 0);
  }
  const counts = server.pool.counts();
  assert.equal(counts.producers, 2);
  assert.ok(counts.consumers >= 4);
});

test('30 viewers spread over both workers through pipeToRouter and all receive media', { timeout: 120_000 }, async () => {
  await publish('crowd');
  const list = await viewers('crowd', 30);
  const layout = server.rooms.get('crowd')!.routerLayout();
  console.log(`# routers: ${layout.map((r) => `w${r.workerIndex}:${r.viewers}${r.publisher ? '(pub)' : ''}`).join(' ')}`);
  assert.deepEqual(new Set(layout.map((r) => r.workerIndex)), new Set([0, 1]), 'both workers carry the room');
  assert.equal(layout.length, 3, '30 viewers at 10 per router need 3 routers');
  assert.ok(
    layout.every((r) => r.viewers <= 10),
    'no router above its cap',
  );
  assert.equal(
    layout.reduce((n, r) => n + r.viewers, 0),
    30,
  );
  await waitForMedia(list, 'media at all 30 viewers', 15, 40_000);
  const summary = (await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: Array<{ id: string; viewers: number; workers: number[] }> };
  const room = summary.rooms.find((r) => r.id === 'crowd')!;
  assert.equal(room.viewers, 30);
  assert.deepEqual(room.workers, [0, 1]);
});

test('a worker killed with SIGKILL is replaced and every viewer receives media again', { timeout: 120_000 }, async () => {
  await publish('crash');
  const list = await viewers('crash', 12);
  await waitForMedia(list, 'media before the crash');
  const room = server.rooms.get('crash')!;
  const consumerWorker = room.routerLayout().find((r) => !r.publisher)!.workerIndex;
  const before = server.pool.details()[consumerWorker]!;

  // 1. A worker holding only a consumer router dies.
  process.kill(before.pid!, 'SIGKILL');
  await waitFor(() => server.pool.details()[consumerWorker]!.generation > before.generation && server.pool.allAlive, {
    description: `worker ${consumerWorker} replaced`,
    timeoutMs: 10_000,
  });
  await waitForMedia(list, 'media at every viewer after the consumer worker crash');
  assert.ok(
    list.some((v) => v.stats().reconnects > 0),
    'affected viewers were told to reconnect',
  );

  // 2. The publisher's worker dies: everyone rebuilds on live workers.
  const publisherWorker = room.routerLayout().find((r) => r.publisher)!.workerIndex;
  const publisherBefore = server.pool.details()[publisherWorker]!;
  const killedAt = Date.now();
  process.kill(publisherBefore.pid!, 'SIGKILL');
  await waitForMedia(list, 'media at every viewer after the publisher worker crash', 15, 30_000);
  console.log(`# all 12 viewers had 15 new frames ${Date.now() - killedAt} ms after the publisher's worker was killed`);
  assert.ok(server.pool.allAlive);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
});

test('nothing is left behind once everyone has left', { timeout: 30_000 }, async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  peers = [];
  await waitFor(() => server.rooms.size === 0 && server.pool.counts().routers === 0, { description: 'rooms and routers closed', timeoutMs: 10_000 });
  assert.deepEqual(server.pool.counts(), { routers: 0, transports: 0, producers: 0, consumers: 0 });
});
