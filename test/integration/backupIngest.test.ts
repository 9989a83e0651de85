/**
 * Backup ingest against a real server: two OBS-like WHIP encoders
 * (node-datachannel + ffmpeg) on a room's primary and backup keys, with
 * visibly different pictures (640x360 at 30 fps vs 426x240 at 15 fps);
 * werift viewers that must keep their one audio and one video consumer.
 *
 *  1. SIGSTOP the primary's ffmpeg: every viewer gets the backup's frames
 *     within 2 s (the frame rate halves), RTP sequence numbers continuous;
 *     HLS continues on the same URL after an EXT-X-DISCONTINUITY; alert,
 *     signed webhook and metric. SIGCONT: fail-back after INGEST_FAILBACK_S.
 *  2. Manual switch through the admin API, and its bad input.
 *  3. SIGKILL of the primary's ffmpeg, then the primary leaving: switch;
 *     an empty slot is refused.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodeDataChannel from 'node-datachannel';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import type { ProgramStatus } from '../../server/contracts/programApi.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { WhipEncoder } from '../helpers/whipEncoder.js';
import { MediaGapMonitor } from '../helpers/mediaGapMonitor.js';
import { waitFor } from '../helpers/wait.js';
import { assertOneConsumerEach, frameRate, frameRateOnAir, mediaPlaylistUrl } from '../helpers/programChecks.js';
import { WebhookReceiver } from '../../scripts/drill/webhookReceiver.js';

const ROOM = 'backup-live';
const FAILBACK_S = 3;
/** The target: frames from the backup within 2 s of the primary's last packet. */
const SWITCH_LIMIT_MS = 2000;
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-backup-keys-'));
const tokens = new TokenService(TEST_AUTH_SECRET);

let server: FloodlightServer;
let hooks: WebhookReceiver;
let adminToken: string;
let primary: WhipEncoder;
let backup: WhipEncoder;
const viewers: HeadlessViewer[] = [];

const api = (method: string, body?: unknown, token: string | undefined = adminToken, room = ROOM) =>
  fetch(`${server.url}/api/rooms/${room}/program`, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}),
  });

const status = async (): Promise<ProgramStatus> => (await (await api('GET')).json()) as ProgramStatus;

