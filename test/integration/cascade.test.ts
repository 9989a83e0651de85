/**
 * Cascading (issue 10): nodes A, B, C on 127.0.0.2/.3/.4 and one private
 * redis-server. A publisher on A; viewers on B and C get the broadcast through
 * one cross-host pipe per edge (never per viewer); an edge whose audience
 * left releases its pipe; the origin refuses pipe requests for unknown rooms
 * and stale epochs; when the origin dies, viewers on the edges stay joined
 * and get media again, on the same connection, from the node the publisher
 * republishes through (a higher epoch).
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { FloodlightServer } from '../../server/app.js';
import { BusRemoteError } from '../../server/cluster/messageBus.js';
import { PIPE_IDLE_MS, PIPE_METHODS } from '../../server/contracts/pipeProtocol.js';
import type { WebRtcPublisherSource } from '../../server/sources/webrtcPublisherSource.js';
import { RedisServer } from '../helpers/redisServer.js';
import { spawnClusterNode, startClusterNode, type ChildNode } from '../helpers/clusterNodes.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { connectRaw, errorCode, rawRequest } from '../helpers/rawSignaling.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisServer;
let servers: FloodlightServer[] = [];
let children: ChildNode[] = [];
let peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  redis = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(children.map((child) => child.process.stop()));
  peers = [];
  servers = [];
  children = [];
});

after(async () => {
  await redis.stop();
});

async function node(id: string, ip: string): Promise<FloodlightServer> {
  const server = await startClusterNode(redis.url, id, ip);
  servers.push(server);
  return server;
}

async function publisher(url: string, room: string, issuer: FloodlightServer, name = 'publisher'): Promise<HeadlessPublisher> {
  const token = await issuer.tokens.issue({ room, role: 'publisher' }, 600);
  const peer = new HeadlessPublisher({ url, room, token, name, video: { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 1 } });
  peers.push(peer);
  await peer.publish();
  return peer;
}

async function viewers(server: { url: string }, room: string, count: number, prefix: string): Promise<HeadlessViewer[]> {
  const list = Array.from({ length: count }, (_, i) => new HeadlessViewer({ url: server.url, room, name: `${prefix}-${i}` }));
  peers.push(...list);
  await Promise.all(list.map((viewer) => viewer.join()));
  return list;
}

/** Complete video frames and audio packets received from now on, by every viewer of `list`. */
async function waitForMedia(list: HeadlessViewer[], description: string, timeoutMs = 20_000): Promise<void> {
  const start = list.map((v) => ({ frames: v.stats().video.completeFrames, audio: v.stats().audio.packets }));
  await waitFor(() => list.every((v, i) => v.stats().video.completeFrames - start[i]!.frames >= 15 && v.stats().audio.packets - start[i]!.audio >= 10), {
    description,
    timeoutMs,
    progress: () => list.map((v) => v.summary()).join(' | '),
  });
}

/** Transports on the room's program router at `server` (the publisher's, and one per edge pipe). */
async function programTransports(server: FloodlightServer, room: string): Promise<number> {
  const media = server.rooms.get(room)?.programMedia();
  assert.ok(media, `${room} has a program router`);
  return (await media.router.dump()).transportIds.length;
}

