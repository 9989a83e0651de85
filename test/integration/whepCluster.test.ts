/**
 * WHIP and WHEP in cluster mode (two nodes on one private redis-server,
 * test/helpers/testCluster.ts). A headless publisher makes a room live on
 * node A (its origin):
 *   - a WHIP POST for that room on node B is answered 307 to A's URL (same
 *     path), and B allocates nothing;
 *   - a WHEP player on node B plays the room: B opens it as an edge (one
 *     cross-node pipe per track) and the player receives A's media;
 *   - once B drains, a WHEP POST there is answered 307 to A.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { TestCluster } from '../helpers/testCluster.js';
import type { HeadlessPublisher } from '../helpers/headlessPublisher.js';
import { publishForPlayers, WhepPlayer } from '../helpers/whepPlayer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'whep-cluster';
let cluster: TestCluster;
let publisher: HeadlessPublisher | undefined;
const players: WhepPlayer[] = [];

before(async () => {
  cluster = await TestCluster.start(['node-a', 'node-b'], { HLS_ENABLED: 'false' });
  const a = cluster.node('node-a');
  publisher = await publishForPlayers(a.url, ROOM, await a.tokens.issue({ room: ROOM, role: 'publisher' }, 600));
  await waitFor(async () => (await cluster.node('node-b').directory.originOf(ROOM))?.node === 'node-a', {
    description: 'node A to hold the room origin in the shared directory',
  });
});

after(async () => {
  await Promise.all(players.map((p) => p.close(false)));
  await publisher?.close();
  await cluster?.stop();
});

test('a WHIP POST on a node that is not the room origin is redirected there (307, same path)', async () => {
  const b = cluster.node('node-b');
  const offer = fs.readFileSync(path.join(import.meta.dirname, '../fixtures/whip/chromium.sdp'), 'utf8');
  const before = JSON.stringify({ ...b.pool.counts(), rooms: b.rooms.size });
  const response = await fetch(`${b.url}/whip/${ROOM}`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${await b.tokens.issue({ room: ROOM, role: 'publisher' }, 600)}` },
    body: offer,
  });
  assert.equal(response.status, 307, await response.text());
  assert.equal(response.headers.get('location'), `${cluster.url('node-a')}/whip/${ROOM}`);
  assert.equal(JSON.stringify({ ...b.pool.counts(), rooms: b.rooms.size }), before, 'node B allocated nothing');
});

test('a WHEP player on an edge node plays the room (cascaded from its origin)', async () => {
  const b = cluster.node('node-b');
  const player = new WhepPlayer({ routerCapabilities: b.pool.routerRtpCapabilities, numbering: 'router' });
  players.push(player);
  const response = await player.play(`${b.url}/whep/${ROOM}`, { redirect: 'manual' });
  assert.equal(response.status, 201, await response.text());
  assert.equal(b.rooms.get(ROOM)?.sources()[0]?.protocol, 'cascade', 'node B serves the room as an edge');
  await waitFor(() => player.stats().video.frames >= 30 && player.stats().video.keyframes >= 1 && player.stats().audio.packets >= 50, {
    description: 'the WHEP player on the edge to receive 30 VP8 frames and 50 Opus packets',
    timeoutMs: 30_000,
    progress: () => `${player.connectionState}, video ${JSON.stringify(player.stats().video)}`,
  });
  assert.equal(b.rooms.get(ROOM)?.viewerCount, 1);
  assert.equal(await player.close(), 200);
  await waitFor(() => b.whep.size === 0 && b.rooms.get(ROOM)?.viewerCount !== 1, { description: 'the edge session to end' });
});

test('a WHEP POST on a draining node is redirected to a serving one', async () => {
  const b = cluster.node('node-b');
  await b.cluster.settings.set({ setting: 'drain', node: 'node-b', value: true });
  await waitFor(() => b.cluster.settings.snapshot().drain['node-b'] === true, { description: 'node B to see its drain flag' });
  const player = new WhepPlayer({ routerCapabilities: b.pool.routerRtpCapabilities, numbering: 'router' });
  players.push(player);
  const response = await player.play(`${b.url}/whep/${ROOM}`, { redirect: 'manual' });
  assert.equal(response.status, 307, await response.text());
  assert.equal(response.headers.get('location'), `${cluster.url('node-a')}/whep/${ROOM}`);
  assert.equal(b.whep.size, 0);
});
