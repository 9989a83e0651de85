/**
 * LL-HLS end to end: a live-paced ffmpeg (-re, two renditions, fMP4 on pipes)
 * feeds an HlsRoomPackager; the HLS routes serve it from a real express server
 * on an ephemeral port. Checks headers, blocking reload timing, preload-hinted
 * parts, request validation / path traversal, and (after the stream ends)
 * the media itself with ffprobe.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import express from 'express';
import { createHlsRouter } from '../../server/hls/hlsRoutes.js';
import { HlsRoomPackager } from '../../server/hls/roomPackager.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const ROOM = 'live_1';
const STREAM_SECONDS = 6;

let tmp: string;
let root: string;
let hls: HlsRoomPackager;
let ffmpeg: ChildProcess | undefined;
let ffmpegExited: Promise<number | null>;
let server: http.Server;
let base: string;
/** Every playlist publication per rendition: last part listed, performance.now(). */
const publications = new Map<string, { msn: number; part: number; at: number }[]>();

/** When a playlist first listed part (msn, part) or a later one. */
function publishedAt(rendition: string, msn: number, part: number): number | undefined {
  return publications.get(rendition)?.find((p) => p.msn > msn || (p.msn === msn && p.part >= part))?.at;
}
const measurements: string[] = [];

function startFfmpeg(): ChildProcess {
  const encode = (bitrate: string) => [
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-tune',
    'zerolatency',
    '-pix_fmt',
    'yuv420p',
    '-g',
    '30',
    '-keyint_min',
    '30',
    '-sc_threshold',
    '0',
    '-b:v',
    bitrate,
    '-c:a',
    'aac',
    '-b:a',
    '64k',
    '-f',
    'mp4',
    '-movflags',
    '+empty_moov+default_base_moof+frag_keyframe',
    '-frag_duration',
    '250000',
  ];
  const args = [
    '-hide_banner',
    '-loglevel',
    'error',
    '-nostdin',
    '-re',
    '-t',
    String(STREAM_SECONDS),
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=640x360:rate=30',
    '-re',
    '-t',
    String(STREAM_SECONDS),
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-filter_complex',
    '[0:v]split=2[hi][lo0];[lo0]scale=320:180[lo]',
    '-map',
    '[hi]',
    '-map',
    '1:a',
    ...encode('800k'),
    'pipe:1',
    '-map',
    '[lo]',
    '-map',
    '1:a',
    ...encode('200k'),
    'pipe:3',
  ];
  return spawn('ffmpeg', args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text: string;
  at: number;
}

/** A raw GET (no URL normalisation, unlike fetch), so traversal attempts arrive as written. */
function request(pathAndQuery: string, options: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  const { port } = server.address() as AddressInfo;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: pathAndQuery, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('utf8'), at: performance.now() });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Last part (msn, index) listed in a media playlist. */
function lastPart(text: string): { msn: number; part: number; hint: string | undefined } {
  const lines = text.split('\n');
  let msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)![1]);
  let part = -1;
  let last = { msn: -1, part: -1 };
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PART:')) {
      part += 1;
      last = { msn, part };
    } else if (line.length > 0 && !line.startsWith('#')) {
      msn += 1;
      part = -1;
    }
  }
  return { ...last, hint: /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1] };
}

async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<Reply> {
  let last: Reply | undefined;
  return waitFor(
    async () => {
      last = await request(url);
      return last.status === status ? last : undefined;
    },
    { description: `${url} to answer ${status}`, timeoutMs, progress: () => (last ? `${last.status}: ${last.text}` : 'no reply yet') },
  );
}

function assertCors(reply: Reply): void {
  assert.equal(reply.headers['access-control-allow-origin'], '*');
  assert.equal(reply.headers['cross-origin-resource-policy'], 'cross-origin');
}

