/**
 * Content steering end to end in real Chromium (HLS_PATHWAYS, issue 12):
 * one origin, two nginx edges in front of it as pathways edge-a and edge-b.
 * The watch page (from the origin) gets a steered master, loads the full
 * hls.js build, and plays from edge-a (the first pathway); when edge-a stops,
 * hls.js moves to edge-b by itself and the video keeps playing.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { objectKind } from '../../scripts/edge/accessLog.js';
import { NginxEdge, freePort } from '../../scripts/edge/nginxEdge.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { startTestServer } from '../helpers/testServer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'steered';
let server: FloodlightServer | undefined;
let publisher: HeadlessPublisher | undefined;
let chromium: LaunchedChromium | undefined;
const edges: NginxEdge[] = [];

after(async () => {
  await chromium?.close();
  for (const edge of edges) await edge.close();
  await publisher?.close();
  await server?.close();
});

const mediaRequests = (edge: NginxEdge): number => edge.accessLog().filter((e) => e.status === 200 && ['part', 'segment'].includes(objectKind(e.key))).length;

test('hls.js plays a steered stream from the first pathway and moves to the other when it dies', { timeout: 180_000 }, async () => {
  const [portA, portB] = [await freePort(), await freePort()];
  server = await startTestServer({ HLS_PATHWAYS: `edge-a=http://127.0.0.1:${portA},edge-b=http://127.0.0.1:${portB}`, HLS_RENDITIONS: '720,240' });
  const edgeA = await NginxEdge.start({ origins: [server.url], port: portA });
  edges.push(edgeA);
  const edgeB = await NginxEdge.start({ origins: [server.url], port: portB });
  edges.push(edgeB);

  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  publisher = new HeadlessPublisher({
    url: server.url,
    room: ROOM,
    token,
    video: { codec: 'H264', width: 1280, height: 720, bitrateKbps: 1200, keyframeIntervalSec: 1 },
  });
  await publisher.publish();
  const master = await waitFor(
    async () => {
      const response = await fetch(`${server!.url}/hls/${ROOM}/index.m3u8`);
      return response.status === 200 ? response.text() : undefined;
    },
    { description: 'the steered master', timeoutMs: 30_000 },
  );
  assert.match(master, /#EXT-X-CONTENT-STEERING:SERVER-URI="steering.json",PATHWAY-ID="edge-a"/);
  assert.match(master, new RegExp(`PATHWAY-ID="edge-b"\\nhttp://127\\.0\\.0\\.1:${portB}/hls/${ROOM}/`));
  const manifest = (await (await fetch(`${server.url}/hls/${ROOM}/steering.json`)).json()) as Record<string, unknown>;
  assert.deepEqual(manifest, { VERSION: 1, TTL: 5, 'PATHWAY-PRIORITY': ['edge-a', 'edge-b'] });

  chromium = await launchChromium();
  const page = await chromium.context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') console.log(`[watch ${message.type()}] ${message.text()}`);
  });
  await page.goto(`${server.url}/watch?room=${ROOM}&transport=hls`);
  await page.waitForSelector('video[data-state="playing"]', { timeout: 45_000 });
  const currentTime = (): Promise<number> => page.evaluate(() => document.querySelector('video')?.currentTime ?? 0);
  const start = await currentTime();
  await waitFor(async () => (await currentTime()) >= start + 3, { description: 'the video to play 3 s from edge-a', timeoutMs: 30_000 });
  assert.ok(mediaRequests(edgeA) > 5, `media came through edge-a (${mediaRequests(edgeA)} parts/segments)`);
  assert.equal(mediaRequests(edgeB), 0, 'nothing from edge-b while edge-a is up');

  await edgeA.close();
  const stoppedAt = await currentTime();
  console.log(`# edge-a stopped at currentTime ${stoppedAt.toFixed(2)}`);
  await waitFor(async () => (await currentTime()) >= stoppedAt + 6 && mediaRequests(edgeB) > 5, {
    description: 'the video to play 6 s more, from edge-b',
    timeoutMs: 60_000,
    progress: () => `edge-b media requests ${mediaRequests(edgeB)}`,
  });
  const decoded = await page.evaluate(() => document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0);
  assert.ok(decoded > 200, `frames decoded: ${decoded}`);
});
