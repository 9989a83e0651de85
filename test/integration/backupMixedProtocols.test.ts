/**
 * Backup ingest across protocols: an OBS-like ffmpeg encoder on the room's
 * primary key over RTMP (640x360 at 30 fps) and another on its backup key
 * over SRT (426x240 at 15 fps), both H.264 Main without B-frames (copied).
 *
 *  - The LL-HLS playlist of the room has parts, and a part is served.
 *  - SIGSTOP of the RTMP encoder: every werift viewer gets the SRT backup's
 *    frames on its one consumer, within the 2 s target; HLS goes on after an
 *    EXT-X-DISCONTINUITY with parts cut from the SRT picture.
 *  - SIGCONT: fail-back to the RTMP primary after INGEST_FAILBACK_S.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { freeTcpPort, freeUdpPort, ingestFfmpegPids, startObsLikeEncoder } from '../helpers/obsLikeEncoder.js';
import { MediaGapMonitor } from '../helpers/mediaGapMonitor.js';
import type { TrackedProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { assertOneConsumerEach, frameRate, frameRateOnAir, mediaPlaylistUrl } from '../helpers/programChecks.js';

const ROOM = 'backup-mixed';
const FAILBACK_S = 3;
const SWITCH_LIMIT_MS = 2000;
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-backup-mixed-keys-'));

let server: FloodlightServer;
let rtmpPort: number;
let srtPort: number;
const encoders: TrackedProcess[] = [];
const viewers: HeadlessViewer[] = [];

before(async () => {
  rtmpPort = await freeTcpPort();
  srtPort = await freeUdpPort();
  server = await startTestServer({
    STREAM_KEYS_DIR: keysDir,
    RTMP_PORT: String(rtmpPort),
    SRT_PORT: String(srtPort),
    INGEST_FAILBACK_S: String(FAILBACK_S),
    HLS_RENDITIONS: '240',
  });
});

after(async () => {
  for (const viewer of viewers) await viewer.close();
  for (const encoder of encoders) await encoder.stop({ signal: 'SIGKILL' });
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

/** The parts listed after `marker` (or anywhere), as URLs. */
function partsAfter(playlist: string, playlistUrl: string, marker?: string): string[] {
  const from = marker === undefined ? 0 : playlist.indexOf(marker);
  if (from < 0) return [];
  return [...playlist.slice(from).matchAll(/^#EXT-X-PART:.*URI="([^"]+)"/gm)].map((m) => new URL(m[1]!, playlistUrl).href);
}

async function assertPartServed(url: string): Promise<void> {
  const response = await fetch(url);
  const body = Buffer.from(await response.arrayBuffer());
  assert.equal(response.status, 200, url);
  assert.ok(body.length > 0 && body.includes('moof'), `${url} is a CMAF part (${body.length} bytes)`);
}

function slotHealthy(slot: 'primary' | 'backup'): boolean {
  return (
    server.rooms
      .get(ROOM)
      ?.programStatus()
      .slots.find((s) => s.slot === slot)?.healthy === true
  );
}

test('RTMP primary, SRT backup: SIGSTOP switches every viewer to the SRT picture within 2 s; LL-HLS goes on with parts; fail-back after SIGCONT', async (t) => {
  const primaryKey = (await server.streamKeys.create(ROOM, 'primary')).key;
  const backupKey = (await server.streamKeys.create(ROOM, 'backup')).key;
  const primary = startObsLikeEncoder(`rtmp://127.0.0.1:${rtmpPort}/live/${primaryKey}`, { profile: 'main', bFrames: 0 });
  encoders.push(primary);
  await waitFor(() => slotHealthy('primary'), { description: 'the RTMP primary to deliver video', timeoutMs: 30_000, progress: () => primary.output() });
  const backup = startObsLikeEncoder(`srt://127.0.0.1:${srtPort}?streamid=${backupKey}&latency=120000`, {
    profile: 'main',
    bFrames: 0,
    size: '426x240',
    fps: 15,
  });
  encoders.push(backup);
  await waitFor(() => slotHealthy('backup'), { description: 'the SRT backup to deliver video', timeoutMs: 30_000, progress: () => backup.output() });
  const room = server.rooms.get(ROOM)!;
  assert.equal(room.programStatus().active, 'primary');
  assert.deepEqual(
    room
      .sources()
      .map((s) => `${s.slot}:${s.protocol}`)
      .sort(),
    ['backup:srt', 'primary:rtmp'],
  );

  // LL-HLS from the RTMP primary: parts listed and served.
  const playlistUrl = await mediaPlaylistUrl(server.url, ROOM);
  const firstParts = await waitFor(
    async () => {
      const parts = partsAfter(await (await fetch(playlistUrl)).text(), playlistUrl);
      return parts.length >= 3 ? parts : undefined;
    },
    { description: 'LL-HLS parts of the RTMP primary', timeoutMs: 30_000 },
  );
  await assertPartServed(firstParts.at(-1)!);

  for (const name of ['viewer-a', 'viewer-b']) viewers.push(new HeadlessViewer({ url: server.url, room: ROOM, name }));
  await Promise.all(viewers.map((v) => v.join()));
  await Promise.all(viewers.map((v) => v.waitForNewFrames(30, 20_000)));
  const primaryRate = await frameRateOnAir(viewers[0]!, () => room.programStatus(), 'primary');
  assert.ok(primaryRate > 24, `the RTMP primary's 30 fps reach the viewer (${primaryRate.toFixed(1)} fps)`);

  const monitors = viewers.map((v) => new MediaGapMonitor(() => v.stats().video.packets));
  primary.kill('SIGSTOP');
  const stoppedAt = Date.now();
  try {
    await waitFor(() => monitors.every((m) => m.resumedAfter(stoppedAt) !== undefined), {
      description: 'every viewer to receive video again after the RTMP primary stalled',
      timeoutMs: 15_000,
      progress: () => JSON.stringify(room.programStatus()),
    });
    const interruptions = monitors.map((m) => m.interruptionMs(stoppedAt)!);
    t.diagnostic(`video back at the viewers ${interruptions.join(' / ')} ms after SIGSTOP of the RTMP encoder`);
    for (const [i, ms] of interruptions.entries())
      assert.ok(ms <= SWITCH_LIMIT_MS, `${viewers[i]!.name}: video back after ${ms} ms (limit ${SWITCH_LIMIT_MS})`);
    assert.equal(room.programStatus().active, 'backup');
    assert.equal(room.programStatus().lastSwitch?.reason, 'stall');
    const backupRate = await frameRate(viewers[0]!);
    assert.ok(backupRate < 20 && backupRate > 8, `the SRT backup's 15 fps picture now (${backupRate.toFixed(1)} fps)`);
    assertOneConsumerEach(viewers);

    // HLS on the same URL: a discontinuity, then parts of the SRT picture, served.
    const srtParts = await waitFor(
      async () => {
        const parts = partsAfter(await (await fetch(playlistUrl)).text(), playlistUrl, '#EXT-X-DISCONTINUITY\n');
        return parts.length >= 3 ? parts : undefined;
      },
      { description: 'LL-HLS parts after an EXT-X-DISCONTINUITY (the SRT backup)', timeoutMs: 30_000 },
    );
    await assertPartServed(srtParts.at(-1)!);
  } finally {
    primary.kill('SIGCONT');
  }

  await waitFor(() => room.programStatus().active === 'primary', {
    description: `fail-back to the RTMP primary after ${FAILBACK_S} s healthy`,
    timeoutMs: 30_000,
    progress: () => JSON.stringify(room.programStatus().slots),
  });
  assert.equal(room.programStatus().lastSwitch?.reason, 'failback');
  await Promise.all(viewers.map((v) => v.waitForNewFrames(30, 10_000)));
  const backAgain = await frameRateOnAir(viewers[0]!, () => room.programStatus(), 'primary');
  assert.ok(backAgain > 24, `the RTMP primary's 30 fps again (${backAgain.toFixed(1)} fps)`);
  for (const m of monitors) m.stop();

  // Both encoders gone: both ingests end, their ffmpegs too.
  for (const encoder of encoders) await encoder.stop({ signal: 'SIGKILL' });
  await waitFor(() => server.encoderIngests.size === 0 && ingestFfmpegPids().length === 0 && room.sources().length === 0, {
    description: 'both ingests and their ffmpegs to end with their encoders',
    timeoutMs: 20_000,
  });
});
