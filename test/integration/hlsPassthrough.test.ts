/**
 * H.264 passthrough: a publisher that sends H.264 gets its own bitstream as
 * the top HLS rendition (copied, not re-encoded), while the lower renditions
 * are encoded with keyframes where the source has them, so segments still
 * line up across renditions. Real worker, real ffmpeg, ffprobe on the output.
 *
 * The headless publisher encodes Constrained Baseline (what WebRTC endpoints
 * send); the server's own x264 encodes Main. So the profile of what comes out
 * tells a copied rendition from a re-encoded one.
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
const ROOM = 'hls-h264';
let server: FloodlightServer;
let publisher: HeadlessPublisher | undefined;
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-hls-h264-'));

before(async () => {
  server = await startTestServer({ HLS_H264_PASSTHROUGH: 'true' });
});

after(async () => {
  await publisher?.close();
  // undefined when before() failed
  await (server as FloodlightServer | undefined)?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

async function text(pathname: string): Promise<string> {
  const response = await fetch(`${server.url}${pathname}`);
  assert.equal(response.status, 200, `${pathname}: ${response.status}`);
  return response.text();
}

interface ProbedSegment {
  profile: string;
  width: number;
  height: number;
  /** Video packets: presentation time (s) and whether each is a keyframe. */
  packets: Array<{ pts: number; key: boolean }>;
}

async function probeSegment(rendition: string, playlist: string, segment: string): Promise<ProbedSegment> {
  const map = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)![1]!;
  const init = Buffer.from(await (await fetch(`${server.url}/hls/${ROOM}/${rendition}/${map}`)).arrayBuffer());
  const media = Buffer.from(await (await fetch(`${server.url}/hls/${ROOM}/${rendition}/${segment}`)).arrayBuffer());
  const file = path.join(scratch, `${rendition}-${segment}.mp4`);
  fs.writeFileSync(file, Buffer.concat([init, media]));
  const streams = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'stream=profile,width,height', '-of', 'json', file]);
  const stream = (JSON.parse(streams.stdout) as { streams: Array<{ profile: string; width: number; height: number }> }).streams[0]!;
  const packets = await run('ffprobe', ['-v', 'error', '-select_streams', 'v', '-show_entries', 'packet=pts_time,flags', '-of', 'csv=p=0', file]);
  return {
    ...stream,
    packets: packets.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(','))
      .map(([pts, flags]) => ({ pts: Number(pts), key: (flags ?? '').includes('K') })),
  };
}

