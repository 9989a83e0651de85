/**
 * The nginx HLS edge (deploy/nginx, scripts/edge) in front of real Floodlight
 * origins with a live LL-HLS room (real mediasoup, ffmpeg, packager):
 *   - 200 LL-HLS clients (the load tool's client) through the edge: the
 *     edge's access log shows about one origin request per object, and every
 *     client gets parts;
 *   - hls.js in Chromium plays the watch page through the edge;
 *   - `npm run edge -- --cluster` finds the origins in /api/cluster;
 *   - two origins (the second serves the first's files from a shared HLS
 *     directory), one stopped: clients keep getting parts (next upstream);
 *     with every origin down, cached segments and a stale playlist are served.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { objectKind } from '../../scripts/edge/accessLog.js';
import { clusterOrigins } from '../../scripts/edge/clusterOrigins.js';
import { NginxEdge } from '../../scripts/edge/nginxEdge.js';
import { LlHlsClient } from '../../scripts/loadtest/llHlsClient.js';
import { launchChromium } from '../helpers/chromium.js';
import { assertCollapsing, clientsSummary, playThroughEdge } from '../helpers/edgeAudience.js';
import { startLiveHlsRoom, type LiveHlsRoom } from '../helpers/liveHlsRoom.js';
import { startTestServer } from '../helpers/testServer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'edge-live';
const CLIENTS = 200;
// Both origins read the same files: the test's own HLS directory (mode 0700, ours).
const sharedHlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-edge-test-hls-'));
let origin: FloodlightServer | undefined;
let room: LiveHlsRoom | undefined;
const edges: NginxEdge[] = [];
const servers: FloodlightServer[] = [];

let second: FloodlightServer | undefined;

before(async () => {
  origin = await startTestServer({ HLS_DIR: sharedHlsDir, HLS_RENDITIONS: '720,240' });
  servers.push(origin);
  // The second origin records nothing; it serves the first's files from disk.
  // Started before the recording: a server reaps the ffmpeg pid files it finds
  // at start-up, and both servers live in this one test process.
  second = await startTestServer({ HLS_DIR: sharedHlsDir, HLS_RENDITIONS: '720,240' });
  servers.push(second);
  room = await startLiveHlsRoom(origin, ROOM);
});

after(async () => {
  await room?.publisher.close();
  for (const edge of edges) await edge.close();
  for (const server of servers) await server.close();
  fs.rmSync(sharedHlsDir, { recursive: true, force: true });
});

async function startEdge(origins: string[]): Promise<NginxEdge> {
  const edge = await NginxEdge.start({ origins });
  edges.push(edge);
  return edge;
}

test(`${CLIENTS} LL-HLS clients through the edge: about one origin request per object`, { timeout: 120_000 }, async () => {
  const edge = await startEdge([origin!.url]);
  await playThroughEdge(`${edge.url}${room!.masterPath}`, CLIENTS, 'edge');
  assertCollapsing(edge.accessLog());
});

test('an edge asked for a port that another edge holds refuses to start, and leaves nothing behind', async () => {
  const first = await startEdge([origin!.url]);
  const port = Number(new URL(first.url).port);
  const tempDirs = fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('floodlight-edge-')).length;
  await assert.rejects(NginxEdge.start({ origins: [origin!.url], port }), new RegExp(`port ${port} on 127\\.0\\.0\\.1 is taken`));
  assert.equal(fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith('floodlight-edge-')).length, tempDirs, 'no temp directory left');
  assert.equal((await fetch(`${first.url}${room!.masterPath}`)).status, 200, 'the first edge still serves');
});

test('npm run edge -- --cluster: the origins come from /api/cluster', async () => {
  const token = await origin!.tokens.issue({ room: '*', role: 'admin' }, 60);
  // A single node answers as the only node of its cluster, with the hls role.
  assert.deepEqual(await clusterOrigins(origin!.url, token), [origin!.url]);
  await assert.rejects(clusterOrigins(origin!.url, 'not-a-token'), /refused the admin token/);
});

test('hls.js in Chromium plays the watch page through the edge', { timeout: 120_000 }, async () => {
  const edge = await startEdge([origin!.url]);
  const chromium = await launchChromium();
  try {
    const page = await chromium.context.newPage();
    await page.goto(`${edge.url}/watch?room=${ROOM}&transport=hls`);
    await page.waitForSelector('video[data-state="playing"]', { timeout: 45_000 });
    const currentTime = (): Promise<number> => page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
    const start = await currentTime();
    await waitFor(async () => (await currentTime()) >= start + 3, {
      description: 'the video to play 3 s through the edge',
      timeoutMs: 30_000,
      progress: () => `started at ${start.toFixed(2)}`,
    });
    const decoded = await page.evaluate(() => document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0);
    assert.ok(decoded > 30, `frames decoded: ${decoded}`);
  } finally {
    await chromium.close();
  }
  const media = edge.accessLog().filter((e) => objectKind(e.key) === 'part' || objectKind(e.key) === 'segment');
  assert.ok(media.length > 5, `the player loaded its media through the edge (${media.length} parts/segments in the access log)`);
  assert.ok(
    media.every((e) => e.status === 200),
    `media answers: ${JSON.stringify(media.filter((e) => e.status !== 200).slice(0, 3))}`,
  );
});

test('two origins, one stopped: parts keep coming through the edge; with none, the cache still answers', { timeout: 120_000 }, async () => {
  const edge = await startEdge([second!.url, origin!.url]);
  const secondAddress = new URL(second!.url).host;
  const clients = Array.from(
    { length: 20 },
    (_, i) => new LlHlsClient({ masterUrl: `${edge.url}${room!.masterPath}`, id: `failover-${i}`, variant: 'lowest' }),
  );
  try {
    for (const client of clients) client.start();
    await waitFor(() => clients.every((c) => c.stats().parts >= 10), {
      description: 'clients playing through two origins',
      timeoutMs: 30_000,
      progress: () => clientsSummary(clients),
    });
    assert.ok(
      edge.accessLog().some((e) => e.upstreams.includes(secondAddress)),
      'the edge used the second origin while it was up',
    );

    const stoppedAt = Date.now() / 1000;
    await second!.close();
    const base = clients.map((c) => c.stats().parts);
    await waitFor(() => clients.every((c, i) => c.stats().parts >= base[i]! + 15), {
      description: 'every client to load 15 more parts after an origin stopped',
      timeoutMs: 30_000,
      progress: () => clientsSummary(clients),
    });
    const afterStop = edge.accessLog().filter((e) => e.at > stoppedAt + 0.05);
    const failedMedia = afterStop.filter((e) => e.status >= 500 && ['part', 'segment', 'init'].includes(objectKind(e.key)));
    assert.equal(failedMedia.length, 0, `media requests failed after the stop: ${JSON.stringify(failedMedia.slice(0, 3))}`);
    const movedOn = afterStop.filter((e) => e.upstreams.length > 1 && e.upstreams[0] === secondAddress);
    console.log(`# after the stop: ${afterStop.length} requests, ${movedOn.length} moved on from the stopped origin`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }

  // Every origin down: what the edge has keeps being served.
  const segment = edge.accessLog().find((e) => e.status === 200 && objectKind(e.key) === 'part');
  assert.ok(segment, 'a part was cached');
  const playlist = room!.mediaPaths.find((p) => p.includes('240')) ?? room!.mediaPaths[0]!;
  await fetch(`${edge.url}${playlist}`).then((r) => r.arrayBuffer());
  await room?.publisher.close();
  room = undefined;
  await origin!.close();
  const cachedPart = await fetch(`${edge.url}${segment.uri}`);
  assert.equal(cachedPart.status, 200, 'a cached part with every origin down');
  assert.equal(cachedPart.headers.get('x-edge-cache'), 'HIT');
  // The live playlist's 1 s max-age has passed: served stale (proxy_cache_use_stale error).
  await waitFor(
    async () => {
      const response = await fetch(`${edge.url}${playlist}`);
      await response.arrayBuffer();
      return response.status === 200 && response.headers.get('x-edge-cache') === 'STALE';
    },
    { description: 'a stale playlist from the edge with every origin down', timeoutMs: 10_000 },
  );
});