test('viewers on two edges get the broadcast through one pipe per edge; an emptied edge releases its pipe', { timeout: 120_000 }, async () => {
  const a = await node('node-a', '127.0.0.2');
  const b = await node('node-b', '127.0.0.3');
  const c = await node('node-c', '127.0.0.4');
  await publisher(a.url, 'show', a);
  await waitFor(async () => (await a.directory.originOf('show'))?.node === 'node-a', { description: 'node-a holding the origin of "show"' });
  const lease = (await a.directory.originOf('show'))!;

  const onB = await viewers(b, 'show', 3, 'b');
  const onC = await viewers(c, 'show', 1, 'c');
  await waitForMedia([...onB, ...onC], 'media at the viewers on both edges');
  for (const viewer of [...onB, ...onC]) assert.ok(viewer.stats().video.keyframes >= 1, `${viewer.stats().name} decoded from a key frame`);

  // One pipe per edge, one pipe consumer per track, whatever the edge's audience.
  const pipes = a.rooms.cascade().pipes;
  assert.deepEqual(pipes.map((p) => [p.room, p.edge, p.epoch, p.consumers]).sort(), [
    ['show', 'node-b', lease.epoch, 2],
    ['show', 'node-c', lease.epoch, 2],
  ]);
  assert.equal(await programTransports(a, 'show'), 3, "the publisher's transport and two pipes on the origin router");
  assert.deepEqual(
    b.rooms.cascade().edges.map(({ room, origin, epoch, tracks }) => ({ room, origin, epoch, tracks })),
    [{ room: 'show', origin: 'node-a', epoch: lease.epoch, tracks: 2 }],
  );
  assert.equal(b.rooms.cascade().pipes.length, 0, 'an edge serves no pipes');
  // The directory sees the edges' audiences.
  await waitFor(async () => (await a.directory.get('show'))?.viewersByNode['node-b'] === 3, { description: 'node-b reporting 3 viewers' });

  // A track paused at the origin is paused on the edges (the sync carries it), and resumes.
  const source = a.rooms.get('show')!.sources()[0] as WebRtcPublisherSource;
  const video = source.tracks().find((t) => t.kind === 'video')!.producer.id;
  const edgeVideoPaused = (): boolean | undefined => b.rooms.get('show')?.program.track(video)?.producer.paused;
  await source.setTrackPaused(video, true);
  await waitFor(() => edgeVideoPaused() === true, { description: 'the paused video track paused on node-b' });
  await source.setTrackPaused(video, false);
  await waitFor(() => edgeVideoPaused() === false, { description: 'the video track resumed on node-b' });
  await waitForMedia(onB, 'media again at the viewers on node-b after the resume');

  // B's audience leaves: after the grace period its room closes and its pipe goes, at both ends.
  await Promise.all(onB.map((viewer) => viewer.close()));
  await waitFor(() => a.rooms.cascade().pipes.every((p) => p.edge !== 'node-b'), { description: "node-b's pipe closed at the origin" });
  assert.equal(b.rooms.get('show'), undefined, 'the edge room closed');
  assert.equal(await programTransports(a, 'show'), 2, 'the pipe transport is gone from the origin router');
  await waitForMedia(onC, 'media still at the viewer on node-c');
});

test('the origin refuses pipes for an unknown room, a stale epoch or a malformed request, and allocates nothing', { timeout: 60_000 }, async () => {
  const a = await node('node-a', '127.0.0.2');
  const b = await node('node-b', '127.0.0.3');
  await publisher(a.url, 'show', a);
  await waitFor(async () => (await a.directory.originOf('show'))?.node === 'node-a', { description: 'node-a holding the origin' });
  const lease = (await a.directory.originOf('show'))!;
  const before = await programTransports(a, 'show');
  const edge = { ip: '127.0.0.3', port: 40_000, srtpParameters: { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: 'AAAA' } };
  const refusal = async (payload: unknown, code: string): Promise<void> => {
    await assert.rejects(b.bus.request('node-a', PIPE_METHODS.open, payload, 3_000), (error: unknown) => {
      assert.ok(error instanceof BusRemoteError, `a BusRemoteError, not ${String(error)}`);
      assert.equal(error.code, code, error.message);
      return true;
    });
  };
  await refusal({ room: 'nowhere', epoch: lease.epoch, edge }, 'unknown-room');
  await refusal({ room: 'show', epoch: lease.epoch + 1, edge }, 'stale-epoch');
  await refusal({ room: 'show', epoch: lease.epoch - 1 || 99, edge }, 'stale-epoch');
  await refusal({ room: 'show', epoch: 'one', edge }, 'bad-request');
  await assert.rejects(b.bus.request('node-a', PIPE_METHODS.sync, { room: 'show', epoch: lease.epoch, pipeId: 'made-up' }, 3_000), /no pipe made-up/);
  assert.equal(a.rooms.cascade().pipes.length, 0, 'no pipe was set up');
  assert.equal(await programTransports(a, 'show'), before, 'no transport was left on the origin router');

  // An edge that opens a pipe and then stops syncing (it died): the origin closes the pipe.
  const live = { ...edge, srtpParameters: { cryptoSuite: 'AEAD_AES_256_GCM', keyBase64: randomBytes(44).toString('base64') } };
  await b.bus.request('node-a', PIPE_METHODS.open, { room: 'show', epoch: lease.epoch, edge: live }, 3_000);
  assert.deepEqual(
    a.rooms.cascade().pipes.map((p) => [p.edge, p.consumers]),
    [['node-b', 2]],
  );
  await waitFor(() => a.rooms.cascade().pipes.length === 0, { description: 'the origin closing a pipe nobody syncs', timeoutMs: PIPE_IDLE_MS + 5_000 });
  assert.equal(await programTransports(a, 'show'), before, 'its transport is gone');
});

