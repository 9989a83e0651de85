/**
 * Alerts against real media: a publisher whose video stalls fires
 * stream_stalled and resolves it when video flows again; a stopped HLS
 * recorder fires hls_stale; a SIGKILLed worker fires worker_died, resolved by
 * its replacement. Events reach a local webhook receiver (signatures checked)
 * and the /admin socket; an unreachable webhook endpoint is reported and
 * doesn't disturb viewers.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { io as ioClient, type Socket } from 'socket.io-client';
import type { FloodlightServer } from '../../server/app.js';
import type { Alert, Overview, RoomStats } from '../../server/contracts/adminApi.js';
import { verifyWebhookSignature } from '../../server/alerts/webhookSignature.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'webhook-secret-for-tests-0123456789';
const STALL_SECONDS = 2;

interface Delivery {
  raw: string;
  signature: string | undefined;
  eventId: string | undefined;
  body: { type: string; alert: Alert; sentAt: string };
}

let server: FloodlightServer;
let receiver: http.Server;
let deadPort: number;
const deliveries: Delivery[] = [];
let peers: Array<HeadlessPublisher | HeadlessViewer> = [];
let admin: Socket;
const pushed: { alerts: Alert[]; overviews: Overview[] } = { alerts: [], overviews: [] };

async function listen(srv: http.Server): Promise<number> {
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as AddressInfo).port;
}

before(async () => {
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      deliveries.push({
        raw,
        signature: req.headers['x-floodlight-signature'] as string | undefined,
        eventId: req.headers['x-floodlight-event-id'] as string | undefined,
        body: JSON.parse(raw) as Delivery['body'],
      });
      res.writeHead(204).end();
    });
  });
  const goodPort = await listen(receiver);
  // A port nobody listens on: connections are refused.
  const closed = http.createServer();
  deadPort = await listen(closed);
  await new Promise<void>((resolve) => closed.close(() => resolve()));

  server = await startTestServer({
    STATS_INTERVAL_SECONDS: '1',
    ALERT_STALL_SECONDS: String(STALL_SECONDS),
    ALERT_HLS_STALE_SECONDS: '3',
    WEBHOOK_URLS: `http://127.0.0.1:${goodPort}/hooks/floodlight,http://127.0.0.1:${deadPort}/hook?token=secret`,
    WEBHOOK_SECRET: SECRET,
  });
  const token = await server.tokens.issue({ room: '*', role: 'admin' }, 600);
  admin = ioClient(`${server.url}/admin`, { transports: ['websocket'], auth: { token }, forceNew: true, reconnection: false });
  admin.on('alert', (alert: Alert) => pushed.alerts.push(alert));
  admin.on('overview', (overview: Overview) => pushed.overviews.push(overview));
  await new Promise<void>((resolve, reject) => {
    admin.once('connect', () => resolve());
    admin.once('connect_error', reject);
  });
});

afterEach(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  peers = [];
});

after(async () => {
  // Each is undefined when before() failed before making it.
  (admin as Socket | undefined)?.disconnect();
  await (server as FloodlightServer | undefined)?.close();
  const listening = receiver as http.Server | undefined;
  if (listening) await new Promise<void>((resolve) => listening.close(() => resolve()));
});

async function publish(room: string): Promise<HeadlessPublisher> {
  const publisher = await publishLight(server, room);
  peers.push(publisher);
  return publisher;
}

async function waitForFrames(list: HeadlessViewer[], frames: number, description: string): Promise<void> {
  const start = list.map((v) => v.stats().video.completeFrames);
  await waitFor(() => list.every((v, i) => v.stats().video.completeFrames - start[i]! >= frames), {
    description,
    timeoutMs: 20_000,
    progress: () => list.map((v) => v.summary()).join(' | '),
  });
}

async function adminGet<T>(path: string): Promise<T> {
  const token = await server.tokens.issue({ room: '*', role: 'admin' }, 60);
  const response = await fetch(`${server.url}${path}`, { headers: { Authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  return (await response.json()) as T;
}

function deliveryFor(alertId: string, type: 'alert.fired' | 'alert.resolved'): Delivery | undefined {
  return deliveries.find((d) => d.body.alert.id === alertId && d.body.type === type);
}

function checkSignature(delivery: Delivery): void {
  assert.ok(delivery.signature, 'signature header');
  assert.match(delivery.signature, /^t=\d+,v1=[0-9a-f]{64}$/);
  assert.match(delivery.eventId ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(verifyWebhookSignature(SECRET, delivery.signature, delivery.raw, 300), true, 'signature verifies');
  assert.equal(verifyWebhookSignature(SECRET, delivery.signature, delivery.raw.replace('"alert', '"alerT'), 300), false, 'tampered body');
  assert.equal(verifyWebhookSignature('not-the-secret-not-the-secret', delivery.signature, delivery.raw, 300), false, 'wrong secret');
  assert.equal(verifyWebhookSignature(SECRET, delivery.signature, delivery.raw, 300, Date.now() / 1000 + 3600), false, 'too old');
  assert.ok(Math.abs(Date.parse(delivery.body.sentAt) - Date.now()) < 60_000);
}

test('the /admin namespace refuses missing and non-admin tokens', async () => {
  const attempt = async (auth: Record<string, unknown>) => {
    const socket = ioClient(`${server.url}/admin`, { transports: ['websocket'], auth, forceNew: true, reconnection: false });
    try {
      return await new Promise<string>((resolve) => {
        socket.once('connect', () => resolve('connected'));
        socket.once('connect_error', (error) => resolve(error.message));
      });
    } finally {
      socket.disconnect();
    }
  };
  assert.equal(await attempt({}), 'UNAUTHORIZED');
  assert.equal(await attempt({ token: 'not-a-jwt' }), 'UNAUTHORIZED');
  assert.equal(await attempt({ token: await server.tokens.issue({ room: 'a', role: 'viewer' }, 60) }), 'FORBIDDEN');
  assert.equal(await attempt({ token: await server.tokens.issue({ room: 'a', role: 'publisher' }, 60) }), 'FORBIDDEN');
  assert.equal(await attempt({ token: await server.tokens.issue({ room: '*', role: 'admin' }, 60) }), 'connected');
  await waitFor(() => pushed.overviews.length >= 2, { description: 'overview pushed every 2 s', timeoutMs: 6000 });
  assert.equal(pushed.overviews.at(-1)!.workers.length, 2);
});

test(
  'a stalled publisher fires stream_stalled; resuming resolves it; webhooks are signed; a dead endpoint does not disturb viewers',
  { timeout: 120_000 },
  async () => {
    const publisher = await publish('stall');
    const viewers = [
      new HeadlessViewer({ url: server.url, room: 'stall', name: 'viewer-0' }),
      new HeadlessViewer({ url: server.url, room: 'stall', name: 'viewer-1' }),
    ];
    peers.push(...viewers);
    await Promise.all(viewers.map((v) => v.join()));
    await waitForFrames(viewers, 15, 'frames before the stall');
    // Healthy stream: no stall alert, over sampling passes (the rules run on each) spanning more than ALERT_STALL_SECONDS.
    const lastSampleAt = async (): Promise<number> => {
      const stats = (await (await fetch(`${server.url}/api/rooms/stall/stats`)).json()) as RoomStats;
      return stats.history.at(-1)?.t ?? 0;
    };
    const firstSampleAt = await lastSampleAt();
    await waitFor(async () => (await lastSampleAt()) - firstSampleAt >= (STALL_SECONDS + 1) * 1000, {
      description: `stats samples of the healthy stream spanning ${STALL_SECONDS + 1} s`,
      timeoutMs: 20_000,
    });
    assert.equal(server.alerts.active().filter((a) => a.rule === 'stream_stalled').length, 0, 'no stall while video flows');

    const pausedAt = Date.now();
    publisher.pauseMedia(['video']);
    const fired = await waitFor(() => server.alerts.active().find((a) => a.rule === 'stream_stalled' && a.room === 'stall'), {
      description: 'stream_stalled to fire',
      timeoutMs: 15_000,
    });
    const firedAfterMs = Date.now() - pausedAt;
    console.log(`# stream_stalled fired ${firedAfterMs} ms after the video stopped`);
    assert.ok(firedAfterMs >= STALL_SECONDS * 1000, 'not before ALERT_STALL_SECONDS');
    assert.equal(fired.severity, 'critical');
    assert.equal(fired.state, 'firing');
    assert.equal(fired.worker, null);
    assert.ok(fired.value !== null && fired.value >= 2, `value ${fired.value}`);
    assert.match(fired.message, /no video/);

    const apiAlerts = await adminGet<{ active: Alert[]; history: Alert[] }>('/api/admin/alerts');
    assert.ok(apiAlerts.active.some((a) => a.id === fired.id));
    const roomStats = (await (await fetch(`${server.url}/api/rooms/stall/stats`)).json()) as RoomStats;
    assert.equal(roomStats.alerts.find((a) => a.rule === 'stream_stalled')?.id, fired.id);

    const firedDelivery = await waitFor(() => deliveryFor(fired.id, 'alert.fired'), { description: 'alert.fired webhook', timeoutMs: 10_000 });
    checkSignature(firedDelivery);
    assert.deepEqual(firedDelivery.body.alert, fired);
    await waitFor(() => pushed.alerts.some((a) => a.id === fired.id && a.state === 'firing'), { description: 'alert pushed on /admin', timeoutMs: 5000 });

    // The dead endpoint: reported, never fatal.
    const failing = await waitFor(
      async () => {
        const overview = await adminGet<Overview>('/api/admin/overview');
        const dead = overview.webhooks.endpoints[1];
        return dead && !dead.ok && dead.failed >= 1 ? overview : undefined;
      },
      { description: 'the dead webhook endpoint reported in the overview', timeoutMs: 30_000 },
    );
    const [good, dead] = failing.webhooks.endpoints;
    assert.equal(good!.ok, true);
    assert.ok(good!.delivered >= 1);
    assert.equal(good!.failed, 0);
    assert.match(dead!.lastError ?? '', /ECONNREFUSED/);
    assert.equal(dead!.url, `http://127.0.0.1:${deadPort}/hook?…`, 'the query (may hold secrets) is redacted');
    assert.equal(dead!.delivered, 0);

    publisher.resumeMedia(['video']);
    const resolved = await waitFor(() => server.alerts.history().find((a) => a.id === fired.id), {
      description: 'stream_stalled to resolve',
      timeoutMs: 15_000,
    });
    assert.equal(resolved.state, 'resolved');
    assert.ok(resolved.resolvedAt && Date.parse(resolved.resolvedAt) >= Date.parse(resolved.firedAt));
    assert.ok(!server.alerts.active().some((a) => a.id === fired.id));
    const resolvedDelivery = await waitFor(() => deliveryFor(fired.id, 'alert.resolved'), { description: 'alert.resolved webhook', timeoutMs: 10_000 });
    checkSignature(resolvedDelivery);
    assert.notEqual(resolvedDelivery.eventId, firedDelivery.eventId);
    await waitFor(() => pushed.alerts.some((a) => a.id === fired.id && a.state === 'resolved'), {
      description: 'resolution pushed on /admin',
      timeoutMs: 5000,
    });

    // Viewers keep getting frames while the dead endpoint is being retried.
    const failedBefore = dead!.failed;
    await waitForFrames(viewers, 60, 'frames after resuming, during webhook retries');
    const later = await waitFor(
      async () => {
        const overview = await adminGet<Overview>('/api/admin/overview');
        return overview.webhooks.endpoints[1]!.failed > failedBefore ? overview : undefined;
      },
      { description: 'more failed attempts (retries) at the dead endpoint', timeoutMs: 10_000 },
    );
    assert.equal(later.webhooks.endpoints[1]!.ok, false);
    assert.ok(server.pool.allAlive);

    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /^floodlight_webhook_deliveries_total\{endpoint="1",result="failure"\} [1-9]/m);
    assert.match(metrics, /^floodlight_webhook_deliveries_total\{endpoint="0",result="success"\} [1-9]/m);
    assert.match(metrics, /^floodlight_alerts_fired_total\{rule="stream_stalled"\} [1-9]/m);
  },
);

test('a stopped HLS recorder fires hls_stale, and resolves when playlists update again', { timeout: 120_000 }, async () => {
  await publish('hlsroom');
  const hls = server.hls!;
  await waitFor(() => hls.status('hlsroom')?.playlistUpdatedAt !== undefined && server.alerts.active().every((a) => a.rule !== 'hls_stale'), {
    description: 'HLS playlists being written',
    timeoutMs: 45_000,
    progress: () => JSON.stringify(hls.status('hlsroom')),
  });
  const pid = hls.ffmpegPid('hlsroom');
  assert.ok(pid, 'ffmpeg runs');
  const stoppedAt = Date.now();
  process.kill(pid, 'SIGSTOP');
  try {
    const fired = await waitFor(() => server.alerts.active().find((a) => a.rule === 'hls_stale' && a.room === 'hlsroom'), {
      description: 'hls_stale to fire',
      timeoutMs: 15_000,
    });
    assert.ok(Date.now() - stoppedAt >= 3000);
    assert.equal(fired.severity, 'warning');
    // The rule fires once the age reaches 3 s; its value is rounded to 0.1 s, so 3.0 is a valid firing.
    assert.ok(fired.value !== null && fired.value >= 3, `value ${fired.value}`);
    const stats = (await (await fetch(`${server.url}/api/rooms/hlsroom/stats`)).json()) as RoomStats;
    assert.ok(stats.hls.playlistAgeSeconds !== null && stats.hls.playlistAgeSeconds >= 3, `age ${stats.hls.playlistAgeSeconds}`);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const age = Number(/^floodlight_hls_playlist_age_seconds (\S+)$/m.exec(metrics)?.[1]);
    assert.ok(age >= 3, `metric age ${age}`);
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  await waitFor(() => !server.alerts.active().some((a) => a.rule === 'hls_stale' && a.room === 'hlsroom'), {
    description: 'hls_stale to resolve',
    timeoutMs: 30_000,
    progress: () => JSON.stringify(hls.status('hlsroom')),
  });
  assert.ok(server.alerts.history().some((a) => a.rule === 'hls_stale' && a.room === 'hlsroom' && a.state === 'resolved'));
});

test('a SIGKILLed worker fires worker_died, resolved once its replacement runs', { timeout: 60_000 }, async () => {
  const before = server.pool.details()[1]!;
  process.kill(before.pid!, 'SIGKILL');
  const fired = await waitFor(() => [...server.alerts.active(), ...server.alerts.history()].find((a) => a.rule === 'worker_died' && a.worker === 1), {
    description: 'worker_died to fire',
    timeoutMs: 10_000,
  });
  assert.equal(fired.severity, 'critical');
  assert.equal(fired.room, null);
  const resolved = await waitFor(() => server.alerts.history().find((a) => a.id === fired.id), { description: 'worker_died to resolve', timeoutMs: 15_000 });
  assert.ok(server.pool.allAlive);
  assert.match(resolved.message, /replaced/);
  assert.equal(server.alerts.active().filter((a) => a.rule === 'worker_died').length, 0);

  const firedHook = await waitFor(() => deliveryFor(fired.id, 'alert.fired'), { description: 'worker_died fired webhook', timeoutMs: 10_000 });
  const resolvedHook = await waitFor(() => deliveryFor(fired.id, 'alert.resolved'), { description: 'worker_died resolved webhook', timeoutMs: 10_000 });
  checkSignature(firedHook);
  checkSignature(resolvedHook);
  assert.equal(firedHook.body.alert.state, 'firing');
  assert.equal(resolvedHook.body.alert.state, 'resolved');
  await waitFor(() => pushed.alerts.filter((a) => a.id === fired.id).length === 2, { description: 'both pushed on /admin', timeoutMs: 15_000 });

  const overview = await adminGet<Overview>('/api/admin/overview');
  assert.equal(overview.workers[1]!.restarts, before.restarts + 1);
  assert.notEqual(overview.workers[1]!.pid, before.pid);
  assert.ok(overview.alerts.recent.some((a) => a.id === fired.id));
  const metrics = await (await fetch(`${server.url}/metrics`)).text();
  assert.match(metrics, new RegExp(`^floodlight_worker_restarts_total\\{worker="1"\\} ${before.restarts + 1}$`, 'm'));
});
