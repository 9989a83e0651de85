/**
 * End to end in real Chromium: the broadcast page goes live with the fake
 * camera and microphone; two watch pages decode video (framesDecoded grows)
 * and receive audio over WebRTC. Then the broadcaster stops and the watchers
 * go offline.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
let chromium: LaunchedChromium;

before(async () => {
  server = await startTestServer();
  chromium = await launchChromium();
});

after(async () => {
  // Each is undefined when before() failed before making it.
  await (chromium as LaunchedChromium | undefined)?.close();
  await (server as FloodlightServer | undefined)?.close();
});

interface WatchStats {
  framesDecoded: number;
  audioBytesReceived: number;
  audioPacketsReceived: number;
}

async function watchStats(page: Page): Promise<WatchStats> {
  return page.evaluate(async () => {
    const handle = (window as unknown as { floodlight?: { viewer?: { getStats(): Promise<WatchStats> } } }).floodlight;
    if (!handle?.viewer) throw new Error('window.floodlight.viewer is missing');
    const stats = await handle.viewer.getStats();
    return { framesDecoded: stats.framesDecoded, audioBytesReceived: stats.audioBytesReceived, audioPacketsReceived: stats.audioPacketsReceived };
  });
}

test('broadcast page → two WebRTC watch pages with decoded video and audio', { timeout: 90_000 }, async () => {
  const token = await server.tokens.issue({ room: 'e2e', role: 'publisher' }, 600);
  const broadcast = await chromium.context.newPage();
  broadcast.on('pageerror', (error) => console.log(`[broadcast page error] ${error.message}`));
  await broadcast.goto(`${server.url}/broadcast?room=e2e&token=${token}&autostart=1`);
  console.log('# waiting for the broadcast page to go live');
  await broadcast.waitForSelector('main[data-state="live"]', { timeout: 20_000 });

  const watchers = await Promise.all(
    [0, 1].map(async (i) => {
      const page = await chromium.context.newPage();
      page.on('pageerror', (error) => console.log(`[watch ${i} page error] ${error.message}`));
      await page.goto(`${server.url}/watch?room=e2e`);
      return page;
    }),
  );
  console.log('# waiting for both watch pages to play');
  for (const page of watchers) {
    await page.waitForSelector('video[data-state="playing"][data-transport="webrtc"]', { timeout: 20_000 });
  }

  // Media keeps flowing: each watcher decodes 30 more frames and receives 3 kB more audio.
  const first = await Promise.all(watchers.map(watchStats));
  const startedAt = performance.now();
  let latest = first;
  const gained = (i: number) => ({
    decoded: latest[i]!.framesDecoded - first[i]!.framesDecoded,
    audioBytes: latest[i]!.audioBytesReceived - first[i]!.audioBytesReceived,
  });
  await waitFor(
    async () => {
      latest = await Promise.all(watchers.map(watchStats));
      return watchers.every((_, i) => gained(i).decoded >= 30 && gained(i).audioBytes > 3000);
    },
    {
      description: 'both watchers decoding 30 more frames and receiving 3 kB more audio',
      timeoutMs: 20_000,
      intervalMs: 250,
      progress: () => watchers.map((_, i) => `watcher ${i}: ${JSON.stringify(gained(i))}`).join(', '),
    },
  );
  const seconds = ((performance.now() - startedAt) / 1000).toFixed(1);
  for (let i = 0; i < watchers.length; i++) {
    console.log(`# watcher ${i}: ${gained(i).decoded} frames decoded and ${gained(i).audioBytes} audio bytes in ${seconds} s`);
    const size = await watchers[i]!.evaluate(() => {
      const video = document.querySelector('video')!;
      return { width: video.videoWidth, height: video.videoHeight };
    });
    assert.ok(size.width > 0 && size.height > 0, `watcher ${i} video has no size`);
  }

  // The room API sees one live room with two viewers.
  const rooms = (await (await fetch(`${server.url}/api/rooms`)).json()) as { rooms: Array<{ id: string; live: boolean; viewers: number }> };
  const room = rooms.rooms.find((r) => r.id === 'e2e');
  assert.ok(room?.live);
  assert.equal(room.viewers, 2);

  // The broadcaster sees the audience.
  await broadcast.waitForFunction(() => /2 viewers/.test(document.querySelector('#viewer-count')?.textContent ?? ''), undefined, { timeout: 5000 });

  // Stop: watchers go offline.
  await broadcast.click('#stop');
  await broadcast.waitForSelector('main[data-state="idle"]', { timeout: 10_000 });
  for (const page of watchers) await page.waitForSelector('video[data-state="offline"]', { timeout: 10_000 });
});
