/**
 * RTMP ingest against a real server (real mediasoup workers, ffmpeg, ffprobe):
 * ffmpeg publishes OBS-like FLV (x264 High with B-frames, Main and High
 * without, AAC) to rtmp://…/live/<key>; a werift viewer receives the frames,
 * HLS gets segments, and the ingest health tells copy from re-encode.
 * Then bad input: wrong app, wrong / revoked key, busy slot, garbage bytes, a
 * half-open connection — each ends that connection only, starts no ffmpeg,
 * leaves no transport, and the server keeps serving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import type { IngestHealth } from '../../server/contracts/ingestHealth.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { freeTcpPort, ingestFfmpegPids, startObsLikeEncoder } from '../helpers/obsLikeEncoder.js';
import { encoderToViewer, expectRefused, ingestOf } from '../helpers/encoderIngestChecks.js';
import { waitFor } from '../helpers/wait.js';

const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-rtmp-keys-'));
let server: FloodlightServer;
let rtmpPort: number;

const rtmpUrl = (app: string, key: string): string => `rtmp://127.0.0.1:${rtmpPort}/${app}/${key}`;

/** What a refused connection must not have left behind. */
function footprint(): string {
  const { transports, producers } = server.pool.counts();
  return JSON.stringify({ transports, producers, claims: server.encoderIngests.size, ffmpegs: ingestFfmpegPids().length });
}

/** A TCP connection to the RTMP port that reads (and drops) what comes back, so that it sees the server close it. */
function rawConnection(): { socket: net.Socket; closed: () => boolean } {
  const socket = net.connect(rtmpPort, '127.0.0.1');
  let closed = false;
  socket.on('error', () => undefined);
  socket.on('close', () => (closed = true));
  socket.resume();
  return { socket, closed: () => closed };
}

/** Publishes, waits for a viewer to get frames, checks the health; returns it. */
async function publishAndWatch(room: string, encoder: { profile: 'high' | 'main'; bFrames: number }): Promise<IngestHealth> {
  const health = await encoderToViewer(server, {
    room,
    protocol: 'RTMP',
    url: (key) => rtmpUrl('live', key),
    encoder,
    healthReady: (i) => i.keyFrameIntervalMs !== null && i.bitrateBps > 0,
    ended: () => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0,
    footprint,
  });
  assert.equal(health.protocol, 'rtmp');
  assert.equal(health.slot, 'primary');
  assert.equal(health.video?.codec, 'H.264');
  assert.equal(health.video?.width, 640);
  assert.equal(health.video?.height, 360);
  assert.equal(health.audio?.codec, 'AAC');
  assert.equal(health.audio?.handling, 'transcode');
  return health;
}

before(async () => {
  rtmpPort = await freeTcpPort();
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, RTMP_PORT: String(rtmpPort), SRT_PORT: '0', HLS_RENDITIONS: '240' });
  assert.equal(server.rtmp?.port, rtmpPort);
});

