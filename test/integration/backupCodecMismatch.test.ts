/**
 * A backup whose codec differs from the room's: the program relay carries
 * one codec per track, so the server makes the two slots agree instead of
 * ending the viewers' tracks at a switch.
 *
 *  1. A VP8 WHIP primary (GStreamer's whip-client) and an RTMP backup sending
 *     H.264: the RTMP ingest is re-encoded to VP8 (the health says why), and
 *     when the primary stalls (SIGSTOP) the viewer gets the backup's frames on
 *     its one VP8 consumer, without rejoining.
 *  2. An H.264 RTMP primary: a WHIP backup offering VP8 only is refused with
 *     422 problem+json naming H.264 and allocates nothing; one offering VP8
 *     first and H.264 too (Chromium) is given H.264.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import type { IngestHealth, RoomIngestStats } from '../../server/contracts/ingestHealth.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { HeadlessPublisher } from '../helpers/headlessPublisher.js';
import { GstreamerWhipClient } from '../helpers/gstreamerWhipClient.js';
import { freeTcpPort, ingestFfmpegPids, startObsLikeEncoder } from '../helpers/obsLikeEncoder.js';
import { assertOneConsumerEach, frameRate, frameRateOnAir } from '../helpers/programChecks.js';
import { stopAllTracked } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const fixtures = path.join(import.meta.dirname, '../fixtures/whip');
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-backup-codec-keys-'));
let server: FloodlightServer;
let rtmpPort: number;

before(async () => {
  rtmpPort = await freeTcpPort();
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, RTMP_PORT: String(rtmpPort), HLS_ENABLED: 'false', INGEST_FAILBACK_S: '3' });
});

after(async () => {
  await stopAllTracked();
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

const videoCodecOf = (room: string, slot: 'primary' | 'backup'): string | undefined =>
  server.rooms
    .get(room)
    ?.sources()
    .find((s) => s.slot === slot)
    ?.tracks()
    .find((t) => t.kind === 'video')?.producer.rtpParameters.codecs[0]?.mimeType;

const slotHealthy = (room: string, slot: 'primary' | 'backup'): boolean =>
  server.rooms
    .get(room)
    ?.programStatus()
    .slots.find((s) => s.slot === slot)?.healthy === true;

async function ingestOf(room: string): Promise<IngestHealth[]> {
  const response = await fetch(`${server.url}/api/rooms/${room}/stats`);
  return response.status === 200 ? ((await response.json()) as RoomIngestStats).ingest : [];
}

async function ingestsGone(room: string): Promise<void> {
  await waitFor(
    () => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0 && server.whip.size === 0 && !server.rooms.get(room)?.sources().length,
    {
      description: `every ingest of ${room} to end`,
      timeoutMs: 20_000,
    },
  );
}

test('a VP8 WHIP primary and an H.264 RTMP backup: the backup is re-encoded to VP8; a stall switches the viewer on its one consumer', async () => {
  const room = 'codec-vp8-room';
  const primaryKey = (await server.streamKeys.create(room, 'primary')).key;
  const backupKey = (await server.streamKeys.create(room, 'backup')).key;
  const primary = new GstreamerWhipClient({ url: `${server.url}/whip/${room}`, token: primaryKey, video: 'vp8' });
  const viewer = new HeadlessViewer({ url: server.url, room, name: 'codec-viewer' });
  const backup = startObsLikeEncoder(`rtmp://127.0.0.1:${rtmpPort}/live/${backupKey}`, { profile: 'main', bFrames: 0, size: '426x240', fps: 15 });
  try {
    await waitFor(() => slotHealthy(room, 'primary'), {
      description: 'the VP8 WHIP primary to deliver video',
      timeoutMs: 30_000,
      progress: () => primary.output(),
    });
    await waitFor(() => slotHealthy(room, 'backup'), { description: 'the RTMP backup to deliver video', timeoutMs: 30_000, progress: () => backup.output() });
    assert.equal(videoCodecOf(room, 'primary'), 'video/VP8');
    assert.equal(videoCodecOf(room, 'backup'), 'video/VP8', 'the RTMP backup is re-encoded to the room’s VP8');
    const health = (await ingestOf(room)).find((i) => i.protocol === 'rtmp');
    assert.equal(health?.video?.codec, 'H.264', 'the encoder sends H.264');
    assert.equal(health.video.handling, 'transcode');
    assert.match(health.video.reason ?? '', /VP8, from the primary encoder \(whip\)/);

    await viewer.join();
    await viewer.waitForNewFrames(30, 20_000);
    assert.equal(
      viewer
        .stats()
        .consumers.find((c) => c.kind === 'video')
        ?.mimeType.toLowerCase(),
      'video/vp8',
    );
    // The primary can stall for a moment while the machine is busy starting the re-encode: its rate is read while it is on air.
    const primaryRate = await frameRateOnAir(viewer, () => server.rooms.get(room)!.programStatus(), 'primary');
    assert.ok(primaryRate > 24, `the WHIP primary's 30 fps (${primaryRate.toFixed(1)} fps)`);

    primary.process.kill('SIGSTOP');
    try {
      await waitFor(() => server.rooms.get(room)?.programStatus().active === 'backup', {
        description: 'the switch to the RTMP backup after the primary stalled',
        timeoutMs: 10_000,
      });
      await viewer.waitForNewFrames(30, 10_000);
      const backupRate = await frameRate(viewer);
      assert.ok(backupRate < 20 && backupRate > 8, `the RTMP backup's 15 fps, as VP8 (${backupRate.toFixed(1)} fps)`);
      assert.ok(viewer.stats().video.keyframes >= 2, 'the backup started on a VP8 key frame');
      assertOneConsumerEach([viewer]);
    } finally {
      primary.process.kill('SIGCONT');
    }
  } finally {
    await viewer.close();
    await primary.stop();
    await backup.stop({ signal: 'SIGKILL' });
  }
  await ingestsGone(room);
});

test('an H.264 RTMP primary: a VP8-only WHIP backup gets 422 naming H.264 and allocates nothing; a Chromium offer is given H.264', async () => {
  const room = 'codec-h264-room';
  const primaryKey = (await server.streamKeys.create(room, 'primary')).key;
  const backupKey = (await server.streamKeys.create(room, 'backup')).key;
  const primary = startObsLikeEncoder(`rtmp://127.0.0.1:${rtmpPort}/live/${primaryKey}`, { profile: 'main', bFrames: 0 });
  try {
    await waitFor(() => slotHealthy(room, 'primary'), {
      description: 'the RTMP primary to deliver video',
      timeoutMs: 30_000,
      progress: () => primary.output(),
    });
    assert.equal(videoCodecOf(room, 'primary'), 'video/H264');
    const post = (sdp: string) =>
      fetch(`${server.url}/whip/${room}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${backupKey}` }, body: sdp });

    const counts = JSON.stringify({ ...server.pool.counts(), whip: server.whip.size, sources: server.rooms.get(room)?.sources().length });
    const vp8Only = await post(fs.readFileSync(path.join(fixtures, 'obs-libdatachannel.sdp'), 'utf8').replace('H264/90000', 'VP8/90000'));
    const problem = (await vp8Only.json()) as { status: number; detail: string };
    assert.equal(vp8Only.status, 422, problem.detail);
    assert.match(vp8Only.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.match(problem.detail, /the room's video is H264, from the primary encoder \(rtmp\); this encoder offers VP8: send H264/);
    assert.equal(
      JSON.stringify({ ...server.pool.counts(), whip: server.whip.size, sources: server.rooms.get(room)?.sources().length }),
      counts,
      'nothing allocated',
    );

    const chromium = await post(fs.readFileSync(path.join(fixtures, 'chromium.sdp'), 'utf8'));
    const answer = await chromium.text();
    assert.equal(chromium.status, 201, answer);
    assert.equal(videoCodecOf(room, 'backup'), 'video/H264', "Chromium's offer (VP8 first) is given the room's H.264");
    assert.match(answer, /a=rtpmap:\d+ H264\/90000/);
    assert.doesNotMatch(answer, /VP8/);
    assert.equal((await fetch(new URL(chromium.headers.get('location')!, server.url), { method: 'DELETE' })).status, 200);
  } finally {
    await primary.stop({ signal: 'SIGKILL' });
  }
  await ingestsGone(room);
});

test('an H.264 RTMP backup: a socket.io publisher sending VP8 is refused with CODEC_MISMATCH; one sending H.264 publishes', async () => {
  const room = 'codec-browser-room';
  const backupKey = (await server.streamKeys.create(room, 'backup')).key;
  const backup = startObsLikeEncoder(`rtmp://127.0.0.1:${rtmpPort}/live/${backupKey}`, { profile: 'main', bFrames: 0, size: '426x240', fps: 15 });
  const token = await server.tokens.issue({ room, role: 'publisher' }, 600);
  const video = { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 1 };
  const vp8 = new HeadlessPublisher({ url: server.url, room, token, name: 'vp8-publisher', video: { ...video, codec: 'VP8' } });
  const h264 = new HeadlessPublisher({ url: server.url, room, token, name: 'h264-publisher', video: { ...video, codec: 'H264' } });
  try {
    await waitFor(() => slotHealthy(room, 'backup'), { description: 'the RTMP backup to deliver video', timeoutMs: 30_000, progress: () => backup.output() });
    assert.equal(videoCodecOf(room, 'backup'), 'video/H264');

    await assert.rejects(vp8.publish(), (error: Error & { code?: string }) => {
      assert.equal(error.code, 'CODEC_MISMATCH', error.message);
      assert.match(error.message, /the room's video is H264, from the backup encoder \(rtmp\); this publisher sends VP8: send H264/);
      return true;
    });
    assert.equal(videoCodecOf(room, 'primary'), undefined, 'no VP8 video producer was made');

    await h264.publish();
    await waitFor(() => slotHealthy(room, 'primary'), { description: 'the H.264 browser primary to deliver video', timeoutMs: 30_000 });
    assert.equal(videoCodecOf(room, 'primary'), 'video/H264');
  } finally {
    await vp8.close();
    await h264.close();
    await backup.stop({ signal: 'SIGKILL' });
  }
  await waitFor(() => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0 && !server.rooms.get(room)?.sources().length, {
    description: `every source of ${room} to end`,
    timeoutMs: 20_000,
  });
});
