/**
 * Placement in a real cluster: three nodes in this process on a private
 * redis-server. The join endpoint picks the least-loaded serving node; a
 * publisher that connects to a node other than its room's origin is
 * redirected there (and the SDK follows); draining a node through the admin
 * API makes it redirect new joins and move its clients (publisher and
 * viewers, SDK peers with real media) to the other node.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JoinPlacementResponse } from '../../server/contracts/joinApi.js';
import type { JoinRedirect } from '../../server/contracts/signaling.js';
import type { NodeRecord } from '../../server/cluster/nodeRegistry.js';
import { TestCluster } from '../helpers/testCluster.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { connectRaw, rawRequest } from '../helpers/rawSignaling.js';
import { waitFor } from '../helpers/wait.js';

let cluster: TestCluster;
const peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  cluster = await TestCluster.start(['node-a', 'node-b', 'node-c'], { HLS_ENABLED: 'false' });
});

after(async () => {
  await Promise.allSettled(peers.map((peer) => peer.close()));
  await cluster.stop();
});

async function publisher(node: string, room: string, name: string): Promise<HeadlessPublisher> {
  const token = await cluster.node('node-a').tokens.issue({ room, role: 'publisher' }, 600);
  const peer = new HeadlessPublisher({ url: cluster.url(node), room, token, name });
  peers.push(peer);
  await peer.publish();
  return peer;
}

async function viewer(node: string, room: string, name: string): Promise<HeadlessViewer> {
  const peer = new HeadlessViewer({ url: cluster.url(node), room, name });
  peers.push(peer);
  await peer.join();
  return peer;
}

async function record(node: string): Promise<NodeRecord | undefined> {
  return cluster.node('node-a').cluster.nodes.get(node);
}

async function placement(
  node: string,
  query: string,
): Promise<{ status: number; body: JoinPlacementResponse & { error?: { code: string; message: string } }; cors: string | null }> {
  const response = await fetch(`${cluster.url(node)}${query}`);
  return { status: response.status, body: (await response.json()) as never, cors: response.headers.get('access-control-allow-origin') };
}

test('the join endpoint answers the least-loaded serving node, alternates after it; bad input is refused', { timeout: 90_000 }, async () => {
  await publisher('node-a', 'lobby', 'lobby-publisher');
  const viewers = [await viewer('node-a', 'lobby', 'lobby-1'), await viewer('node-a', 'lobby', 'lobby-2')];
  await Promise.all(viewers.map((v) => v.waitForNewFrames(10)));
  await waitFor(async () => ((await record('node-a'))?.load.viewers ?? 0) >= 2, { description: 'node-a announcing its 2 viewers', timeoutMs: 10_000 });

  const forViewer = await placement('node-b', '/api/rooms/lobby/join?role=viewer');
  assert.equal(forViewer.status, 200);
  assert.equal(forViewer.cors, '*', 'any page may ask (pages come from any node)');
  assert.notEqual(forViewer.body.node, 'node-a', 'the loaded node is not chosen');
  assert.deepEqual(forViewer.body.alternates.at(-1), cluster.url('node-a'), 'the loaded node comes last');
  assert.equal(forViewer.body.alternates.length, 2);
  assert.equal(forViewer.body.url, cluster.url(forViewer.body.node));

  const forPublisher = await placement('node-c', '/api/rooms/lobby/join?role=publisher');
  assert.equal(forPublisher.body.node, 'node-a', "publishers go to the room's origin");

  const bad = await Promise.all([
    placement('node-b', '/api/rooms/not..valid!/join?role=viewer'),
    placement('node-b', '/api/rooms/lobby/join?role=admin'),
    placement('node-b', '/api/rooms/lobby/join?role=viewer&region=no%20spaces'),
  ]);
  assert.deepEqual(
    bad.map((b) => [b.status, b.body.error?.code]),
    [
      [400, 'BAD_REQUEST'],
      [400, 'BAD_REQUEST'],
      [400, 'BAD_REQUEST'],
    ],
  );
  assert.match(bad[0]?.body.error?.message ?? '', /room/);
  assert.match(bad[1]?.body.error?.message ?? '', /role must be "viewer" or "publisher"/);
  assert.match(bad[2]?.body.error?.message ?? '', /region/);
});

test('a publisher connecting to a node that is not its room origin is redirected there, and the SDK follows', { timeout: 60_000 }, async () => {
  const token = await cluster.node('node-a').tokens.issue({ room: 'lobby', role: 'publisher' }, 600);
  const socket = await connectRaw(cluster.url('node-b'));
  try {
    const ack = await rawRequest(socket, 'join', { room: 'lobby', role: 'publisher', token });
    assert.ok(ack.ok);
    const redirect = ack.data as JoinRedirect;
    assert.equal(redirect.redirect, cluster.url('node-a'));
    assert.ok(!redirect.alternates.includes(cluster.url('node-b')), 'never an alternate to the node that redirects');
    assert.match(redirect.reason, /origin is node node-a/);
    // Nothing was joined on node-b.
    assert.equal(cluster.node('node-b').rooms.get('lobby'), undefined);
    // Unauthorized clients are not told where to go.
    const refused = await rawRequest(socket, 'join', { room: 'lobby', role: 'publisher' });
    assert.equal(refused.ok ? 'ok' : refused.error.code, 'UNAUTHORIZED');
  } finally {
    socket.disconnect();
  }

  // The SDK follows the redirect and takes the seat over on the origin.
  const takeover = await publisher('node-c', 'lobby', 'lobby-publisher-2');
  assert.equal(takeover.signaling.serverUrl, cluster.url('node-a'));
  assert.equal((await cluster.node('node-a').directory.originOf('lobby'))?.node, 'node-a');
});

/** The longest stretch without a new video frame for any of `viewers`, sampled every 20 ms until stopped. */
function watchGaps(viewers: HeadlessViewer[]): () => number {
  const last = viewers.map((v) => ({ frames: v.stats().video.frames, at: performance.now() }));
  let longest = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    viewers.forEach((v, i) => {
      const frames = v.stats().video.frames;
      if (frames > last[i]!.frames) last[i] = { frames, at: now };
      longest = Math.max(longest, now - last[i]!.at);
    });
  }, 20);
  return () => {
    clearInterval(timer);
    return Math.round(longest);
  };
}