async function createKey(slot: 'primary' | 'backup'): Promise<string> {
  const response = await fetch(`${server.url}/api/rooms/${ROOM}/keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ slot }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { key: { key: string } }).key.key;
}

async function connect(slot: 'primary' | 'backup', encoder: WhipEncoder, key: string): Promise<void> {
  const response = await encoder.publish(`${server.url}/whip/${ROOM}`, key);
  assert.equal(response.status, 201, await response.text());
  await encoder.startMedia();
  await waitFor(
    () =>
      server.rooms
        .get(ROOM)
        ?.programStatus()
        .slots.find((s) => s.slot === slot)?.healthy === true,
    {
      description: `the ${slot} encoder to deliver video`,
      timeoutMs: 20_000,
    },
  );
}

before(async () => {
  hooks = await WebhookReceiver.start('backup-webhook-secret');
  server = await startTestServer({
    STREAM_KEYS_DIR: keysDir,
    INGEST_FAILBACK_S: String(FAILBACK_S),
    HLS_RENDITIONS: '240',
    WEBHOOK_URLS: hooks.url,
    WEBHOOK_SECRET: hooks.secret,
  });
  adminToken = await tokens.issue({ room: '*', role: 'admin' }, 600);
  primary = new WhipEncoder({ name: 'primary', video: { width: 640, height: 360, fps: 30, keyframeIntervalSec: 0.5 }, toneHz: 440 });
  backup = new WhipEncoder({
    name: 'backup',
    audioSsrc: 0x2222_0001,
    videoSsrc: 0x2222_0002,
    video: { width: 426, height: 240, fps: 15, bitrateKbps: 400, keyframeIntervalSec: 0.5 },
    toneHz: 660,
  });
});

after(async () => {
  for (const viewer of viewers) await viewer.close();
  await primary?.close();
  await backup?.close();
  await server?.close();
  await hooks?.close();
  // Every libdatachannel peer of this file is closed: release libdatachannel before exit.
  nodeDataChannel.cleanup();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

test('a stalled primary: viewers get the backup within 2 s on their one consumer; HLS marks a discontinuity; alert, webhook, metric; fail-back after SIGCONT', async (t) => {
  await connect('primary', primary, await createKey('primary'));
  await connect('backup', backup, await createKey('backup'));
  const room = server.rooms.get(ROOM)!;
  assert.equal(room.programStatus().active, 'primary');
  assert.equal(room.programStatus().relayed, true, 'a room with a backup is relayed');

  const playlistUrl = await mediaPlaylistUrl(server.url, ROOM);
  await waitFor(async () => (await (await fetch(playlistUrl)).text()).split('#EXTINF:').length > 2, {
    description: 'two HLS segments of the primary',
    timeoutMs: 30_000,
  });
  for (const name of ['viewer-a', 'viewer-b']) viewers.push(new HeadlessViewer({ url: server.url, room: ROOM, name }));
  await Promise.all(viewers.map((v) => v.join()));
  await Promise.all(viewers.map((v) => v.waitForNewFrames(30, 20_000)));
  const primaryRate = await frameRateOnAir(viewers[0]!, () => room.programStatus(), 'primary');
  assert.ok(primaryRate > 24, `the primary's 30 fps reach the viewer (${primaryRate.toFixed(1)} fps)`);

  const monitors = viewers.map((v) => new MediaGapMonitor(() => v.stats().video.packets));
  primary.signalMedia('SIGSTOP');
  const stoppedAt = Date.now();
  try {
    await waitFor(() => monitors.every((m) => m.resumedAfter(stoppedAt) !== undefined), {
      description: 'every viewer to receive video again after the primary stalled',
      timeoutMs: 10_000,
      progress: () => JSON.stringify(room.programStatus()),
    });
    const interruptions = monitors.map((m) => m.interruptionMs(stoppedAt)!);
    t.diagnostic(`video back at the viewers ${interruptions.join(' / ')} ms after SIGSTOP`);
    for (const [i, ms] of interruptions.entries())
      assert.ok(ms <= SWITCH_LIMIT_MS, `${viewers[i]!.name}: video back after ${ms} ms (limit ${SWITCH_LIMIT_MS})`);
    const afterStall = room.programStatus();
    assert.equal(afterStall.active, 'backup');
    assert.equal(afterStall.lastSwitch?.reason, 'stall');

    const backupRate = await frameRate(viewers[0]!);
    assert.ok(backupRate < 20 && backupRate > 8, `the backup's 15 fps picture now (${backupRate.toFixed(1)} fps)`);
    assertOneConsumerEach(viewers);

    // HLS: the same URL goes on across the encoder change, with a discontinuity (another size).
    await waitFor(
      async () => {
        const text = await (await fetch(playlistUrl)).text();
        const at = text.indexOf('#EXT-X-DISCONTINUITY\n');
        return at >= 0 && text.slice(at).split('#EXTINF:').length > 2;
      },
      { description: 'an EXT-X-DISCONTINUITY followed by two new segments', timeoutMs: 30_000 },
    );

    const alert = server.alerts.active().find((a) => a.rule === 'ingest_failover' && a.room === ROOM);
    assert.ok(alert, 'ingest_failover fires while on the backup');
    assert.equal(alert.severity, 'warning');
    assert.match(alert.message, /backup encoder .*stopped sending video/);
  } finally {
    primary.signalMedia('SIGCONT');
  }

  const resumedAt = Date.now();
  await waitFor(() => room.programStatus().active === 'primary', {
    description: `fail-back after ${FAILBACK_S} s of a healthy primary`,
    timeoutMs: 20_000,
    progress: () => JSON.stringify(room.programStatus().slots),
  });
  const failbackMs = Date.now() - resumedAt;
  assert.ok(failbackMs >= FAILBACK_S * 1000 - 300, `not before INGEST_FAILBACK_S (${failbackMs} ms)`);
  assert.equal(room.programStatus().lastSwitch?.reason, 'failback');
  await Promise.all(viewers.map((v) => v.waitForNewFrames(30, 10_000)));
  const backAgain = await frameRateOnAir(viewers[0]!, () => room.programStatus(), 'primary');
  assert.ok(backAgain > 24, `the primary's 30 fps again (${backAgain.toFixed(1)} fps)`);
  assertOneConsumerEach(viewers);
  for (const m of monitors) m.stop();

  assert.ok(server.alerts.history().some((a) => a.rule === 'ingest_failover' && a.room === ROOM && a.state === 'resolved'));
  await waitFor(() => hooks.deliveries.filter((d) => d.type === 'ingest.switched').length >= 2, { description: 'two ingest.switched webhooks' });
  assert.ok(
    hooks.deliveries.filter((d) => d.type === 'ingest.switched').every((d) => d.signatureOk),
    'signed',
  );
  const metrics = await (await fetch(`${server.url}/metrics`, { headers: { Authorization: `Bearer ${adminToken}` } })).text();
  assert.match(metrics, /floodlight_ingest_switches_total\{reason="stall"\} 1\b/);
  assert.match(metrics, /floodlight_ingest_switches_total\{reason="failback"\} 1\b/);
});