before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'hls-int-'));
  root = path.join(tmp, 'hls');
  await fsp.writeFile(path.join(tmp, 'secret.txt'), 'TOPSECRET outside the HLS root');
  hls = new HlsRoomPackager({ root, room: ROOM, renditions: [{ name: '360p' }, { name: '180p' }] });
  for (const [name, packager] of Object.entries(hls.renditions)) {
    packager.on('error', (error) => {
      throw error;
    });
    publications.set(name, []);
    packager.on('published', ({ lastMsn, lastPart: part }) => {
      publications.get(name)!.push({ msn: lastMsn, part, at: performance.now() });
    });
  }

  const app = express();
  app.use('/hls', createHlsRouter({ root, lookup: (room) => (room === ROOM ? hls.renditions : undefined) }));
  app.use('/hls-short', createHlsRouter({ root, lookup: (room) => (room === ROOM ? hls.renditions : undefined), blockTimeoutMs: 300 }));
  server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `/hls/${ROOM}`;

  const child = startFfmpeg();
  ffmpeg = child;
  let stderr = '';
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
  ffmpegExited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  void ffmpegExited.then((code) => {
    if (code !== 0 && code !== null) console.error(`ffmpeg exited with ${code}: ${stderr}`);
  });
  child.stdout!.pipe(hls.renditions['360p']!.createWritable());
  (child.stdio[3] as Readable).pipe(hls.renditions['180p']!.createWritable());
});

after(async () => {
  ffmpeg?.kill('SIGKILL');
  // Each is undefined when before() failed before making it.
  const httpServer = server as http.Server | undefined;
  if (httpServer) {
    await new Promise<void>((resolve) => httpServer.close(() => resolve()));
    httpServer.closeAllConnections();
  }
  await (hls as HlsRoomPackager | undefined)?.close({ removeFiles: true });
  await fsp.rm(tmp, { recursive: true, force: true });
  if (measurements.length > 0) console.error(`[hlsPackager] measurements:\n  ${measurements.join('\n  ')}`);
});

