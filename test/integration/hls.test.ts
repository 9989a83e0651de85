/**
 * HLS from a live WebRTC publisher, end to end on the server: recorder →
 * ffmpeg → LL-HLS packager → /hls routes. Real mediasoup worker, real ffmpeg,
 * ffprobe to check what comes out.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const ROOM = 'hls-live';
let server: FloodlightServer;
let publisher: HeadlessPublisher | undefined;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-hls-test-'));

before(async () => {
  server = await startTestServer();
});

after(async () => {
  await publisher?.close();
  // undefined when before() failed
  await (server as FloodlightServer | undefined)?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function get(pathname: string): Promise<{ status: number; text: string; headers: Headers; ms: number }> {
  const started = Date.now();
  const response = await fetch(`${server.url}${pathname}`);
  const text = await response.text();
  return { status: response.status, text, headers: response.headers, ms: Date.now() - started };
}

async function startPublisher(): Promise<HeadlessPublisher> {
  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  const pub = new HeadlessPublisher({ url: server.url, room: ROOM, token, video: { width: 1280, height: 720, bitrateKbps: 1200, keyframeIntervalSec: 1 } });
  await pub.publish();
  return pub;
}

interface MediaPlaylist {
  text: string;
  mediaSequence: number;
  segments: string[];
  parts: Array<{ uri: string; independent: boolean }>;
  preloadHint: string | undefined;
}

function parseMediaPlaylist(text: string): MediaPlaylist {
  const lines = text.split('\n');
  const segments = lines.filter((l) => l && !l.startsWith('#'));
  const parts = lines
    .filter((l) => l.startsWith('#EXT-X-PART:'))
    .map((l) => ({ uri: /URI="([^"]+)"/.exec(l)![1]!, independent: l.includes('INDEPENDENT=YES') }));
  return {
    text,
    mediaSequence: Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN),
    segments,
    parts,
    preloadHint: /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1],
  };
}

async function mediaPlaylist(rendition: string): Promise<MediaPlaylist> {
  const response = await get(`/hls/${ROOM}/${rendition}/index.m3u8`);
  assert.equal(response.status, 200, `${rendition} playlist: ${response.status} ${response.text}`);
  return parseMediaPlaylist(response.text);
}

async function probe(rendition: string, segment: string): Promise<{ codecs: string[]; duration: number }> {
  const playlist = await mediaPlaylist(rendition);
  const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist.text)![1]!;
  const init = Buffer.from(await (await fetch(`${server.url}/hls/${ROOM}/${rendition}/${map}`)).arrayBuffer());
  const media = Buffer.from(await (await fetch(`${server.url}/hls/${ROOM}/${rendition}/${segment}`)).arrayBuffer());
  const file = path.join(scratch, `${rendition}-${segment}.mp4`);
  fs.writeFileSync(file, Buffer.concat([init, media]));
  const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_name', '-of', 'json', file]);
  const codecs = (JSON.parse(stdout) as { streams: Array<{ codec_name: string }> }).streams.map((s) => s.codec_name).sort();
  // A segment's timestamps start where the previous one ended: measure its
  // own span from the video packets (first pts to last pts + duration).
  const packets = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time,duration_time', '-of', 'csv=p=0', file]);
  const rows = packets.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(',').map(Number) as [number, number]);
  const first = rows[0]![0];
  const last = rows[rows.length - 1]!;
  return { codecs, duration: last[0] + last[1] - first };
}

test('a live publisher gets master and media playlists within 3 s', { timeout: 60_000 }, async () => {
  publisher = await startPublisher();
  const liveAt = Date.now();
  const master = await waitFor(
    async () => {
      const response = await get(`/hls/${ROOM}/index.m3u8`);
      return response.status === 200 ? response : undefined;
    },
    { description: 'the master playlist', timeoutMs: 15_000, intervalMs: 100 },
  );
  const elapsed = Date.now() - liveAt;
  console.log(`# master playlist ${elapsed} ms after going live`);
  // The figure itself is a benchmark (scripts/bench/hls-latency.ts). Here the
  // 3 s bound is enforced when the machine isn't overloaded by other work, so
  // a shared, noisy machine can't make this test flaky.
  const load = os.loadavg()[0]!;
  if (load < os.availableParallelism()) assert.ok(elapsed <= 3000, `master playlist took ${elapsed} ms (load ${load.toFixed(1)})`);
  else console.log(`# load ${load.toFixed(1)} on ${os.availableParallelism()} cores: 3 s bound not enforced this run`);
  assert.equal(master.headers.get('content-type'), 'application/vnd.apple.mpegurl');
  assert.equal(master.headers.get('access-control-allow-origin'), '*');
  for (const rendition of ['720p', '480p', '240p']) {
    assert.match(master.text, new RegExp(`${rendition}/index\\.m3u8`));
  }
  assert.match(master.text, /CODECS="avc1\.[0-9a-fA-F]{6},mp4a\.40\.2"/);
  assert.match(master.text, /RESOLUTION=1280x720/);
});

test('every rendition has ~1 s H.264/AAC segments and LL-HLS tags', { timeout: 60_000 }, async () => {
  for (const rendition of ['720p', '480p', '240p']) {
    const playlist = await waitFor(
      async () => {
        const p = await mediaPlaylist(rendition);
        return p.segments.length >= 2 ? p : undefined;
      },
      { description: `two complete ${rendition} segments`, timeoutMs: 15_000 },
    );
    assert.match(playlist.text, /#EXT-X-PART-INF:PART-TARGET=0\.2\d*/);
    assert.match(playlist.text, /#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=/);
    assert.match(playlist.text, /#EXT-X-INDEPENDENT-SEGMENTS/);
    assert.match(playlist.text, /#EXT-X-PROGRAM-DATE-TIME:/);
    assert.ok(playlist.parts.length > 0, 'parts listed');
    assert.ok(playlist.preloadHint, 'preload hint');
    const durations = [...playlist.text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
    for (const d of durations) assert.ok(d > 0.9 && d < 1.1, `${rendition} EXTINF ${d}`);
    const segment = playlist.segments[playlist.segments.length - 1]!;
    const { codecs, duration } = await probe(rendition, segment);
    console.log(`# ${rendition} ${segment}: ${codecs.join('+')}, video ${duration.toFixed(3)} s, EXTINF ${durations.join(' ')}`);
    assert.deepEqual(codecs, ['aac', 'h264']);
    assert.ok(duration > 0.85 && duration < 1.2, `${rendition} segment lasts ${duration} s`);
  }
  const segmentResponse = await get(`/hls/${ROOM}/240p/${(await mediaPlaylist('240p')).segments.at(-1)}`);
  assert.equal(segmentResponse.headers.get('cache-control'), 'public, max-age=31536000, immutable');
});

test('blocking reload for the next part returns once it exists, not before', { timeout: 30_000 }, async () => {
  const partsIn = (p: MediaPlaylist, msn: number): number => {
    // Parts listed after the last complete segment belong to the open one (msn).
    if (p.mediaSequence + p.segments.length !== msn) return Infinity; // msn completed
    return (
      p.text
        .split(/#EXTINF[^\n]*\n[^\n]*\n/)
        .at(-1)!
        .match(/#EXT-X-PART:/g)?.length ?? 0
    );
  };
  const playlist = await mediaPlaylist('480p');
  const msn = playlist.mediaSequence + playlist.segments.length; // the segment in progress
  const wanted = partsIn(playlist, msn); // index of the next, not yet published, part
  assert.ok(Number.isFinite(wanted), 'the playlist has an open segment');
  const response = await get(`/hls/${ROOM}/480p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${wanted}`);
  assert.equal(response.status, 200);
  const after = parseMediaPlaylist(response.text);
  console.log(`# blocking reload for msn ${msn} part ${wanted} held ${response.ms} ms`);
  // Not before: the part was absent when asked for; when: the answer has it.
  assert.ok(partsIn(after, msn) > wanted, `the answer lists part ${wanted} of segment ${msn}`);
  // Far in the future: refused.
  assert.equal((await get(`/hls/${ROOM}/480p/index.m3u8?_HLS_msn=${msn + 10}`)).status, 400);
});

test(
  'media objects: a strong ETag from the name (304 on revalidation), 410 once behind the window, 404 for names never served',
  { timeout: 60_000 },
  async () => {
    const first = (await mediaPlaylist('240p')).segments.at(-1)!;
    const response = await get(`/hls/${ROOM}/240p/${first}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('etag'), `"${first}"`, 'the same validator on every origin that serves this object');
    assert.equal(response.headers.get('last-modified'), null, 'no per-origin mtime');
    const revalidated = await fetch(`${server.url}/hls/${ROOM}/240p/${first}`, {
      // fetch() adds `Cache-Control: no-cache` to conditional requests unless one is given; a CDN revalidating sends max-age=0.
      headers: { 'If-None-Match': `"${first}"`, 'Cache-Control': 'max-age=0' },
    });
    assert.equal(revalidated.status, 304);
    await revalidated.arrayBuffer();

    const gone = await waitFor(
      async () => {
        const r = await get(`/hls/${ROOM}/240p/${first}`);
        return r.status === 200 ? undefined : r;
      },
      { description: `${first} to leave the window and be deleted`, timeoutMs: 40_000, intervalMs: 500 },
    );
    assert.equal(gone.status, 410, gone.text);
    assert.equal(gone.headers.get('cache-control'), 'no-store');
    assert.equal((await get(`/hls/${ROOM}/240p/${first.replace(/-(\d+)\.m4s$/, '-999999.m4s')}`)).status, 404, 'never served');
  },
);

test('a poster frame is served for the room and listed in /api/rooms', { timeout: 30_000 }, async () => {
  const response = await waitFor(
    async () => {
      const r = await fetch(`${server.url}/api/rooms/${ROOM}/thumbnail.jpg`);
      return r.status === 200 ? r : undefined;
    },
    { description: 'a thumbnail', timeoutMs: 10_000 },
  );
  assert.equal(response.headers.get('content-type'), 'image/jpeg');
  const bytes = Buffer.from(await response.arrayBuffer());
  assert.equal(bytes.subarray(0, 2).toString('hex'), 'ffd8');
  const rooms = (await (await fetch(`${server.url}/api/rooms`)).json()) as {
    rooms: Array<{ id: string; hls: { available: boolean }; thumbnail: string | null }>;
  };
  const room = rooms.rooms.find((r) => r.id === ROOM)!;
  assert.ok(room.hls.available);
  assert.equal(room.thumbnail, `/api/rooms/${ROOM}/thumbnail.jpg`);
});

async function waitForDiscontinuityThenProgress(description: string): Promise<void> {
  const start = await mediaPlaylist('240p');
  const startEnd = start.mediaSequence + start.segments.length;
  await waitFor(
    async () => {
      const p = await mediaPlaylist('240p');
      const end = p.mediaSequence + p.segments.length;
      const afterDiscontinuity = p.text.split('#EXT-X-DISCONTINUITY\n').slice(1).join('');
      const segmentsAfter = afterDiscontinuity.split('\n').filter((l) => l && !l.startsWith('#')).length;
      return p.text.includes('#EXT-X-DISCONTINUITY\n') && end > startEnd && segmentsAfter >= 2;
    },
    { description, timeoutMs: 20_000 },
  );
}

test('killing ffmpeg: the stream continues after a discontinuity', { timeout: 60_000 }, async () => {
  const pid = server.hls!.ffmpegPid(ROOM);
  assert.ok(pid, 'ffmpeg is running');
  process.kill(pid, 'SIGKILL');
  await waitForDiscontinuityThenProgress('segments after a discontinuity following the ffmpeg kill');
  const newPid = server.hls!.ffmpegPid(ROOM);
  assert.ok(newPid && newPid !== pid, 'a new ffmpeg runs');
  assert.ok(server.hls!.status(ROOM)!.ffmpegRestarts >= 1);
});

test('publisher reconnects: the same URL continues', { timeout: 60_000 }, async () => {
  const firstRecorderPid = server.hls!.ffmpegPid(ROOM);
  await publisher!.close();
  publisher = await startPublisher();
  await waitFor(
    () => {
      const pid = server.hls!.ffmpegPid(ROOM);
      return pid !== undefined && pid !== firstRecorderPid;
    },
    { description: 'a recorder for the new publisher', timeoutMs: 10_000 },
  );
  const playlist = await mediaPlaylist('240p');
  const discontinuitiesBefore = playlist.text.split('#EXT-X-DISCONTINUITY\n').length - 1;
  await waitFor(
    async () => {
      const p = await mediaPlaylist('240p');
      const count = p.text.split('#EXT-X-DISCONTINUITY\n').length - 1;
      const tail = p.text.split('#EXT-X-DISCONTINUITY\n').at(-1)!;
      return count >= Math.max(1, discontinuitiesBefore) && tail.split('\n').filter((l) => l && !l.startsWith('#')).length >= 2;
    },
    { description: 'new segments at the same URL after the publisher came back', timeoutMs: 20_000 },
  );
});

test('path traversal and bad names never escape the HLS directory', async () => {
  const attempts = [
    '/hls/../etc/passwd',
    '/hls/%2e%2e/%2e%2e/etc/passwd',
    `/hls/${ROOM}/..%2f..%2fetc%2fpasswd`,
    `/hls/${ROOM}/../index.m3u8`,
    `/hls/${ROOM}/%2e%2e/240p/index.m3u8`,
    '/hls/..%2f/index.m3u8',
    `/hls/${ROOM}/240p/..%2f..%2f..%2fetc%2fpasswd`,
    '/hls/.thumbnails/x.jpg',
    '/hls/.pids/1',
    `/hls/${ROOM}/240p/%2e%2e%2f%2e%2e%2findex.m3u8`,
    '/api/rooms/..%2f..%2fetc/thumbnail.jpg',
  ];
  for (const attempt of attempts) {
    const response = await get(attempt);
    assert.ok([400, 404].includes(response.status), `${attempt} → ${response.status}`);
    assert.ok(!response.text.includes('root:'), `${attempt} leaked a file`);
  }
});

test('when the room ends, playlists get ENDLIST and ffmpeg stops', { timeout: 30_000 }, async () => {
  const pid = server.hls!.ffmpegPid(ROOM)!;
  await publisher!.close();
  publisher = undefined;
  await waitFor(async () => (await mediaPlaylist('240p')).text.includes('#EXT-X-ENDLIST'), {
    description: 'ENDLIST after the room closed',
    timeoutMs: 15_000,
  });
  assert.throws(() => process.kill(pid, 0), 'ffmpeg is gone');
});