test('manual switch through the admin API; bad input gets a clear error and changes nothing', async () => {
  const viewerToken = await tokens.issue({ room: ROOM, role: 'viewer' }, 600);
  const cases: [string, () => Promise<Response>, number, string][] = [
    ['no token', () => api('POST', { slot: 'backup' }, ''), 401, 'UNAUTHORIZED'],
    ['a viewer token', () => api('POST', { slot: 'backup' }, viewerToken), 403, 'FORBIDDEN'],
    ['an unknown slot', () => api('POST', { slot: 'tertiary' }), 400, 'BAD_REQUEST'],
    ['extra fields', () => api('POST', { slot: 'backup', force: true }), 400, 'BAD_REQUEST'],
    ['not JSON', () => api('POST', '{slot:'), 400, 'BAD_REQUEST'],
    ['an oversized body', () => api('POST', { slot: 'backup', pad: 'x'.repeat(4000) }), 413, 'PAYLOAD_TOO_LARGE'],
    ['an unknown room', () => api('POST', { slot: 'backup' }, adminToken, 'no-such-room'), 404, 'NOT_FOUND'],
    ['a bad room name', () => api('GET', undefined, adminToken, 'bad%20room'), 400, 'BAD_REQUEST'],
  ];
  const shape = async (): Promise<string> => {
    const now = await status();
    return JSON.stringify({ slots: now.slots.map((s) => [s.slot, s.present]), active: now.active, switches: now.switches });
  };
  const before = await shape();
  for (const [name, request, code, errorCode] of cases) {
    const response = await request();
    const body = (await response.json()) as { error?: { code: string; message: string } };
    assert.equal(response.status, code, `${name}: ${JSON.stringify(body)}`);
    assert.equal(body.error?.code, errorCode, name);
    assert.ok(body.error.message.length > 0, name);
  }
  assert.equal(await shape(), before, 'nothing changed');

  const toBackup = await api('POST', { slot: 'backup' });
  assert.equal(toBackup.status, 200);
  const pinned = (await toBackup.json()) as ProgramStatus;
  assert.equal(pinned.active, 'backup');
  assert.equal(pinned.pinned, 'backup');
  assert.equal(pinned.lastSwitch?.reason, 'manual');
  await Promise.all(viewers.map((v) => v.waitForNewFrames(15, 10_000)));
  const rate = await frameRate(viewers[1]!);
  assert.ok(rate < 20, `the backup's picture (${rate.toFixed(1)} fps)`);
  // Pinned: no fail-back although the primary is healthy.
  // Watched until the primary has been healthy for longer than the fail-back delay.
  let healthySince: number | undefined;
  let failedBack = false;
  await waitFor(
    async () => {
      const now = await status();
      if (now.active !== 'backup') return (failedBack = true);
      if (!now.slots.find((s) => s.slot === 'primary')?.healthy) healthySince = undefined;
      else healthySince ??= Date.now();
      return healthySince !== undefined && Date.now() - healthySince > (FAILBACK_S + 0.5) * 1000;
    },
    { description: 'the primary healthy for longer than the fail-back delay', timeoutMs: 30_000 },
  );
  assert.equal(failedBack, false, 'pinned: no automatic fail-back');
  const toPrimary = await api('POST', { slot: 'primary' });
  assert.equal(toPrimary.status, 200);
  assert.equal(((await toPrimary.json()) as ProgramStatus).active, 'primary');
  await Promise.all(viewers.map((v) => v.waitForNewFrames(30, 10_000)));
  assertOneConsumerEach(viewers);
});

test('a killed primary encoder, then one that leaves: the backup takes over; an empty slot is refused', async (t) => {
  const room = server.rooms.get(ROOM)!;
  const monitors = viewers.map((v) => new MediaGapMonitor(() => v.stats().video.packets));
  primary.signalMedia('SIGKILL');
  const killedAt = Date.now();
  await waitFor(() => monitors.every((m) => m.resumedAfter(killedAt) !== undefined), {
    description: 'every viewer to receive the backup after the primary was killed',
    timeoutMs: 10_000,
  });
  t.diagnostic(`video back at the viewers ${monitors.map((m) => m.interruptionMs(killedAt)).join(' / ')} ms after SIGKILL`);
  for (const m of monitors) {
    assert.ok(m.interruptionMs(killedAt)! <= SWITCH_LIMIT_MS, `video back after ${m.interruptionMs(killedAt)} ms`);
    m.stop();
  }
  assert.equal(room.programStatus().active, 'backup');

  // The primary's WHIP session ends (what OBS does on stop): the slot empties, the backup stays on air.
  assert.equal(await primary.unpublish(), 200);
  await waitFor(() => !room.programStatus().slots.find((s) => s.slot === 'primary')!.present, { description: 'the primary slot to empty' });
  const refused = await api('POST', { slot: 'primary' });
  assert.equal(refused.status, 409);
  assert.equal(((await refused.json()) as { error: { code: string } }).error.code, 'SLOT_EMPTY');
  assert.equal(room.programStatus().active, 'backup');
  await Promise.all(viewers.map((v) => v.waitForNewFrames(15, 10_000)));
  assertOneConsumerEach(viewers);
});
