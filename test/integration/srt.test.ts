/**
 * SRT ingest against a real server (libsrt through koffi, real mediasoup
 * workers, ffmpeg): ffmpeg callers publish OBS-like MPEG-TS with the
 * listener's passphrase — a plain key in the stream id (H.264 Main, copied)
 * and the access-control form `#!::r=live/<key>,m=publish` (x264 High with
 * B-frames, re-encoded); a werift viewer receives the frames and the health
 * shows SRT's loss figure and the re-encode decision.
 * Then bad input: wrong, revoked or missing key, a play request, a wrong or
 * missing passphrase, garbage datagrams — that caller ends, no ffmpeg starts,
 * nothing is left, and the server keeps serving.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import type { IngestHealth } from '../../server/contracts/ingestHealth.js';
import { streamKeyFromStreamId } from '../../server/ingest/srt/srtServer.js';
import { startTestServer } from '../helpers/testServer.js';
import { freeUdpPort, ingestFfmpegPids, startObsLikeEncoder } from '../helpers/obsLikeEncoder.js';
import { encoderToViewer, expectRefused } from '../helpers/encoderIngestChecks.js';
import { waitFor } from '../helpers/wait.js';

const PASSPHRASE = 'floodlight-srt-test';
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-srt-keys-'));
let server: FloodlightServer;
let srtPort: number;

const srtUrl = (streamId: string, passphrase: string | null = PASSPHRASE): string =>
  `srt://127.0.0.1:${srtPort}?streamid=${streamId}&latency=120000${passphrase ? `&passphrase=${passphrase}` : ''}`;

function footprint(): string {
  const { transports, producers } = server.pool.counts();
  return JSON.stringify({ transports, producers, claims: server.encoderIngests.size, callers: server.srt?.connections, ffmpegs: ingestFfmpegPids().length });
}

async function publishAndWatch(room: string, streamId: (key: string) => string, encoder: { profile: 'high' | 'main'; bFrames: number }): Promise<IngestHealth> {
  const health = await encoderToViewer(server, {
    room,
    protocol: 'SRT',
    url: (key) => srtUrl(streamId(key)),
    encoder,
    healthReady: (i) => i.keyFrameIntervalMs !== null && i.packetLossPercent !== null,
    ended: () => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0 && server.srt?.connections === 0,
    footprint,
  });
  assert.equal(health.protocol, 'srt');
  assert.equal(health.remoteAddress, '127.0.0.1');
  assert.equal(health.video?.width, 640);
  assert.equal(health.audio?.codec, 'AAC');
  assert.ok(health.packetLossPercent! < 1, 'no loss on loopback');
  return health;
}

before(async () => {
  srtPort = await freeUdpPort();
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, RTMP_PORT: '0', SRT_PORT: String(srtPort), SRT_PASSPHRASE: PASSPHRASE, HLS_ENABLED: 'false' });
  assert.equal(server.srt?.port, srtPort);
});

after(async () => {
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

test('stream ids: a plain key, live/<key>, the #!:: form (URL-encoded too)', () => {
  assert.deepEqual(streamKeyFromStreamId('sk_1'), { key: 'sk_1', mode: undefined });
  assert.deepEqual(streamKeyFromStreamId('live/sk_1'), { key: 'sk_1', mode: undefined });
  assert.deepEqual(streamKeyFromStreamId('#!::r=live/sk_1,m=publish'), { key: 'sk_1', mode: 'publish' });
  assert.deepEqual(streamKeyFromStreamId('%23!::r=sk_1,m=request'), { key: 'sk_1', mode: 'request' });
});

test('H.264 Main without B-frames over SRT (plain key): copied, viewers get frames', async () => {
  const health = await publishAndWatch('srt-main', (key) => key, { profile: 'main', bFrames: 0 });
  assert.equal(health.video?.profile, 'Main');
  assert.equal(health.video?.handling, 'copy');
});

test('x264 High with B-frames over SRT (#!:: stream id): re-encoded, viewers get frames', async () => {
  const health = await publishAndWatch('srt-bframes', (key) => `#!::r=live/${key},m=publish`, { profile: 'high', bFrames: 2 });
  assert.equal(health.video?.bFrames, true);
  assert.equal(health.video?.handling, 'transcode');
  assert.ok(
    health.warnings.some((w) => /B-frames are being re-encoded/.test(w)),
    health.warnings.join('; '),
  );
});

test('bad input ends that caller only: keys, play mode, passphrase, garbage', async () => {
  const room = 'srt-bad';
  const issued = await server.streamKeys.create(room, 'primary');
  await waitFor(() => server.pool.counts().transports === 0, { description: 'the earlier rooms to close', timeoutMs: 20_000, progress: footprint });
  const clean = footprint();
  const encoder = { profile: 'main', bFrames: 0 } as const;

  await expectRefused(startObsLikeEncoder(srtUrl('sk_000000000000_not-a-key'), encoder), 'unknown key');
  await expectRefused(startObsLikeEncoder(srtUrl(''), encoder), 'no stream id');
  await expectRefused(startObsLikeEncoder(srtUrl(`#!::r=live/${issued.key},m=request`), encoder), 'play request');
  await expectRefused(startObsLikeEncoder(srtUrl(issued.key, 'not-the-passphrase'), encoder), 'wrong passphrase');
  await expectRefused(startObsLikeEncoder(srtUrl(issued.key, null), encoder), 'no passphrase');
  const garbage = dgram.createSocket('udp4');
  // Each datagram handed to the kernel before the socket closes.
  await Promise.all(
    Array.from({ length: 50 }, (_, i) => new Promise((resolve) => garbage.send(crypto.randomBytes(1 + ((i * 37) % 1400)), srtPort, '127.0.0.1', resolve))),
  );
  garbage.close();
  await waitFor(() => footprint() === clean, { description: 'the refused callers to leave nothing', timeoutMs: 10_000, progress: footprint });

  // The server keeps serving: the right key and passphrase still publish…
  const good = startObsLikeEncoder(srtUrl(issued.key), encoder);
  try {
    await waitFor(() => server.rooms.get(room)?.sources().length === 1, {
      description: 'the good caller on air',
      timeoutMs: 30_000,
      progress: () => good.output(),
    });
  } finally {
    await good.stop({ signal: 'SIGKILL' });
  }
  await waitFor(() => footprint() === clean, { description: 'the good caller to end', timeoutMs: 20_000, progress: footprint });

  // …until the key is revoked.
  await server.streamKeys.revoke(room, issued.id);
  await expectRefused(startObsLikeEncoder(srtUrl(issued.key), encoder), 'revoked key');
  await waitFor(() => footprint() === clean, { description: 'the revoked caller to leave nothing', timeoutMs: 10_000, progress: footprint });
});