describe('LL-HLS packager over HTTP, live', () => {
  test('master playlist: 503 while starting, then both renditions', async () => {
    const early = await request(`${base}/index.m3u8`);
    assert.ok(early.status === 503 || early.status === 200);
    if (early.status === 503) {
      assert.equal(early.headers['retry-after'], '1');
      assert.equal(early.headers['cache-control'], 'no-store');
    }
    const master = await waitForStatus(`${base}/index.m3u8`, 200, 10_000);
    assert.equal(master.headers['content-type'], 'application/vnd.apple.mpegurl');
    assert.equal(master.headers['cache-control'], 'public, max-age=2');
    assertCors(master);
    const inf = master.text.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
    assert.equal(inf.length, 2, master.text);
    assert.match(inf[0]!, /RESOLUTION=640x360,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",FRAME-RATE=30\.000/);
    assert.match(inf[1]!, /RESOLUTION=320x180/);
    assert.match(master.text, /\n360p\/index\.m3u8\n[^]*\n180p\/index\.m3u8\n$/, 'highest first');
    measurements.push(`master: ${inf.join(' | ')}`);
  });

  test('media playlist: headers and LL tags; preload hint and rendition report', async () => {
    const reply = await waitForStatus(`${base}/360p/index.m3u8`, 200, 10_000);
    assert.equal(reply.headers['content-type'], 'application/vnd.apple.mpegurl');
    assert.equal(reply.headers['cache-control'], 'public, max-age=1');
    assertCors(reply);
    assert.match(reply.text, /^#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=[\d.]+,HOLD-BACK=3\.0$/m);
    assert.match(reply.text, /^#EXT-X-PART-INF:PART-TARGET=0\.2\d+$/m);
    const { msn, part, hint } = lastPart(reply.text);
    assert.ok(hint);
    // The other rendition is reported once it has published too (always the case once the master is served).
    const next = await request(`${base}/360p/index.m3u8?_HLS_msn=${msn}&_HLS_part=${part + 1}`);
    assert.match(next.text, /^#EXT-X-RENDITION-REPORT:URI="\.\.\/180p\/index\.m3u8",LAST-MSN=\d+,LAST-PART=\d+$/m);
  });

  test('blocking reload returns only once the requested part exists', async () => {
    const waits: number[] = [];
    const afterPublish: number[] = [];
    let blocked = 0;
    for (let i = 0; i < 5; i++) {
      const current = await request(`${base}/360p/index.m3u8`);
      const last = lastPart(current.text);
      const wantMsn = last.msn;
      const wantPart = last.part + 1;
      const sent = performance.now();
      const reply = await request(`${base}/360p/index.m3u8?_HLS_msn=${wantMsn}&_HLS_part=${wantPart}`);
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.headers['cache-control'], 'public, max-age=6');
      const got = lastPart(reply.text);
      // The requested part, or (if it was past the end of its segment) part 0 of the next one.
      assert.ok(got.msn > wantMsn || (got.msn === wantMsn && got.part >= wantPart), `${JSON.stringify(got)} >= ${wantMsn}.${wantPart}`);
      const published = publishedAt('360p', wantMsn, wantPart);
      assert.ok(published !== undefined, `${wantMsn}.${wantPart} was published`);
      assert.ok(reply.at >= published, 'the response came after the part was published');
      if (published > sent) blocked += 1;
      waits.push(reply.at - sent);
      afterPublish.push(reply.at - published);
    }
    // Usually every request blocks (a part takes ~270 ms); a part may slip in between the two requests.
    assert.ok(blocked >= 3, `${blocked} of 5 requests were held until their part existed`);
    measurements.push(
      `blocking reload held ${waits.map((w) => w.toFixed(0)).join(', ')} ms; answered ${afterPublish.map((w) => w.toFixed(1)).join(', ')} ms after the part was published`,
    );

    // hls.js asks for part 0 of the next segment after the last part of a segment.
    const current = lastPart((await request(`${base}/180p/index.m3u8`)).text);
    const next = await request(`${base}/180p/index.m3u8?_HLS_msn=${current.msn + 1}&_HLS_part=0`);
    assert.equal(next.status, 200);
    assert.ok(lastPart(next.text).msn >= current.msn + 1);
    // _HLS_msn alone waits for the whole segment.
    const whole = await request(`${base}/180p/index.m3u8?_HLS_msn=${current.msn}`);
    assert.equal(whole.status, 200);
    assert.ok(whole.text.includes(`seg-${hls.renditions['180p']!.sessionId}-${current.msn}.m4s`));
  });

  test('the preload-hinted part can be requested before it exists', async () => {
    const { hint, msn, part } = lastPart((await request(`${base}/360p/index.m3u8`)).text);
    assert.ok(hint);
    const sent = performance.now();
    const reply = await request(`${base}/360p/${hint}`);
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['content-type'], 'video/mp4');
    assert.equal(reply.headers['cache-control'], 'public, max-age=31536000, immutable');
    assertCors(reply);
    assert.equal(reply.body.toString('latin1', 4, 8), 'moof');
    assert.ok(reply.body.equals(await fsp.readFile(path.join(root, ROOM, '360p', hint))));
    const published = publishedAt('360p', msn, part + 1);
    assert.ok(published !== undefined && reply.at >= published, 'served once it was published');
    measurements.push(`hinted part request held ${(reply.at - sent).toFixed(0)} ms`);
    // One far ahead is not held: 404.
    const sid = hls.renditions['360p']!.sessionId;
    const far = await request(`${base}/360p/part-${sid}-99999.m4s`);
    assert.equal(far.status, 404);
    assert.equal(far.headers['cache-control'], 'no-store');
  });

  test('delivery directive errors: 400 far ahead or malformed, 503 on timeout', async () => {
    const { msn, part } = lastPart((await request(`${base}/360p/index.m3u8`)).text);
    const cases = [
      `_HLS_msn=${msn + 3}`,
      `_HLS_msn=${msn + 50}&_HLS_part=0`,
      `_HLS_msn=${msn}&_HLS_part=${part + 40}`,
      `_HLS_part=1`,
      `_HLS_msn=abc`,
      `_HLS_msn=-1`,
      `_HLS_msn=1&_HLS_msn=2`,
      `_HLS_msn=${msn}&_HLS_skip=maybe`,
    ];
    for (const query of cases) {
      const started = performance.now();
      const reply = await request(`${base}/360p/index.m3u8?${query}`);
      assert.equal(reply.status, 400, `${query}: ${reply.text}`);
      assert.ok(reply.at - started < 1000, `${query} is refused at once, not held (a hold would last 3 s)`);
      assert.equal(reply.headers['cache-control'], 'no-store');
      assertCors(reply);
    }
    // _HLS_skip is accepted and ignored (no CAN-SKIP-UNTIL): a full playlist.
    const skip = await request(`${base}/360p/index.m3u8?_HLS_msn=${msn}&_HLS_skip=YES`);
    assert.equal(skip.status, 200);
    assert.ok(!skip.text.includes('EXT-X-SKIP'));
    // Two segments ahead is allowed but cannot arrive within the (short) block timeout.
    const started = performance.now();
    const timeout = await request(`/hls-short/${ROOM}/360p/index.m3u8?_HLS_msn=${msn + 2}&_HLS_part=3`);
    assert.equal(timeout.status, 503);
    assert.ok(timeout.at - started >= 290);
    assert.equal(timeout.headers['cache-control'], 'no-store');
  });

  test('init sections and segments; range requests; CORS preflight', async () => {
    const text = (await request(`${base}/180p/index.m3u8`)).text;
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)![1]!;
    const seg = text.split('\n').find((l) => l.startsWith('seg-'))!;
    for (const file of [init, seg]) {
      const reply = await request(`${base}/180p/${file}`);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], 'video/mp4');
      assert.equal(reply.headers['cache-control'], 'public, max-age=31536000, immutable');
      assertCors(reply);
    }
    const head = await request(`${base}/180p/${seg}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    const range = await request(`${base}/180p/${seg}`, { headers: { Range: 'bytes=0-7' } });
    assert.equal(range.status, 206);
    assert.equal(range.body.toString('latin1', 4, 8), 'moof');
    const preflight = await request(`${base}/180p/${seg}`, {
      method: 'OPTIONS',
      headers: { Origin: 'https://player.example', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], '*');
    assert.match(String(preflight.headers['access-control-allow-methods']), /GET/);
    assert.match(String(preflight.headers['access-control-allow-headers']), /Range/);
    const post = await request(`${base}/180p/index.m3u8`, { method: 'POST' });
    assert.equal(post.status, 405);
  });

  test('path traversal and invalid names never reach a file outside the root', async () => {
    const attempts = [
      '/hls/../etc/passwd',
      '/hls/../../../../etc/passwd',
      '/hls/%2e%2e/%2e%2e/etc/passwd',
      '/hls/%2e%2e%2f%2e%2e%2fetc%2fpasswd',
      `/hls/${ROOM}/..%2f..%2f..%2fetc/passwd`,
      `/hls/${ROOM}/../index.m3u8`,
      `/hls/${ROOM}/../secret.txt`,
      `/hls/${ROOM}/%2e%2e/init.mp4`,
      `/hls/${ROOM}/360p/..%2f..%2f..%2fsecret.txt`,
      `/hls/${ROOM}/360p/..%2F..%2F..%2F..%2Fetc%2Fpasswd`,
      `/hls/${ROOM}/360p/../../x`,
      `/hls/${ROOM}/360p/%2e%2e`,
      `/hls/${ROOM}/360p/%2Fetc%2Fpasswd`,
      `/hls/${ROOM}/360p/index.m3u8%00.mp4`,
      `/hls/${ROOM}/360p/seg-x-1.m4s%00`,
      `/hls/${ROOM}/360p/.index.m3u8.1.1.tmp`,
      `/hls/${ROOM}/360p/%zz`,
      `/hls/${ROOM}/360P/index.m3u8`,
      `/hls/${ROOM}/360p/INDEX.M3U8`,
      `/hls/room%20name/index.m3u8`,
      `/hls/${'r'.repeat(65)}/index.m3u8`,
      `/hls/${ROOM}/360p/seg-abc-1.m4s/extra`,
      '/hls/..%5c..%5cwindows/win.ini',
      `/hls/${ROOM}/..%5c..%5csecret.txt/x`,
    ];
    for (const attempt of attempts) {
      const reply = await request(attempt);
      assert.ok(reply.status === 400 || reply.status === 404, `${attempt} → ${reply.status}`);
      assert.ok(!reply.text.includes('root:') && !reply.text.includes('TOPSECRET'), `${attempt} leaked a file`);
      assert.equal(reply.headers['cache-control'], 'no-store', attempt);
    }
    // Well-formed but absent.
    for (const missing of [`/hls/nosuchroom/index.m3u8`, `/hls/nosuchroom/360p/index.m3u8`, `${base}/720p/index.m3u8`, `${base}/360p/seg-abc-1.m4s`]) {
      assert.equal((await request(missing)).status, 404, missing);
    }
  });

  test('after the stream: ENDLIST playlists, ffprobe of every segment', async () => {
    const code = await ffmpegExited;
    assert.equal(code, 0);
    await hls.end();
    const reply = await request(`${base}/360p/index.m3u8?_HLS_msn=999&_HLS_part=0`);
    assert.equal(reply.status, 200, 'directives are ignored after ENDLIST');
    assert.equal(reply.headers['cache-control'], 'public, max-age=30');
    assert.ok(reply.text.endsWith('#EXT-X-ENDLIST\n'));
    assert.ok(!reply.text.includes('PRELOAD-HINT'));

    for (const name of ['360p', '180p']) {
      const dir = path.join(root, ROOM, name);
      const text = await fsp.readFile(path.join(dir, 'index.m3u8'), 'utf8');
      const partDurations = [...text.matchAll(/#EXT-X-PART:DURATION=([\d.]+)/g)].map((m) => Number(m[1]));
      const partTarget = Number(/PART-TARGET=([\d.]+)/.exec(text)![1]);
      assert.ok(
        partDurations.every((d) => d <= partTarget && d <= 0.34),
        `parts ${partDurations.join(' ')}`,
      );
      const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(text)![1]!;
      const segments = text.split('\n').filter((l) => l.startsWith('seg-'));
      const extinf = [...text.matchAll(/#EXTINF:([\d.]+),/g)].map((m) => Number(m[1]));
      assert.ok(segments.length >= 4, `${segments.length} segments`);
      const probed: number[] = [];
      for (const [i, seg] of segments.entries()) {
        const joined = path.join(tmp, `${name}-${seg}.mp4`);
        await fsp.writeFile(joined, Buffer.concat([await fsp.readFile(path.join(dir, init)), await fsp.readFile(path.join(dir, seg))]));
        const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name', '-of', 'json', joined]);
        const streams = (JSON.parse(stdout) as { streams: { codec_type: string; codec_name: string }[] }).streams;
        assert.deepEqual(streams.map((s) => `${s.codec_type}:${s.codec_name}`).sort(), ['audio:aac', 'video:h264']);
        const packets = await run('ffprobe', [
          '-v',
          'error',
          '-select_streams',
          'v',
          '-show_entries',
          'packet=pts_time,duration_time,flags',
          '-of',
          'csv=p=0',
          joined,
        ]);
        const rows = packets.stdout
          .trim()
          .split('\n')
          .map((l) => l.split(','));
        assert.match(rows[0]![2]!, /^K/, `${name} ${seg} starts with a keyframe`);
        const duration = rows.reduce((sum, r) => sum + Number(r[1]), 0);
        probed.push(duration);
        assert.ok(Math.abs(duration - extinf[i]!) < 0.04, `${seg}: EXTINF ${extinf[i]} vs probed ${duration}`);
        const last = i === segments.length - 1;
        if (!last) assert.ok(Math.abs(duration - 1) <= 0.07, `${name} ${seg} lasts ${duration} s`);
        await fsp.rm(joined);
      }
      const stats = hls.renditions[name]!.stats();
      measurements.push(
        `${name}: segments ${probed.map((d) => d.toFixed(3)).join(' ')} s; parts ${Math.min(...partDurations).toFixed(3)}–${Math.max(...partDurations).toFixed(3)} s (target ${partTarget}); ` +
          `fragment arrival → playlist renamed: mean ${stats.meanLatencyMs.toFixed(1)} ms, max ${stats.maxLatencyMs.toFixed(1)} ms over ${stats.publishes} publishes`,
      );
    }
    assert.ok(fs.existsSync(path.join(root, ROOM, 'index.m3u8')), 'master on disk');
  });

  test('once the room is gone, files are served from disk and directives ignored', async () => {
    const app = express();
    app.use('/hls', createHlsRouter({ root, lookup: () => undefined }));
    const other = http.createServer(app);
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = other.address() as AddressInfo;
      const master = await fetch(`http://127.0.0.1:${port}${base}/index.m3u8`);
      assert.equal(master.status, 200);
      assert.match(await master.text(), /EXT-X-STREAM-INF/);
      const media = await fetch(`http://127.0.0.1:${port}${base}/180p/index.m3u8?_HLS_msn=500&_HLS_part=1`);
      assert.equal(media.status, 200);
      assert.ok((await media.text()).endsWith('#EXT-X-ENDLIST\n'));
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
  });
});
