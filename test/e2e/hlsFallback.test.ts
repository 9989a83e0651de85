/**
 * End to end in real Chromium, LL-HLS on the watch page:
 *   (a) /watch?transport=hls plays the room's LL-HLS with hls.js: frames
 *       render, currentTime advances ≥ 5 s, decoded frames grow;
 *   (b) with MAX_WEBRTC_VIEWERS=1 the first watcher plays over WebRTC and the
 *       second one, refused with ROOM_FULL, ends up on HLS by itself.
 * The broadcaster is the real broadcast page with Chromium's fake camera.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

const servers: FloodlightServer[] = [];
const browsers: LaunchedChromium[] = [];
const pages: Page[] = [];

after(async () => {
  for (const page of pages) await page.close().catch(() => undefined);
  for (const browser of browsers) await browser.close();
  for (const server of servers) await server.close();
});

async function setUp(env: Record<string, string> = {}): Promise<{ server: FloodlightServer; chromium: LaunchedChromium }> {
  const server = await startTestServer(env);
  servers.push(server);
  const chromium = await launchChromium();
  browsers.push(chromium);
  return { server, chromium };
}

async function openPage(chromium: LaunchedChromium, label: string, url: string): Promise<Page> {
  const page = await chromium.context.newPage();
  pages.push(page);
  page.on('pageerror', (error) => console.log(`[${label} page error] ${error.message}`));
  page.on('console', (message) => {
    const text = message.text();
    // CSP violations and our own fallback/recovery messages are worth seeing.
    if (message.type() === 'error' || message.type() === 'warning' || text.includes('[floodlight]')) console.log(`[${label} ${message.type()}] ${text}`);
  });
  await page.goto(url);
  return page;
}

async function goLive(server: FloodlightServer, chromium: LaunchedChromium, room: string): Promise<Page> {
  const token = await server.tokens.issue({ room, role: 'publisher' }, 600);
  const broadcast = await openPage(chromium, 'broadcast', `${server.url}/broadcast?room=${room}&token=${token}&autostart=1`);
  console.log(`# waiting for the broadcast page to go live in room ${room}`);
  await broadcast.waitForSelector('main[data-state="live"]', { timeout: 20_000 });
  return broadcast;
}

interface MediaSample {
  currentTime: number;
  decodedFrames: number;
  droppedFrames: number;
  width: number;
  height: number;
  latency: number | null;
  transport: string | undefined;
  state: string | undefined;
  badge: string | null;
}

async function sample(page: Page): Promise<MediaSample> {
  return page.evaluate(() => {
    const video = document.querySelector('video');
    if (!video) throw new Error('the watch page has no <video>');
    const quality = video.getVideoPlaybackQuality();
    const handle = (window as unknown as { floodlight?: { latency?: number | null } }).floodlight;
    return {
      currentTime: video.currentTime,
      decodedFrames: quality.totalVideoFrames,
      droppedFrames: quality.droppedVideoFrames,
      width: video.videoWidth,
      height: video.videoHeight,
      latency: handle?.latency ?? null,
      transport: video.dataset['transport'],
      state: video.dataset['state'],
      badge: document.querySelector('#transport-badge')?.textContent ?? null,
    };
  });
}

/**
 * Waits (at most `seconds`: a loaded machine may stall briefly) until playback
 * advanced `minPlayed` seconds with at least 15 frames decoded per second of it
 * (a seek to the live edge moves currentTime without decoding), then checks
 * the page still says it plays HLS.
 */
