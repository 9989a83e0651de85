/**
 * End to end in real Chromium: an HLS watch page (/watch?transport=hls,
 * hls.js) opened the moment the real broadcast page goes live plays — frames
 * are decoded and currentTime advances — and it got there on the fast path:
 *   - every master playlist answer was 200: while the renditions start the
 *     server holds the request until the master exists, instead of answering
 *     503/404 and leaving the player to a retry timer;
 *   - the first media playlist it received already held a complete segment
 *     (#EXTINF): hls.js counts a playlist of parts of an unfinished segment as
 *     empty and reloads it with backoff, so the server holds that request too;
 *   - logged: whether the page asked for the master before the server had one
 *     (it attaches as soon as the stream exists, not once the master does).
 * No timing assertions: start-up times are measured by scripts/bench/hls-startup.ts.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page, Response } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer | undefined;
let chromium: LaunchedChromium | undefined;

after(async () => {
  await chromium?.close();
  await server?.close();
});

interface PlaylistAnswer {
  kind: 'master' | 'media';
  at: number;
  status: number;
  /** Media playlists: whether the body lists a complete segment. */
  hasSegment: boolean;
}

/** Records the page's master / media playlist answers (node clock). */
function recordPlaylists(page: Page, answers: PlaylistAnswer[]): void {
  page.on('response', (response: Response) => {
    const path = new URL(response.url()).pathname;
    const kind = /^\/hls\/[^/]+\/index\.m3u8$/.test(path) ? 'master' : /^\/hls\/[^/]+\/[^/]+\/index\.m3u8$/.test(path) ? 'media' : null;
    if (!kind) return;
    const at = Date.now();
    void response
      .text()
      .catch(() => '')
      .then((body) => answers.push({ kind, at, status: response.status(), hasSegment: /^#EXTINF:/m.test(body) }));
  });
}

async function playback(page: Page): Promise<{ currentTime: number; frames: number; transport: string | undefined }> {
  return page.evaluate(() => {
    const video = document.querySelector('video');
    if (!video) throw new Error('the watch page has no <video>');
    return { currentTime: video.currentTime, frames: video.getVideoPlaybackQuality().totalVideoFrames, transport: video.dataset['transport'] };
  });
}

test('an HLS watch page opened at go-live plays, on the fast path', { timeout: 120_000 }, async () => {
  server = await startTestServer();
  chromium = await launchChromium();
  const room = 'hls-startup-e2e';
  const hls = server.hls;
  assert.ok(hls?.enabled, 'the test server has HLS');

  // The moment the server can serve a master (node clock), polled closely from before going live.
  let masterAvailableAt: number | null = null;
  const availability = setInterval(() => {
    if (masterAvailableAt === null && hls.status(room)?.available) masterAvailableAt = Date.now();
  }, 10);

  try {
    const token = await server.tokens.issue({ room, role: 'publisher' }, 600);
    const broadcast = await chromium.context.newPage();
    const watch = await chromium.context.newPage();
    const answers: PlaylistAnswer[] = [];
    let firstMasterRequestAt: number | null = null;
    watch.on('request', (request) => {
      if (/^\/hls\/[^/]+\/index\.m3u8$/.test(new URL(request.url()).pathname)) firstMasterRequestAt ??= Date.now();
    });
    recordPlaylists(watch, answers);

    await broadcast.goto(`${server.url}/broadcast?room=${room}&token=${token}&autostart=1`);
    await broadcast.waitForSelector('main[data-state="live"]', { timeout: 20_000 });
    const liveAt = Date.now();
    await watch.goto(`${server.url}/watch?room=${room}&transport=hls`);

    // Plays: frames decoded and the playhead moving (not a seek that moves currentTime alone).
    const first = await waitFor(async () => ((await playback(watch)).frames > 0 ? playback(watch) : null), {
      description: 'the HLS watch page to decode its first frames',
      timeoutMs: 30_000,
      log: (line) => console.log(`# ${line}`),
    });
    let last = first;
    await waitFor(
      async () => {
        last = await playback(watch);
        return last.currentTime - first.currentTime >= 2 && last.frames - first.frames >= 30;
      },
      {
        description: 'the HLS watch page to play 2 s and decode 30 more frames',
        timeoutMs: 30_000,
        progress: () => `currentTime ${last.currentTime.toFixed(2)}, frames ${last.frames}`,
        log: (line) => console.log(`# ${line}`),
      },
    );
    assert.equal(last.transport, 'hls');

    const masters = answers.filter((a) => a.kind === 'master');
    const media = answers.filter((a) => a.kind === 'media').sort((a, b) => a.at - b.at);
    console.log(
      `# went live at +0 ms; master available on the server at +${masterAvailableAt === null ? '?' : masterAvailableAt - liveAt} ms; ` +
        `first master request at +${firstMasterRequestAt === null ? '?' : firstMasterRequestAt - liveAt} ms; ` +
        `master answers ${masters.map((a) => a.status).join(',')}; first media playlist ${media[0]?.status ?? '?'} ` +
        `(${media[0]?.hasSegment ? 'with' : 'WITHOUT'} a complete segment)`,
    );
    assert.ok(masters.length > 0, 'the page loaded the master playlist');
    assert.deepEqual(
      masters.map((a) => a.status),
      masters.map(() => 200),
      'the master was never refused: the server held it while the renditions started',
    );
    assert.ok(media[0]?.status === 200 && media[0].hasSegment, 'the first media playlist already held a complete segment (no empty-playlist backoff)');
    // Logged, not asserted: whether the page opens before or after the master exists depends on timing.
    if (firstMasterRequestAt !== null && masterAvailableAt !== null && firstMasterRequestAt <= masterAvailableAt)
      console.log('# the page asked for the master before it existed: the server held the request (no retry timer)');
  } finally {
    clearInterval(availability);
  }
});
