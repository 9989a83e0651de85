/**
 * The per-room HLS switch on one node (runtime setting `hlsLadder`, issue 10):
 * off stops the room's recorder within 2 s and leaves the WebRTC room alone;
 * on starts it again under the same URL. Bad input changes nothing. Also the
 * recorder placement rule (chooseHlsRecorders) on made-up node records.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import type { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';
import { chooseHlsRecorders } from '../../server/cluster/placement/hlsRecorderSelector.js';
import type { NodeRecord } from '../../server/cluster/nodeRegistry.js';

const ROOM = 'switchable';
let server: FloodlightServer | undefined;
let publisher: HeadlessPublisher | undefined;

after(async () => {
  await publisher?.close();
  await server?.close();
});

function node(id: string, roles: NodeRecord['roles'], cpu: number, state: NodeRecord['state'] = 'serving'): NodeRecord {
  return {
    id,
    publicUrl: `http://${id}.example:3000`,
    mediaAddress: '127.0.0.1',
    region: 'default',
    roles,
    state,
    load: { cpu, viewers: 0, consumers: 0, bitrateOutBps: 0 },
    updatedAt: new Date().toISOString(),
  };
}

test('recorder placement: dedicated hls nodes first (least loaded), else the origin; kept while eligible; two on two nodes', () => {
  const origin = node('a', ['webrtc', 'hls'], 0.1);
  const other = node('b', ['webrtc', 'hls'], 0);
  const h1 = node('h1', ['hls'], 0.5);
  const h2 = node('h2', ['hls'], 0.2);
  const request = { origin: 'a', count: 1, current: [], drainFlags: {} };
  assert.deepEqual(chooseHlsRecorders([origin, other], request), ['a'], 'no hls node: the origin, though another node is lighter');
  assert.deepEqual(chooseHlsRecorders([origin, other, h1, h2], request), ['h2'], 'the least loaded hls node');
  assert.deepEqual(chooseHlsRecorders([origin, h1, h2], { ...request, current: ['h1'] }), ['h1'], 'a running recorder is not moved');
  assert.deepEqual(chooseHlsRecorders([origin, h1, h2], { ...request, current: ['h1'], drainFlags: { h1: true } }), ['h2'], 'but leaves a draining node');
  assert.deepEqual(chooseHlsRecorders([origin, node('h2', ['hls'], 0, 'draining')], request), ['a'], 'a draining node takes nothing new');
  assert.deepEqual(chooseHlsRecorders([origin, other, h2], { ...request, count: 2 }), ['h2', 'a'], 'redundant: two nodes, the origin next');
  assert.deepEqual(chooseHlsRecorders([node('w', ['webrtc'], 0)], { ...request, origin: 'w' }), [], 'nobody with the hls role: none');
});

test('hlsLadder off stops the room’s recorder within 2 s, the WebRTC room stays live; on records again', { timeout: 120_000 }, async () => {
  server = await startTestServer({ HLS_RENDITIONS: '240' });
  const running = (): number => server?.hls?.ffmpegStats.running ?? 0;
  publisher = await publishLight(server, ROOM);
  await waitFor(() => server?.hls?.status(ROOM)?.available, { description: 'a playable HLS stream', timeoutMs: 30_000 });

  await assert.rejects(server.cluster.settings.set({ setting: 'hlsLadder', room: '../x', value: false }), /room/);
  assert.equal(running(), 1, 'bad input changed nothing');

  let started = Date.now();
  await server.cluster.settings.set({ setting: 'hlsLadder', room: ROOM, value: false });
  await waitFor(() => running() === 0 && server?.hls?.status(ROOM)?.recording === false, { description: 'the recorder stopped', intervalMs: 20 });
  assert.ok(Date.now() - started <= 2_000, `stopped in ${Date.now() - started} ms`);
  assert.ok(server.rooms.get(ROOM)?.live, 'the WebRTC room is still live');
  // Another room's switch does not touch this one.
  await server.cluster.settings.set({ setting: 'hlsLadder', room: 'elsewhere', value: true });

  started = Date.now();
  await server.cluster.settings.set({ setting: 'hlsLadder', room: ROOM, value: true });
  await waitFor(() => running() === 1 && server?.hls?.status(ROOM)?.recording, { description: 'the recorder back', intervalMs: 20 });
  assert.ok(Date.now() - started <= 2_000, `started in ${Date.now() - started} ms`);
  const sinceOn = Date.now();
  await waitFor(() => (server?.hls?.status(ROOM)?.playlistUpdatedAt ?? 0) > sinceOn, { description: 'the playlist moving again', timeoutMs: 20_000 });
  const master = await fetch(`${server.url}/hls/${ROOM}/index.m3u8`);
  assert.equal(master.status, 200, 'same URL');
});