async function assertHlsAdvances(page: Page, label: string, seconds: number, minPlayed: number): Promise<void> {
  const first = await sample(page);
  const startedAt = performance.now();
  let last = first;
  const describe = (s: MediaSample): string => {
    const latency = s.latency === null ? 'n/a' : `${s.latency.toFixed(2)} s`;
    return `currentTime ${s.currentTime.toFixed(2)} frames ${s.decodedFrames} latency ${latency} badge "${s.badge}"`;
  };
  await waitFor(
    async () => {
      last = await sample(page);
      return (
        last.currentTime - first.currentTime >= minPlayed && last.decodedFrames - first.decodedFrames >= minPlayed * 15 && last.width > 0 && last.height > 0
      );
    },
    {
      description: `${label}: ${minPlayed} s played, ${minPlayed * 15} frames decoded`,
      timeoutMs: seconds * 1000,
      intervalMs: 500,
      progress: () => describe(last),
      log: (line) => console.log(`# ${line}`),
      progressEveryMs: 1000,
    },
  );
  const played = last.currentTime - first.currentTime;
  const decoded = last.decodedFrames - first.decodedFrames;
  console.log(
    `# ${label}: played ${played.toFixed(2)} s, decoded ${decoded} frames (${last.droppedFrames} dropped in all) in ${((performance.now() - startedAt) / 1000).toFixed(1)} s; ${describe(last)}`,
  );
  assert.equal(last.transport, 'hls');
  assert.equal(last.state, 'playing');
  assert.match(last.badge ?? '', /^HLS · ~/);
}

test('(a) /watch?transport=hls plays the room over LL-HLS', { timeout: 120_000 }, async () => {
  const { server, chromium } = await setUp();
  const broadcast = await goLive(server, chromium, 'hls-e2e');

  const watch = await openPage(chromium, 'hls watch', `${server.url}/watch?room=hls-e2e&transport=hls`);
  console.log('# waiting for the HLS watch page to play (the stream needs ~2 s to start)');
  const started = Date.now();
  await watch.waitForSelector('video[data-state="playing"][data-transport="hls"]', { timeout: 40_000 });
  console.log(`# HLS watch page playing after ${Date.now() - started} ms`);

  const handle = await watch.evaluate(() => {
    const floodlight = (window as unknown as { floodlight?: { transport?: string; hls?: { config: { lowLatencyMode: boolean } } | null } }).floodlight;
    return { transport: floodlight?.transport, lowLatency: floodlight?.hls?.config.lowLatencyMode };
  });
  assert.deepEqual(handle, { transport: 'hls', lowLatency: true });

  await assertHlsAdvances(watch, 'hls watcher', 20, 5);

  // The broadcast ending takes the HLS watcher offline too.
  await broadcast.click('#stop');
  await broadcast.waitForSelector('main[data-state="idle"]', { timeout: 10_000 });
  console.log('# broadcast stopped; waiting for the HLS watcher to go offline');
  await watch.waitForSelector('video[data-state="offline"][data-transport="hls"]', { timeout: 15_000 });
});

test('(b) a full room sends the second watcher to HLS by itself', { timeout: 120_000 }, async () => {
  const { server, chromium } = await setUp({ MAX_WEBRTC_VIEWERS: '1' });
  await goLive(server, chromium, 'full-room');

  const first = await openPage(chromium, 'watcher 1', `${server.url}/watch?room=full-room`);
  console.log('# waiting for the first watcher to play over WebRTC');
  await first.waitForSelector('video[data-state="playing"][data-transport="webrtc"]', { timeout: 20_000 });
  assert.match((await sample(first)).badge ?? '', /^WebRTC · sub-second$/);

  const second = await openPage(chromium, 'watcher 2', `${server.url}/watch?room=full-room`);
  console.log('# waiting for the second watcher (room full for WebRTC) to fall back to HLS and play');
  const started = Date.now();
  await second.waitForSelector('video[data-state="playing"][data-transport="hls"]', { timeout: 40_000 });
  console.log(`# second watcher playing over HLS after ${Date.now() - started} ms`);
  const status = await second.textContent('#status');
  assert.match(status ?? '', /HLS/);

  await assertHlsAdvances(second, 'fallback watcher', 20, 4);

  // The first watcher kept its WebRTC seat the whole time.
  const firstNow = await sample(first);
  assert.equal(firstNow.transport, 'webrtc');
  assert.equal(firstNow.state, 'playing');
});
