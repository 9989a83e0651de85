/**
 * Operator observability against the real worker and real WebRTC peers:
 * /metrics follows a broadcast starting and stopping, per-room stats reflect
 * the media, admin endpoints refuse everyone but admins, QoE reports are
 * validated, rate-limited and feed the HLS viewer estimate and the
 * join-to-first-frame histogram.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { SignJWT } from 'jose';
import type { Socket } from 'socket.io-client';
import type { FloodlightServer } from '../../server/app.js';
import type { Overview, RoomStats } from '../../server/contracts/adminApi.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import type { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { joinViewers, publishLight } from '../helpers/roomPeers.js';
import { connectRaw, errorCode, rawRequest } from '../helpers/rawSignaling.js';
import { waitFor } from '../helpers/wait.js';

let server: FloodlightServer;
let peers: Array<HeadlessPublisher | HeadlessViewer> = [];
const sockets: Socket[] = [];

before(async () => {
  server = await startTestServer({ STATS_INTERVAL_SECONDS: '1' });
});

afterEach(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  peers = [];
});

after(async () => {
  for (const socket of sockets) socket.disconnect();
  // undefined when before() failed
  await (server as FloodlightServer | undefined)?.close();
});

/** Parsed Prometheus text: `value(name, labels)` → number or undefined. */
async function scrape(
  url = server.url,
  headers: Record<string, string> = {},
): Promise<{ text: string; value: (name: string, labels?: Record<string, string>) => number | undefined }> {
  const response = await fetch(`${url}/metrics`, { headers });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/plain/);
  const text = await response.text();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (match) samples.set(`${match[1]}${match[2] ?? ''}`, Number(match[3]));
  }
  return {
    text,
    value: (name, labels) => {
      const rendered = labels
        ? `{${Object.entries(labels)
            .map(([k, v]) => `${k}="${v}"`)
            .join(',')}}`
        : '';
      return samples.get(`${name}${rendered}`);
    },
  };
}

async function publish(room: string): Promise<HeadlessPublisher> {
  const publisher = await publishLight(server, room);
  peers.push(publisher);
  return publisher;
}

async function viewers(room: string, count: number): Promise<HeadlessViewer[]> {
  const joined = await joinViewers(server.url, room, count);
  peers.push(...joined);
  return joined;
}

async function waitForFrames(list: HeadlessViewer[], frames: number, description: string): Promise<void> {
  const start = list.map((v) => v.stats().video.completeFrames);
  await waitFor(() => list.every((v, i) => v.stats().video.completeFrames - start[i]! >= frames), {
    description,
    timeoutMs: 20_000,
    progress: () => list.map((v) => v.summary()).join(' | '),
  });
}

/** The error body every API refusal has. */
interface ApiError {
  error: { code: string; message: string };
}

/** GET a JSON answer; its body is what the server sent (callers say what they expect it to be). */
async function getJson(path: string, token?: string): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${server.url}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