test('draining a node (admin API): it redirects new joins and its publisher and viewers move to the other node', { timeout: 120_000 }, async (t) => {
  // Two nodes from here: every move has one place to go.
  await cluster.node('node-c').close();
  await waitFor(async () => (await record('node-c')) === undefined, { description: 'node-c gone from the registry', timeoutMs: 5_000 });

  const admin = await cluster.adminToken();
  const viewerToken = await cluster.node('node-a').tokens.issue({ room: 'lobby', role: 'viewer' }, 600);
  const drain = (id: string, token?: string, method = 'POST') =>
    fetch(`${cluster.url('node-b')}/api/cluster/nodes/${id}/drain`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  assert.equal((await drain('node-a')).status, 401);
  assert.equal((await drain('node-a', viewerToken)).status, 403, 'a viewer token is no admin token');
  assert.equal((await drain('bad id!', admin)).status, 400);
  assert.equal((await drain('node-z', admin)).status, 404);
  assert.equal((await record('node-a'))?.state, 'serving', 'refused requests changed nothing');

  // Room "stage": its publisher on node-b, a viewer waiting on node-a.
  await publisher('node-b', 'stage', 'stage-publisher');
  const stageViewer = await viewer('node-a', 'stage', 'stage-viewer');
  const lobbyPeers = peers.filter((p) => p.name.startsWith('lobby') && p.isActive());
  assert.ok(lobbyPeers.length >= 3, 'the lobby publisher and viewers are on node-a');

  const lobbyViewers = lobbyPeers.filter((p): p is HeadlessViewer => p instanceof HeadlessViewer);
  const stopWatching = watchGaps(lobbyViewers);
  const drainedAt = performance.now();
  const answer = await drain('node-a', admin);
  assert.equal(answer.status, 202);
  assert.deepEqual(await answer.json(), { node: 'node-a', draining: true });
  await waitFor(async () => (await record('node-a'))?.state === 'draining', { description: 'node-a draining in the registry', timeoutMs: 3_000 });

  // New joins at node-a are sent to node-b.
  const socket = await connectRaw(cluster.url('node-a'));
  try {
    const ack = await rawRequest(socket, 'join', { room: 'stage', role: 'viewer' });
    assert.ok(ack.ok);
    assert.equal((ack.data as JoinRedirect).redirect, cluster.url('node-b'));
  } finally {
    socket.disconnect();
  }
  const viaEndpoint = await placement('node-a', '/api/rooms/stage/join?role=viewer');
  assert.equal(viaEndpoint.body.node, 'node-b', 'the endpoint skips the draining node');

  // Everyone connected to node-a moves to node-b, and media flows there.
  const moved = [...lobbyPeers, stageViewer];
  await waitFor(() => moved.every((p) => p.signaling.serverUrl === cluster.url('node-b') && p.state === 'joined'), {
    description: 'every client of node-a joined on node-b',
    timeoutMs: 20_000,
    progress: () => moved.map((p) => `${p.name}: ${p.state} on ${p.signaling.serverUrl}`).join('; '),
  });
  await Promise.all(lobbyViewers.map((v) => v.waitForNewFrames(10)));
  const movedInMs = performance.now() - drainedAt;
  // Publisher and viewers move at once here (no cascading yet), so this gap holds both moves.
  t.diagnostic(`longest video gap of a lobby viewer across the drain: ${stopWatching()} ms`);
  assert.equal(await cluster.node('node-a').drainer.whenEmpty(5_000), 'empty', 'nobody left on node-a');
  assert.ok(movedInMs < 20_000, `moved and playing within ${Math.round(movedInMs)} ms`);

  // Cancelling the drain puts node-a back in service.
  assert.equal((await drain('node-a', admin, 'DELETE')).status, 200);
  await waitFor(async () => (await record('node-a'))?.state === 'serving', { description: 'node-a serving again', timeoutMs: 3_000 });
});