after(async () => {
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

test('OBS defaults (x264 High, B-frames, AAC): re-encoded, viewers get frames, the health says why', async () => {
  const health = await publishAndWatch('rtmp-bframes', { profile: 'high', bFrames: 2 });
  assert.equal(health.video?.profile, 'High');
  assert.equal(health.video?.bFrames, true);
  assert.equal(health.video?.handling, 'transcode');
  assert.ok(
    health.warnings.some((w) => /B-frames are being re-encoded/.test(w)),
    health.warnings.join('; '),
  );
  assert.ok(health.keyFrameIntervalMs! <= 2000, 'the re-encode makes a key frame every second');
});

test('H.264 Main without B-frames is copied; HLS gets segments', async () => {
  const room = 'rtmp-main';
  const { key } = await server.streamKeys.create(room, 'primary');
  const publisher = startObsLikeEncoder(rtmpUrl('live', key), { profile: 'main', bFrames: 0 });
  try {
    const health = await waitFor(async () => (await ingestOf(server, room)).find((i) => i.keyFrameIntervalMs !== null), {
      description: 'the copied ingest to report key frames',
      timeoutMs: 30_000,
      progress: () => publisher.output(),
    });
    assert.equal(health.video?.profile, 'Main');
    assert.equal(health.video?.bFrames, false);
    assert.equal(health.video?.handling, 'copy');
    assert.ok(!health.warnings.some((w) => /re-encoded/.test(w)), health.warnings.join('; '));
    // The encoder's own GOP (2 s) reaches viewers as it is.
    await waitFor(async () => ((await ingestOf(server, room))[0]?.keyFrameIntervalMs ?? 0) > 1500, { description: "the encoder's 2 s GOP in the health" });
    const master = await waitFor(
      async () => {
        const response = await fetch(`${server.url}/hls/${room}/index.m3u8`);
        return response.status === 200 ? response.text() : undefined;
      },
      { description: 'the HLS master playlist', timeoutMs: 30_000 },
    );
    const media = master.split('\n').find((line) => line && !line.startsWith('#'));
    assert.ok(media, master);
    await waitFor(
      async () => {
        const response = await fetch(`${server.url}/hls/${room}/${media.trim()}`);
        return response.status === 200 && (await response.text()).includes('#EXTINF');
      },
      { description: 'an HLS media playlist with segments', timeoutMs: 30_000 },
    );
  } finally {
    await publisher.stop({ signal: 'SIGKILL' });
    await waitFor(() => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0, { description: 'the ingest to end', progress: footprint });
  }
});

test('H.264 High without B-frames is copied (browsers decode High) and reaches a viewer', async () => {
  const health = await publishAndWatch('rtmp-high', { profile: 'high', bFrames: 0 });
  assert.equal(health.video?.profile, 'High');
  assert.equal(health.video?.handling, 'copy');
});

test('bad input ends that connection only: wrong app, wrong and revoked keys, busy slot, garbage, half-open', async () => {
  const room = 'rtmp-bad';
  const issued = await server.streamKeys.create(room, 'primary');
  // The earlier rooms' viewers and recorders are gone once their rooms closed.
  await waitFor(() => server.pool.counts().transports === 0, { description: 'the earlier rooms to close', timeoutMs: 20_000, progress: footprint });
  const clean = footprint();

  await expectRefused(startObsLikeEncoder(rtmpUrl('other', issued.key), { profile: 'main', bFrames: 0 }), 'wrong app');
  await expectRefused(startObsLikeEncoder(rtmpUrl('live', 'sk_000000000000_not-a-key'), { profile: 'main', bFrames: 0 }), 'unknown key');
  assert.equal(footprint(), clean);

  // The slot is busy: the second encoder is refused and the first keeps flowing.
  const first = startObsLikeEncoder(rtmpUrl('live', issued.key), { profile: 'main', bFrames: 0 });
  const viewer = new HeadlessViewer({ url: server.url, room, name: 'bad-input-viewer' });
  try {
    await waitFor(() => server.rooms.get(room)?.sources().length === 1, { description: 'the first encoder on air', timeoutMs: 30_000 });
    await viewer.join();
    await viewer.waitForNewFrames(30);
    const busy = footprint();
    await expectRefused(startObsLikeEncoder(rtmpUrl('live', issued.key), { profile: 'main', bFrames: 0 }), 'busy slot');
    assert.equal(footprint(), busy);

    // Garbage: more than a handshake and a publish may take, as random bytes.
    const garbage = rawConnection();
    garbage.socket.write(crypto.randomBytes(200_000));
    await waitFor(() => garbage.closed(), { description: 'the garbage connection to be closed', timeoutMs: 10_000 });

    // Half-open: connects and says nothing; closed at the handshake timeout (10 s).
    const silent = rawConnection();
    await waitFor(() => server.rtmp!.connections >= 2, { description: 'the silent connection to be accepted' });
    await waitFor(() => silent.closed(), { description: 'the half-open connection to be closed', timeoutMs: 20_000 });

    await viewer.waitForNewFrames(30);
    assert.equal(footprint(), busy, 'the first encoder still publishes, nothing else runs');
  } finally {
    await viewer.close();
    await first.stop({ signal: 'SIGKILL' });
  }
  await waitFor(() => footprint() === clean, { description: 'the first ingest to end', progress: footprint });

  // A revoked key no longer opens the slot.
  await server.streamKeys.revoke(room, issued.id);
  await expectRefused(startObsLikeEncoder(rtmpUrl('live', issued.key), { profile: 'main', bFrames: 0 }), 'revoked key');
  assert.equal(footprint(), clean);
  assert.equal((await fetch(`${server.url}/api/rooms/${room}/stats`)).status < 500, true, 'the server keeps serving');
});