function postQoe(room: string, body: unknown, contentType = 'application/json'): Promise<Response> {
  return fetch(`${server.url}/api/rooms/${room}/qoe`, {
    method: 'POST',
    headers: { 'Content-Type': contentType },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

const qoeReport = (sessionId: string, fields: Record<string, unknown> = {}) => ({
  sessionId,
  transport: 'webrtc',
  framesDecoded: 0,
  framesDropped: 0,
  freezeCount: 0,
  freezeDurationMs: 0,
  watchingSeconds: 0,
  ...fields,
});

/** Joins a room as a bare viewer over signaling, so the room exists. */
async function openRoom(room: string): Promise<void> {
  const socket = await connectRaw(server.url);
  sockets.push(socket);
  const ack = await rawRequest(socket, 'join', { room, role: 'viewer' });
  assert.ok(ack.ok, JSON.stringify(ack));
}

test('metrics have the expected names and follow a broadcast as it starts and stops', { timeout: 90_000 }, async () => {
  const idle = await scrape();
  for (const name of [
    'floodlight_process_cpu_seconds_total',
    'floodlight_process_resident_memory_bytes',
    'floodlight_nodejs_eventloop_lag_seconds',
    'floodlight_worker_up',
    'floodlight_worker_cpu_ratio',
    'floodlight_worker_max_resident_memory_bytes',
    'floodlight_worker_media_objects',
    'floodlight_worker_restarts_total',
    'floodlight_rooms',
    'floodlight_publishers',
    'floodlight_viewers',
    'floodlight_hls_origin_clients',
    'floodlight_bitrate_in_bits_per_second',
    'floodlight_bitrate_out_bits_per_second',
    'floodlight_packet_loss_ratio',
    'floodlight_rtt_seconds',
    'floodlight_ingest_jitter_seconds',
    'floodlight_producer_score',
    'floodlight_consumer_score',
    'floodlight_recorder_ffmpeg_restarts_total',
    'floodlight_hls_playlist_age_seconds',
    'floodlight_signaling_errors_total',
    'floodlight_webhook_deliveries_total',
    'floodlight_join_to_first_frame_seconds',
    'floodlight_qoe_reports_total',
    'floodlight_alerts_firing',
    'floodlight_stats_sample_duration_seconds',
  ]) {
    assert.match(idle.text, new RegExp(`^# TYPE ${name} `, 'm'), `${name} is exposed`);
  }
  assert.equal(idle.value('floodlight_rooms'), 0);
  assert.equal(idle.value('floodlight_publishers'), 0);
  assert.equal(idle.value('floodlight_viewers', { transport: 'webrtc' }), 0);
  assert.equal(idle.value('floodlight_bitrate_in_bits_per_second'), 0);
  assert.equal(idle.value('floodlight_worker_up', { worker: '0' }), 1);
  assert.equal(idle.value('floodlight_worker_restarts_total', { worker: '1' }), 0);
  assert.doesNotMatch(idle.text, /room="/, 'no per-room labels');

  // A bad signaling request shows up in the error counter.
  const badBefore = idle.value('floodlight_signaling_errors_total', { code: 'BAD_REQUEST' }) ?? 0;
  const socket = await connectRaw(server.url);
  sockets.push(socket);
  assert.equal(errorCode(await rawRequest(socket, 'join', { room: '../x', role: 'viewer' })), 'BAD_REQUEST');
  socket.disconnect();

  await publish('obs');
  const list = await viewers('obs', 2);
  await waitForFrames(list, 15, 'frames at both viewers');

  const live = await waitFor(
    async () => {
      const m = await scrape();
      const ok =
        m.value('floodlight_rooms') === 1 &&
        m.value('floodlight_rooms_live') === 1 &&
        m.value('floodlight_publishers') === 1 &&
        m.value('floodlight_viewers', { transport: 'webrtc' }) === 2 &&
        (m.value('floodlight_bitrate_in_bits_per_second') ?? 0) > 100_000 &&
        (m.value('floodlight_bitrate_out_bits_per_second') ?? 0) > 100_000 &&
        (m.value('floodlight_producer_score_count') ?? 0) > 0 &&
        (m.value('floodlight_consumer_score_count') ?? 0) > 0;
      return ok ? m : undefined;
    },
    { description: 'live gauges in /metrics', timeoutMs: 15_000 },
  );
  console.log(
    `# live: in ${live.value('floodlight_bitrate_in_bits_per_second')} b/s, out ${live.value('floodlight_bitrate_out_bits_per_second')} b/s, ` +
      `sample passes ${live.value('floodlight_stats_sample_duration_seconds_count')} taking ${(
        ((live.value('floodlight_stats_sample_duration_seconds_sum') ?? 0) / (live.value('floodlight_stats_sample_duration_seconds_count') ?? 1)) *
        1000
      ).toFixed(2)} ms on average, ${live.value('floodlight_stats_sample_calls')} getStats calls in the last`,
  );
  const producers = ['0', '1'].reduce((n, worker) => n + (live.value('floodlight_worker_media_objects', { worker, kind: 'producer' }) ?? 0), 0);
  assert.ok(producers >= 2, `producers on workers: ${producers}`);
  assert.ok((live.value('floodlight_worker_max_resident_memory_bytes', { worker: '0' }) ?? 0) > 1_000_000, 'worker memory is sampled');
  assert.equal(live.value('floodlight_signaling_errors_total', { code: 'BAD_REQUEST' }), badBefore + 1);

  // The watch pages' QoE reports give the delivered frame rate (30 fps source).
  // A new session may send two reports at once (rate limit burst 2).
  assert.equal((await postQoe('obs', qoeReport('viewer-session-1', { framesDecoded: 0, watchingSeconds: 0 }))).status, 204);
  const qoe = await postQoe(
    'obs',
    qoeReport('viewer-session-1', { framesDecoded: 150, framesDropped: 50, freezeCount: 1, watchingSeconds: 5, firstFrameMs: 420 }),
  );
  assert.equal(qoe.status, 204);

  // The sampler (1 s here) has taken at least two passes with both viewers watching.
  const stats = await waitFor(
    async () => {
      const reply = await getJson('/api/rooms/obs/stats');
      const body = reply.body as RoomStats;
      return reply.status === 200 && body.history.length >= 2 && body.history.at(-1)?.viewers === 2 && body.watchTimeSeconds >= 1
        ? { headers: reply.headers, body }
        : undefined;
    },
    { description: 'two stats samples of the room with its two viewers', timeoutMs: 15_000 },
  );
  assert.match(stats.headers.get('cache-control') ?? '', /max-age=2/);
  const room = stats.body;
  assert.equal(room.id, 'obs');
  assert.equal(room.live, true);
  assert.ok(room.since && Date.parse(room.since) <= Date.now());
  assert.ok(room.video.bitrateBps > 100_000, `video bitrate ${room.video.bitrateBps}`);
  assert.equal(room.video.codec, 'VP8');
  assert.equal(typeof room.video.score, 'number');
  assert.equal(room.video.fps, 30);
  assert.ok(room.audio.bitrateBps > 10_000, `audio bitrate ${room.audio.bitrateBps}`);
  assert.deepEqual(room.viewers, { webrtc: 2, hls: 0 });
  assert.equal(room.joins, 2);
  assert.equal(room.leaves, 0);
  assert.ok(room.watchTimeSeconds >= 1);
  assert.equal(room.lossPercent, 0);
  assert.equal(typeof room.jitterMs, 'number');
  assert.equal(room.qoe.sessions, 1);
  assert.equal(room.qoe.freezesPerMinute, 12);
  assert.equal(room.qoe.droppedFramesPercent, 25);
  assert.equal(room.qoe.firstFrameMsP50, 420);
  assert.ok(room.history.length >= 2 && room.history.length <= 150);
  const lastPoint = room.history.at(-1)!;
  assert.ok(lastPoint.bitrateInBps > 100_000 && lastPoint.bitrateOutBps > 100_000 && lastPoint.viewers === 2, JSON.stringify(lastPoint));
  assert.ok(
    room.history.every((p, i) => i === 0 || p.t > room.history[i - 1]!.t),
    'history is oldest first',
  );
  assert.equal((await scrape()).value('floodlight_join_to_first_frame_seconds_count', { transport: 'webrtc' }), 1);

  // Everyone leaves: gauges go back to zero.
  await Promise.all(peers.map((peer) => peer.close()));
  peers = [];
  await waitFor(
    async () => {
      const m = await scrape();
      return (
        m.value('floodlight_rooms') === 0 &&
        m.value('floodlight_publishers') === 0 &&
        m.value('floodlight_viewers', { transport: 'webrtc' }) === 0 &&
        m.value('floodlight_bitrate_in_bits_per_second') === 0 &&
        m.value('floodlight_bitrate_out_bits_per_second') === 0
      );
    },
    { description: 'gauges back to zero after the broadcast', timeoutMs: 15_000 },
  );
  assert.equal((await getJson('/api/rooms/obs/stats')).status, 404);
});

test('room stats: invalid names are 400, unknown rooms 404', async () => {
  const bad = await getJson('/api/rooms/bad%20name/stats');
  assert.equal(bad.status, 400);
  assert.equal((bad.body as ApiError).error.code, 'BAD_REQUEST');
  const unknown = await getJson('/api/rooms/nobody-here/stats');
  assert.equal(unknown.status, 404);
  assert.equal((unknown.body as ApiError).error.code, 'NOT_FOUND');
});

test('admin endpoints: 401 without or with a bad token, 403 for viewer and publisher tokens, 200 for admins', async () => {
  const key = new TextEncoder().encode(TEST_AUTH_SECRET);
  const expired = await new SignJWT({ room: '*', role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setIssuedAt(Math.floor(Date.now() / 1000) - 120)
    .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
    .sign(key);
  const forged = await new SignJWT({ room: '*', role: 'admin' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('floodlight')
    .setExpirationTime('1h')
    .sign(new TextEncoder().encode('another-secret-another-secret'));
  const viewer = await server.tokens.issue({ room: 'live', role: 'viewer' }, 600);
  const publisher = await server.tokens.issue({ room: 'live', role: 'publisher' }, 600);
  const roomAdmin = await server.tokens.issue({ room: 'live', role: 'admin' }, 600);
  const admin = await server.tokens.issue({ room: '*', role: 'admin' }, 600);

  for (const path of ['/api/admin/overview', '/api/admin/alerts']) {
    const none = await getJson(path);
    assert.equal(none.status, 401, path);
    assert.equal((none.body as ApiError).error.code, 'UNAUTHORIZED');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
    for (const [token, status, code] of [
      ['garbage', 401, 'TOKEN_INVALID'],
      [forged, 401, 'TOKEN_INVALID'],
      [expired, 401, 'TOKEN_EXPIRED'],
      [viewer, 403, 'FORBIDDEN'],
      [publisher, 403, 'FORBIDDEN'],
      [roomAdmin, 403, 'FORBIDDEN'],
    ] as const) {
      const refused = await getJson(path, token);
      assert.equal(refused.status, status, `${path} ${code}`);
      assert.equal((refused.body as ApiError).error.code, code, path);
      assert.equal(refused.headers.get('cache-control'), 'no-store');
    }
  }

  const overview = await getJson('/api/admin/overview', admin);
  assert.equal(overview.status, 200);
  assert.equal(overview.headers.get('cache-control'), 'no-store');
  const o = overview.body as Overview;
  assert.ok(Math.abs(Date.parse(o.at) - Date.now()) < 5000);
  assert.equal(o.workers.length, 2);
  for (const w of o.workers) {
    assert.deepEqual(Object.keys(w).sort(), ['alive', 'consumers', 'cpu', 'index', 'memoryBytes', 'pid', 'producers', 'restarts', 'routers', 'transports']);
    assert.equal(w.alive, true);
    assert.equal(typeof w.pid, 'number');
  }
  assert.deepEqual(Object.keys(o.totals).sort(), ['bitrateInBps', 'bitrateOutBps', 'hlsViewers', 'publishers', 'rooms', 'webrtcViewers']);
  assert.ok(Array.isArray(o.rooms));
  assert.deepEqual(Object.keys(o.alerts).sort(), ['active', 'recent']);
  assert.deepEqual(o.webhooks, { endpoints: [] });

  const alerts = await getJson('/api/admin/alerts', admin);
  assert.equal(alerts.status, 200);
  const lists = alerts.body as { active: unknown; history: unknown };
  assert.ok(Array.isArray(lists.active) && Array.isArray(lists.history));

  // /metrics is open by default.
  await scrape();
});

test('METRICS_REQUIRE_ADMIN=true puts /metrics behind an admin token', { timeout: 30_000 }, async () => {
  const locked = await startTestServer({ METRICS_REQUIRE_ADMIN: 'true', NUM_WORKERS: '1', HLS_ENABLED: 'false' });
  try {
    const none = await fetch(`${locked.url}/metrics`);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
    const viewer = await locked.tokens.issue({ room: 'x', role: 'viewer' }, 60);
    assert.equal((await fetch(`${locked.url}/metrics`, { headers: { Authorization: `Bearer ${viewer}` } })).status, 403);
    const admin = await locked.tokens.issue({ room: '*', role: 'admin' }, 60);
    const m = await scrape(locked.url, { Authorization: `Bearer ${admin}` });
    assert.equal(m.value('floodlight_worker_up', { worker: '0' }), 1);
    // Each server has its own registry: this one has one worker, the other two.
    assert.equal(m.value('floodlight_worker_up', { worker: '1' }), undefined);
  } finally {
    await locked.close();
  }
});

test('QoE reports: validation, size limit, unknown rooms, rate limit, HLS viewer estimate', { timeout: 30_000 }, async () => {
  await openRoom('qoe');
  assert.equal((await postQoe('qoe', qoeReport('session-valid-1'))).status, 204);

  const bad: Array<[string, unknown, string?]> = [
    ['missing fields', { sessionId: 'session-bad-1', transport: 'webrtc' }],
    ['short session id', qoeReport('short')],
    ['session id with bad characters', qoeReport('session/../1')],
    ['negative counter', qoeReport('session-bad-2', { framesDecoded: -1 })],
    ['fractional counter', qoeReport('session-bad-3', { freezeCount: 1.5 })],
    ['unknown transport', qoeReport('session-bad-4', { transport: 'rtmp' })],
    ['extra field', qoeReport('session-bad-5', { extra: true })],
    ['string number', qoeReport('session-bad-6', { watchingSeconds: '5' })],
    ['array body', [qoeReport('session-bad-7')]],
    ['not JSON', '{"sessionId": ', 'application/json'],
    ['form body', 'sessionId=abcdefgh', 'application/x-www-form-urlencoded'],
  ];
  for (const [what, body, type] of bad) {
    const response = await postQoe('qoe', body, type);
    assert.equal(response.status, 400, what);
    const error = ((await response.json()) as { error: { code: string; message: string } }).error;
    assert.equal(error.code, 'BAD_REQUEST', what);
    assert.ok(error.message.length > 0);
  }

  const oversize = await postQoe('qoe', qoeReport('session-big-1', { pad: 'x'.repeat(5000) }));
  assert.equal(oversize.status, 413);
  assert.equal(((await oversize.json()) as { error: { code: string } }).error.code, 'PAYLOAD_TOO_LARGE');

  const unknown = await postQoe('no-such-room', qoeReport('session-unknown'));
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'NOT_FOUND');
  assert.equal((await postQoe('bad%20room', qoeReport('session-badroom'))).status, 400);

  // sendBeacon sends text/plain: accepted too.
  assert.equal((await postQoe('qoe', qoeReport('session-beacon-1'), 'text/plain;charset=UTF-8')).status, 204);

  // About one report per second per session.
  const statuses: number[] = [];
  for (let i = 0; i < 4; i++) statuses.push((await postQoe('qoe', qoeReport('session-flood-1', { watchingSeconds: i }))).status);
  assert.deepEqual(statuses.slice(0, 2), [204, 204]);
  assert.ok(statuses.slice(2).includes(429), statuses.join(','));
  const limited = await postQoe('qoe', qoeReport('session-flood-1'));
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '1');
  // Another session is not affected.
  assert.equal((await postQoe('qoe', qoeReport('session-other-1'))).status, 204);

  // HLS viewers: distinct sessions reporting transport 'hls'.
  for (const id of ['hls-viewer-1', 'hls-viewer-2', 'hls-viewer-3']) {
    assert.equal((await postQoe('qoe', qoeReport(id, { transport: 'hls', firstFrameMs: 2500, latencyMs: 4000 }))).status, 204);
  }
  // A second report of one session does not count twice (sent once the session's rate limit lets it through).
  const second = await waitFor(
    async () => {
      const status = (await postQoe('qoe', qoeReport('hls-viewer-1', { transport: 'hls', watchingSeconds: 1 }))).status;
      return status === 429 ? undefined : { status };
    },
    { description: "hls-viewer-1's second report accepted", timeoutMs: 10_000, intervalMs: 250 },
  );
  assert.equal(second.status, 204);
  const stats = (await getJson('/api/rooms/qoe/stats')).body as RoomStats;
  assert.equal(stats.viewers.hls, 3);
  assert.equal(stats.qoe.latencyMs, 4000);
  assert.equal(stats.qoe.firstFrameMsP50, 2500);
  assert.equal(stats.joins, 1 + 3, 'one WebRTC viewer and three HLS sessions joined');
  const m = await scrape();
  assert.equal(m.value('floodlight_viewers', { transport: 'hls' }), 3);
  assert.equal(m.value('floodlight_join_to_first_frame_seconds_count', { transport: 'hls' }), 3);
  assert.ok((m.value('floodlight_qoe_reports_rejected_total', { reason: 'rate_limited' }) ?? 0) >= 2);
  assert.ok((m.value('floodlight_qoe_reports_rejected_total', { reason: 'too_large' }) ?? 0) >= 1);
});
