/**
 * End to end in real Chromium: the broadcast page publishes H.264, and the
 * room's top HLS rendition is the browser's own bitstream, copied. A browser
 * sends H.264 keyframes only when asked, so this checks the part an ffmpeg
 * test publisher (fixed GOP, deaf to keyframe requests) cannot: the recorder
 * asking once a second keeps the copied segments ~1 s long and
 * EXT-X-TARGETDURATION at 1.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'h264-live';
let server: FloodlightServer;
let chromium: LaunchedChromium;

before(async () => {
  server = await startTestServer({ HLS_H264_PASSTHROUGH: 'true' });
  chromium = await launchChromium();
});

after(async () => {
  // Each is undefined when before() failed before making it.
  await (chromium as LaunchedChromium | undefined)?.close();
  await (server as FloodlightServer | undefined)?.close();
});

test('an H.264 broadcast from the page: top rendition copied, ~1 s segments', { timeout: 120_000 }, async () => {
  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  const page = await chromium.context.newPage();
  page.on('pageerror', (error) => console.log(`[broadcast page error] ${error.message}`));
  await page.goto(`${server.url}/broadcast?room=${ROOM}&token=${token}`);
  // Go live only once the camera preview runs (before that there is nothing to send).
  await page.waitForFunction(() => (document.querySelector<HTMLVideoElement>('#preview')?.videoWidth ?? 0) > 0, undefined, { timeout: 20_000 });
  await page.selectOption('#codec-select', 'h264');
  await page.click('#go-live');
  console.log('# waiting for the broadcast page to go live with H.264');
  await page.waitForSelector('main[data-state="live"]', { timeout: 30_000 });

  console.log('# waiting for six complete 720p segments');
  let state = 'no playlist yet';
  const playlist = await waitFor(
    async () => {
      const response = await fetch(`${server.url}/hls/${ROOM}/720p/index.m3u8`);
      state = `720p playlist ${response.status}, ffmpeg pid ${server.hls?.ffmpegPid(ROOM) ?? 'none'}`;
      if (response.status !== 200) return undefined;
      const text = await response.text();
      const segments = text.split('\n').filter((l) => l.startsWith('#EXTINF:')).length;
      state += `, ${segments} segments, ${text.split('\n').filter((l) => l.startsWith('#EXT-X-PART:')).length} parts`;
      return segments >= 6 ? text : undefined;
    },
    { description: 'six 720p segments', timeoutMs: 40_000, progress: () => state },
  );
  const durations = playlist
    .split('\n')
    .filter((l) => l.startsWith('#EXTINF:'))
    .map((l) => Number(l.slice('#EXTINF:'.length).split(',')[0]));
  // MEDIA-SEQUENCE 1: a first segment stretched by start-up key frames was left out (renditionPlaylist.ts).
  console.log(`# 720p from MSN ${/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1]}, EXTINF ${durations.map((d) => d.toFixed(3)).join(' ')}`);

  const pid = server.hls!.ffmpegPid(ROOM);
  assert.ok(pid, 'ffmpeg runs');
  assert.ok(fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes('-c:v copy'), 'the video is copied, not encoded');
  const master = await (await fetch(`${server.url}/hls/${ROOM}/index.m3u8`)).text();
  console.log(
    `# master: ${master
      .split('\n')
      .filter((l) => l.startsWith('#EXT-X-STREAM-INF'))
      .join(' | ')}`,
  );
  // Chromium's H.264 is Constrained Baseline (avc1.42…); our x264 renditions are Main (avc1.4d…).
  assert.match(master, /CODECS="avc1\.42[0-9a-f]{4},mp4a\.40\.2"[^\n]*\n720p\/index\.m3u8/);
  assert.match(master, /CODECS="avc1\.4d[0-9a-f]{4},mp4a\.40\.2"[^\n]*\n480p\/index\.m3u8/);

  assert.match(playlist, /#EXT-X-TARGETDURATION:1\n/, 'target duration stays 1 s');
  // The first segment may start mid-way; the rest follow the per-second keyframe requests.
  for (const duration of durations.slice(1)) assert.ok(duration > 0.6 && duration < 1.45, `segment of ${duration} s`);
});
