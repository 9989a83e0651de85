/**
 * HLS audience in a cluster (issue 10): node A records a room, node B is its
 * edge (a WebRTC viewer joined there) and forwards the room's HLS to A. A
 * player served through B used to be counted by both nodes (B's playlist
 * hook, then A's for the forwarded request, under B's address). Now only the
 * recording node counts, by the player's own address: players through B and
 * directly at A are each counted once, on A, and a player that moves from B
 * to A stays one client.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from '../helpers/redisServer.js';
import { startClusterNode } from '../helpers/clusterNodes.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'audience';
const HLS_ENV = { HLS_ENABLED: 'true', HLS_RENDITIONS: '240' };
/** Where the players connect from: not an address any node uses, so a count under a node's address shows. */
const PLAYER_ADDRESS = '127.0.0.9';

let redis: RedisServer | undefined;
const servers: FloodlightServer[] = [];
const peers: Array<HeadlessPublisher | HeadlessViewer> = [];
let hlsDir: string | undefined;

before(async () => {
  redis = await RedisServer.start();
});

after(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  await Promise.all(servers.map((server) => server.close()));
  await redis?.stop();
  if (hlsDir) fs.rmSync(hlsDir, { recursive: true, force: true });
});

/** A player's GET: from PLAYER_ADDRESS, with its own User-Agent. */
function playerGet(url: string, userAgent: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { localAddress: PLAYER_ADDRESS, headers: { 'user-agent': userAgent } }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    request.on('error', reject);
  });
}

/** floodlight_hls_origin_clients of a node (its only series: the node label). */
async function originClients(server: FloodlightServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('floodlight_hls_origin_clients{'));
  assert.ok(line, `floodlight_hls_origin_clients in /metrics:\n${text.slice(0, 300)}`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

test('a player served through another node is counted once, by the recording node, under its own address', { timeout: 120_000 }, async () => {
  hlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-hls-audience-'));
  const a = await startClusterNode(redis!.url, 'node-a', '127.0.0.2', { ...HLS_ENV, HLS_DIR: hlsDir });
  servers.push(a);
  const b = await startClusterNode(redis!.url, 'node-b', '127.0.0.3', HLS_ENV);
  servers.push(b);

  const token = await a.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({ url: a.url, room: ROOM, token, video: { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 1 } });
  peers.push(publisher);
  await publisher.publish();
  await waitFor(async () => (await b.directory.originOf(ROOM))?.node === 'node-a', { description: 'node-a holding the origin' });
  // A WebRTC viewer on B: B has the room too (an edge), the case that was counted twice.
  const viewer = new HeadlessViewer({ url: b.url, room: ROOM, name: 'edge-viewer' });
  peers.push(viewer);
  await viewer.join();
  await waitFor(() => b.rooms.get(ROOM)?.live, { description: 'the room live on the edge node-b' });

  const master = `/hls/${ROOM}/index.m3u8`;
  await waitFor(async () => (await fetch(`${a.url}${master}`)).status === 200, { description: 'the master playlist on node-a', timeoutMs: 60_000 });
  const mediaUri = (await (await fetch(`${a.url}${master}`)).text()).split('\n').find((line) => line !== '' && !line.startsWith('#'));
  assert.ok(mediaUri, 'a media playlist in the master');
  const media = new URL(mediaUri, `http://x${master}`).pathname;
  // The monitoring fetches above came from the test's own address: what A counts so far.
  const before = await originClients(a);

  // Player 1 through B; player 2 through B, then directly at A (a player moving between nodes).
  for (const [node, agent] of [
    [b, 'player-1'],
    [b, 'player-2'],
    [a, 'player-2'],
  ] as const) {
    for (const uri of [master, media]) {
      const answer = await playerGet(`${node.url}${uri}`, agent);
      assert.equal(answer.status, 200, `${agent} GET ${uri} at ${node.url}: ${answer.body.slice(0, 200)}`);
    }
  }

  assert.equal(await originClients(a), before + 2, 'node-a counts each player once, under its own address');
  assert.equal(await originClients(b), 0, 'node-b, which forwards, counts nobody');
});