test('a publisher that republishes on the origin reaches the edge viewers again, on their connection', { timeout: 90_000 }, async () => {
  const a = await node('node-a', '127.0.0.2');
  const b = await node('node-b', '127.0.0.3');
  const first = await publisher(a.url, 'show', a);
  await waitFor(async () => (await a.directory.originOf('show'))?.node === 'node-a', { description: 'node-a holding the origin' });
  const onB = await viewers(b, 'show', 2, 'b');
  await waitForMedia(onB, 'media at the edge viewers');
  const tracksBefore = b.rooms
    .get('show')!
    .trackInfos()
    .map((t) => t.trackId);

  // The origin's media is lost: the publisher is sent to reconnect and produces new tracks there.
  for (const source of a.rooms.get('show')!.sources()) source.end('media-lost');
  await waitFor(() => first.stats().joins >= 2 && first.state === 'joined', {
    description: 'the publisher republishing on node-a',
    progress: () => first.summary(),
  });
  await waitFor(
    () => {
      const now =
        b.rooms
          .get('show')
          ?.trackInfos()
          .map((t) => t.trackId) ?? [];
      return now.length === 2 && now.every((id) => !tracksBefore.includes(id));
    },
    { description: "the edge carrying the publisher's new tracks" },
  );
  await waitForMedia(onB, 'media again at the edge viewers');
  for (const viewer of onB) assert.equal(viewer.stats().joins, 1, `${viewer.stats().name} kept its connection`);
  assert.equal(a.rooms.cascade().pipes.length, 1, 'still one pipe for the edge');
});

test('origin SIGKILL: edge viewers stay joined and get media again from the node the publisher republishes through', { timeout: 150_000 }, async () => {
  const a = await spawnClusterNode(redis.url, 'node-a', '127.0.0.2');
  children.push(a);
  const b = await node('node-b', '127.0.0.3');
  const c = await node('node-c', '127.0.0.4');
  const first = await publisher(a.url, 'show', b, 'publisher-on-a');
  // A second room on A, that nobody watches yet: joined right after the crash, it must fail cleanly.
  const second = await publisher(a.url, 'other', b, 'other-on-a');
  await waitFor(async () => (await b.directory.originOf('show'))?.node === 'node-a' && (await b.directory.originOf('other'))?.node === 'node-a', {
    description: 'node-a holding both rooms',
  });
  const before = (await b.directory.originOf('show'))!;
  const onB = await viewers(b, 'show', 2, 'b');
  const onC = await viewers(c, 'show', 1, 'c');
  await waitForMedia([...onB, ...onC], 'media at the edge viewers');

  a.process.kill('SIGKILL');
  // This test brings the publisher back through C itself: stop its SDK before it fails over to an
  // alternate on its own (after 2 s without its server), which would make that node the origin early.
  await Promise.all([first.close(), second.close()]);
  peers = peers.filter((p) => p !== first && p !== second);

  // A join for a room whose origin just died: a clear error, nothing left behind.
  const socket = await connectRaw(b.url);
  try {
    const ack = await rawRequest(socket, 'join', { room: 'other', role: 'viewer' });
    assert.ok(['UNAVAILABLE', 'NOT_LIVE'].includes(errorCode(ack) ?? ''), `join refused clearly: ${JSON.stringify(ack)}`);
  } finally {
    socket.disconnect();
  }
  assert.equal(b.rooms.get('other'), undefined, 'no room left open for it');

  // The lease goes (TTL), the edges' cascades end; viewers stay joined.
  let seen = 'nothing read yet';
  await waitFor(
    async () => {
      const lease = await b.directory.originOf('show');
      seen = lease ? `${lease.node} epoch ${lease.epoch}` : 'no lease';
      return lease === undefined;
    },
    { description: 'the dead origin losing its lease', timeoutMs: 10_000, progress: () => `lease: ${seen}` },
  );
  await waitFor(() => b.rooms.cascade().edges.length === 0 && c.rooms.cascade().edges.length === 0, { description: 'the edges dropping the dead pipe' });
  assert.ok(b.rooms.get('show') && c.rooms.get('show'), 'the edge rooms stay');

  // The publisher comes back through C: C becomes the origin with a higher epoch, B re-pipes from it.
  await publisher(c.url, 'show', c, 'publisher-on-c');
  await waitFor(async () => (await b.directory.originOf('show'))?.node === 'node-c', { description: 'node-c claiming the origin' });
  const after = (await b.directory.originOf('show'))!;
  assert.ok(after.epoch > before.epoch, `epoch ${after.epoch} > ${before.epoch}`);
  await waitForMedia([...onB, ...onC], 'media again at every viewer, from node-c');
  await waitFor(() => b.rooms.cascade().edges[0]?.epoch === after.epoch, { description: 'node-b piping from the new epoch' });
  assert.deepEqual(
    c.rooms.cascade().pipes.map((p) => [p.edge, p.epoch, p.consumers]),
    [['node-b', after.epoch, 2]],
  );
  for (const viewer of [...onB, ...onC]) {
    const stats = viewer.stats();
    assert.equal(stats.joins, 1, `${stats.name} kept its connection (no rejoin)`);
    assert.equal(stats.state, 'joined');
  }
});