test('an H.264 publisher: top rendition copied, lower ones re-encoded, keyframes aligned', { timeout: 90_000 }, async () => {
  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  publisher = new HeadlessPublisher({
    url: server.url,
    room: ROOM,
    token,
    video: { codec: 'H264', width: 1280, height: 720, bitrateKbps: 1500, keyframeIntervalSec: 1 },
  });
  await publisher.publish();

  console.log('# waiting for four complete segments in every rendition');
  const playlists = new Map<string, string>();
  const fetchPlaylist = async (rendition: string): Promise<string | undefined> => {
    const response = await fetch(`${server.url}/hls/${ROOM}/${rendition}/index.m3u8`);
    return response.status === 200 ? response.text() : undefined;
  };
  for (const rendition of ['720p', '480p', '240p']) {
    await waitFor(
      async () => {
        const body = await fetchPlaylist(rendition);
        return body !== undefined && body.split('\n').filter((l) => l.startsWith('seg-')).length >= 4;
      },
      { description: `four ${rendition} segments`, timeoutMs: 30_000 },
    );
  }
  // Then all three at once, so that they cover the same time.
  for (const rendition of ['720p', '480p', '240p']) playlists.set(rendition, (await fetchPlaylist(rendition))!);

  // The recorder's ffmpeg copies the video into one output.
  const pid = server.hls!.ffmpegPid(ROOM);
  assert.ok(pid, 'ffmpeg runs');
  const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  assert.ok(cmdline.join(' ').includes('-c:v copy'), 'ffmpeg copies the source video');
  assert.equal(cmdline.filter((a) => a === 'libx264').length, 2, 'two renditions encoded');

  const master = await text(`/hls/${ROOM}/index.m3u8`);
  console.log(
    `# master: ${master
      .split('\n')
      .filter((l) => l.startsWith('#EXT-X-STREAM-INF'))
      .join(' | ')}`,
  );
  // avc1.42…: Constrained Baseline from the publisher; avc1.4d…: Main from our x264.
  assert.match(master, /RESOLUTION=1280x720,CODECS="avc1\.42[0-9a-f]{4},mp4a\.40\.2"/);
  assert.match(master, /RESOLUTION=854x480,CODECS="avc1\.4d[0-9a-f]{4},mp4a\.40\.2"/);

  // Segments that every rendition has: same start time, a keyframe first, ~1 s long.
  // Matched by start time (what a player switching renditions relies on). The
  // first seconds can be irregular (this publisher's first GOPs, ffmpeg starting
  // up), so the last two segments that all renditions start together are checked.
  // Segment files are named seg-<rendition session>-<media sequence number>.m4s.
  const lastSegments = (rendition: string) =>
    playlists
      .get(rendition)!
      .split('\n')
      .filter((l) => l.startsWith('seg-'))
      .slice(-4);
  const probedBy = new Map<string, Array<ProbedSegment & { uri: string }>>();
  for (const rendition of ['720p', '480p', '240p']) {
    probedBy.set(
      rendition,
      await Promise.all(lastSegments(rendition).map(async (uri) => ({ ...(await probeSegment(rendition, playlists.get(rendition)!, uri)), uri }))),
    );
  }
  const startOf = (p: ProbedSegment) => p.packets[0]!.pts;
  const together = probedBy
    .get('720p')!
    .map((top) => [top, ...['480p', '240p'].map((r) => probedBy.get(r)!.find((p) => Math.abs(startOf(p) - startOf(top)) < 0.05))])
    .filter((set): set is Array<ProbedSegment & { uri: string }> => set.every((p) => p !== undefined))
    .slice(-2);
  assert.ok(
    together.length >= 1,
    `segments starting together in every rendition (starts: ${[...probedBy].map(([r, ps]) => `${r} ${ps.map((p) => startOf(p).toFixed(3)).join('/')}`).join('; ')})`,
  );
  for (const probed of together) {
    const msns = probed.map((p) => Number(/-(\d+)\.m4s$/.exec(p.uri)![1]));
    const segment = `MSN ${[...new Set(msns)].join('/')}`;
    const [top, mid, low] = [probed[0]!, probed[1]!, probed[2]!];
    console.log(
      `# ${segment}: ` +
        probed
          .map(
            (p, i) => `${['720p', '480p', '240p'][i]} ${p.profile} ${p.width}x${p.height} starts ${p.packets[0]!.pts.toFixed(3)} s, ${p.packets.length} frames`,
          )
          .join('; '),
    );
    assert.match(top.profile, /Baseline/, "the top rendition is the publisher's own bitstream");
    assert.equal(mid.profile, 'Main');
    assert.equal(low.profile, 'Main');
    assert.deepEqual([top.width, top.height], [1280, 720]);
    // A copied stream's segments are as long as the source's GOPs (this publisher keeps a
    // 1 s GOP, though its first seconds can be irregular); the encoded renditions must
    // follow them exactly: same start, same length, a keyframe first.
    const spanOf = (p: ProbedSegment) => p.packets.at(-1)!.pts - p.packets[0]!.pts + 1 / 30;
    assert.ok(spanOf(top) > 0.8 && spanOf(top) < 2.5, `copied segment lasts ${spanOf(top).toFixed(3)} s`);
    for (const p of probed) {
      assert.ok(p.packets[0]!.key, 'segment starts with a keyframe');
      assert.ok(Math.abs(p.packets[0]!.pts - top.packets[0]!.pts) < 0.05, `segment starts aligned (${p.packets[0]!.pts} vs ${top.packets[0]!.pts})`);
      assert.ok(Math.abs(spanOf(p) - spanOf(top)) < 0.05, `segment lasts ${spanOf(p).toFixed(3)} s, the copied one ${spanOf(top).toFixed(3)} s`);
      assert.equal(p.packets.filter((x) => x.key).length, top.packets.filter((x) => x.key).length, 'keyframes where the source has them');
    }
  }
});
