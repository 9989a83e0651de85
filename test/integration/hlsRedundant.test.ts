/**
 * Redundant HLS recorders (issue 12), their placement: node A (webrtc
 * only) is the room's origin; H1 and H2 are `hls` nodes. By default the room
 * has one recorder; the per-room runtime setting `hlsRedundant` gives it two,
 * on two nodes, each fed by its own cascade pipe from A. When the recorder A
 * forwards /hls to goes away, A serves the room from the other one; the
 * setting switched off leaves one recorder again.
 *
 * The two recorders serving the same objects (the second mirrors the first)
 * and the takeover when the leader dies: hlsMirror.test.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from '../helpers/redisServer.js';
import { startClusterNode } from '../helpers/clusterNodes.js';
import type { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'final';
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

const recording = (server: FloodlightServer): boolean => server.hls?.status(ROOM)?.recording === true;
const url = (server: FloodlightServer): string => `http://${server.config.announcedIp}:${server.port}`;

test('a room gets a second recorder on another hls node when set redundant; the origin serves it from the survivor', { timeout: 180_000 }, async () => {
  redis = await RedisServer.start();
  const h1 = await startClusterNode(redis.url, 'node-h1', '127.0.0.5', { ...HLS_ENV, NODE_ROLES: 'hls' });
  const h2 = await startClusterNode(redis.url, 'node-h2', '127.0.0.6', { ...HLS_ENV, NODE_ROLES: 'hls' });
  const a = await startClusterNode(redis.url, 'node-a', '127.0.0.2', { ...HLS_ENV, NODE_ROLES: 'webrtc' });
  servers.push(h1, h2, a);

  publisher = await publishLight(a, ROOM, { url: url(a) });

  // One recorder by default (an audience far below HLS_REDUNDANT_AUDIENCE).
  await waitFor(() => recording(h1) || recording(h2), { description: 'a recorder on an hls node', timeoutMs: 30_000 });
  const first = recording(h1) ? h1 : h2;
  const second = first === h1 ? h2 : h1;
  await waitFor(async () => (await fetch(`${url(a)}${MASTER}`)).status === 200, { description: 'the master through node-a', timeoutMs: 30_000 });
  assert.equal(recording(second), false, 'one recorder only by default');

  // Redundant: the other hls node records too, and serves its own playable stream.
  await a.cluster.settings.set({ setting: 'hlsRedundant', room: ROOM, value: true });
  await waitFor(() => recording(second) && second.hls?.status(ROOM)?.available, { description: 'a second recorder, playable', timeoutMs: 30_000 });
  assert.ok(recording(first), 'the first recorder kept');
  assert.equal(a.hls?.ffmpegStats.running ?? 0, 0, 'the origin records nothing');
  for (const server of [first, second]) {
    const response = await fetch(`${url(server)}${MASTER}`);
    assert.equal(response.status, 200, `${server.config.nodeId} serves the master`);
  }

  // Not redundant any more: back to one recorder (the one placed first is kept).
  await a.cluster.settings.set({ setting: 'hlsRedundant', room: ROOM, value: false });
  await waitFor(() => recording(first) && !recording(second), { description: 'the second recorder released', timeoutMs: 10_000 });
  // Redundant again, then the first recorder goes: node-a serves the room from the second within a few seconds.
  await a.cluster.settings.set({ setting: 'hlsRedundant', room: ROOM, value: true });
  await waitFor(() => recording(second) && second.hls?.status(ROOM)?.available, { description: 'the second recorder back', timeoutMs: 30_000 });
  await first.close();
  const gone = Date.now();
  await waitFor(
    async () => {
      const [viaOrigin, direct] = await Promise.all([fetch(`${url(a)}${MASTER}`), fetch(`${url(second)}${MASTER}`)]);
      return viaOrigin.status === 200 && (await viaOrigin.text()) === (await direct.text());
    },
    { description: "node-a serving the second recorder's master", timeoutMs: 15_000 },
  );
  console.error(`# node-a served from the surviving recorder ${Date.now() - gone} ms after the first one left`);
  assert.ok(recording(second), 'the survivor still records');
  assert.equal(a.hls?.ffmpegStats.running ?? 0, 0, 'the origin still records nothing');
});
