/**
 * The `hls` role (issue 10): three nodes on one Redis — A (webrtc + hls, the
 * room's origin: the publisher is there), B (webrtc only) and H (hls only).
 * The room is recorded on H, fed by a cascade pipe from A: A and B run no
 * ffmpeg, and every node serves the room's playlists (A and B forward to H).
 * Then the operator's per-room switch (runtime setting `hlsLadder`): off stops
 * H's recorder within 2 s, on starts it again. Last, H goes away: A records
 * the room itself (no dedicated node left).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from '../helpers/redisServer.js';
import { startClusterNode } from '../helpers/clusterNodes.js';
import type { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'show';
const HLS_ENV = { HLS_ENABLED: 'true', HLS_RENDITIONS: '240' };
const MASTER = `/hls/${ROOM}/index.m3u8`;

let redis: RedisServer | undefined;
const servers: FloodlightServer[] = [];
let publisher: HeadlessPublisher | undefined;

after(async () => {
  await publisher?.close();
  await Promise.all(servers.map((server) => server.close()));
  await redis?.stop();
});

function running(server: FloodlightServer): number {
  return server.hls?.ffmpegStats.running ?? 0;
}

test('a room is recorded on the hls node, served by every node, switched off and on per room, and falls back to its origin', { timeout: 180_000 }, async () => {
  redis = await RedisServer.start();
  // H first: the origin places the recorder when the room goes live, on the nodes announced then.
  const h = await startClusterNode(redis.url, 'node-h', '127.0.0.4', { ...HLS_ENV, NODE_ROLES: 'hls' });
  servers.push(h);
  const a = await startClusterNode(redis.url, 'node-a', '127.0.0.2', HLS_ENV);
  servers.push(a);
  assert.deepEqual((await a.cluster.nodes.get('node-h'))?.roles, ['hls'], 'node-h announces the hls role only');

  const url = (server: FloodlightServer): string => `http://${server.config.announcedIp}:${server.port}`;
  publisher = await publishLight(a, ROOM, { url: url(a) });
  await waitFor(async () => (await a.directory.originOf(ROOM))?.node === 'node-a', { description: 'node-a holding the origin' });
  // B after the publisher: placement would otherwise be free to send it to the lighter B.
  const b = await startClusterNode(redis.url, 'node-b', '127.0.0.3', { ...HLS_ENV, NODE_ROLES: 'webrtc' });
  servers.push(b);
  assert.deepEqual((await a.cluster.nodes.get('node-b'))?.roles, ['webrtc']);

  // H records, fed over a cascade pipe from A.
  await waitFor(() => h.hls?.status(ROOM)?.available, { description: 'a playable HLS stream on node-h', timeoutMs: 30_000 });
  assert.equal(h.rooms.get(ROOM)?.program.source?.protocol, 'cascade', 'node-h gets the room over a pipe from its origin');
  assert.equal(running(h), 1, 'one ffmpeg on node-h');
  // A and B record nothing.
  for (const server of [a, b]) {
    assert.equal(server.hls?.status(ROOM)?.recording ?? false, false, `no recorder on ${server.config.nodeId}`);
    assert.equal(running(server), 0, `no ffmpeg on ${server.config.nodeId}`);
  }

  // Every node serves the same playlists (A and B forward to H).
  const fetchText = async (server: FloodlightServer, path: string): Promise<string> => {
    const response = await fetch(`${url(server)}${path}`);
    assert.equal(response.status, 200, `${path} on ${server.config.nodeId}`);
    return response.text();
  };
  const master = await fetchText(h, MASTER);
  for (const server of [a, b]) assert.equal(await fetchText(server, MASTER), master, `${server.config.nodeId} serves node-h's master`);
  const media = master.split('\n').find((line) => line !== '' && !line.startsWith('#'));
  assert.ok(media, `a media playlist in\n${master}`);
  const mediaPath = new URL(media, `http://x${MASTER}`).pathname;
  for (const server of [a, b, h]) assert.match(await fetchText(server, mediaPath), /#EXT-X-PART:/, `${server.config.nodeId} serves the media playlist`);

  // Off: every node applies it; H's recorder stops within 2 s.
  let started = Date.now();
  await b.cluster.settings.set({ setting: 'hlsLadder', room: ROOM, value: false });
  await waitFor(() => running(h) === 0 && h.hls?.status(ROOM)?.recording === false, {
    description: "node-h's recorder stopped",
    timeoutMs: 5_000,
    intervalMs: 20,
  });
  const offMs = Date.now() - started;
  assert.ok(offMs <= 2_000, `stopped in ${offMs} ms`);
  assert.equal(running(a) + running(b), 0, 'and nobody else started one');
  for (const server of [a, h]) assert.equal(server.cluster.settings.snapshot().hlsLadder[ROOM], false, `${server.config.nodeId} sees the switch`);

  // On again: recording resumes on H within 2 s.
  started = Date.now();
  await a.cluster.settings.set({ setting: 'hlsLadder', room: ROOM, value: undefined });
  await waitFor(() => running(h) === 1 && h.hls?.status(ROOM)?.recording, { description: "node-h's recorder back", timeoutMs: 5_000, intervalMs: 20 });
  const onMs = Date.now() - started;
  assert.ok(onMs <= 2_000, `started in ${onMs} ms`);
  assert.equal(running(a) + running(b), 0, 'still only on node-h');

  // H goes: no dedicated node left, so the origin records the room itself.
  await h.close();
  await waitFor(() => running(a) === 1 && a.hls?.status(ROOM)?.recording, { description: 'node-a recording once node-h is gone', timeoutMs: 15_000 });
  assert.equal(running(b), 0, 'node-b (webrtc only) never records');
  await waitFor(async () => (await fetch(`${url(b)}${MASTER}`)).status === 200, { description: "node-b serving node-a's master", timeoutMs: 20_000 });
});
