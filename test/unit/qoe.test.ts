/**
 * QoE reports: the schema (strict, bounded), and the store's aggregation with
 * a controlled clock: HLS viewer estimate over 15 s, joins/leaves, sliding
 * window aggregates, clamping of implausible counters, the per-session rate
 * limit and the memory bound. Plus the origin playlist-request estimate.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { qoeReportSchema, type QoeReport } from '../../server/contracts/qoeReport.js';
import { QoeStore } from '../../server/observability/qoeStore.js';
import { HlsAudience } from '../../server/observability/hlsAudience.js';

const report = (sessionId: string, fields: Partial<QoeReport> = {}): QoeReport => ({
  sessionId,
  transport: 'hls',
  framesDecoded: 0,
  framesDropped: 0,
  freezeCount: 0,
  freezeDurationMs: 0,
  watchingSeconds: 0,
  ...fields,
});

function clock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

test('schema: accepts a full report, refuses unknown fields and out-of-range values', () => {
  const full = { ...report('abcdefgh'), jitterBufferDelayMs: 40, latencyMs: 900, bitrateBps: 2e6, firstFrameMs: 800 };
  assert.ok(qoeReportSchema.safeParse(full).success);
  assert.ok(qoeReportSchema.safeParse(report('A_b-0123456789')).success);
  for (const bad of [
    { ...report('abcdefgh'), extra: 1 },
    report('abc'),
    report('x'.repeat(65)),
    report('abcd efgh'),
    { ...report('abcdefgh'), transport: 'dash' },
    { ...report('abcdefgh'), framesDecoded: -1 },
    { ...report('abcdefgh'), framesDropped: 0.5 },
    { ...report('abcdefgh'), freezeDurationMs: Number.NaN },
    { ...report('abcdefgh'), watchingSeconds: Infinity },
    { ...report('abcdefgh'), latencyMs: -5 },
    { ...report('abcdefgh'), firstFrameMs: 1e12 },
    { sessionId: 'abcdefgh' },
    null,
    [],
    'report',
  ]) {
    assert.equal(qoeReportSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('HLS viewers: distinct sessions seen within the last 15 s; joins and leaves follow', () => {
  const c = clock();
  const store = new QoeStore({ now: c.now });
  store.ingest('r', report('s1-aaaaaa'));
  store.ingest('r', report('s2-aaaaaa'));
  store.ingest('r', report('w1-aaaaaa', { transport: 'webrtc' }));
  store.ingest('other', report('s3-aaaaaa'));
  assert.equal(store.hlsViewers('r'), 2);
  assert.equal(store.hlsViewers('other'), 1);
  assert.equal(store.aggregate('r').sessions, 3);

  c.advance(10_000);
  store.ingest('r', report('s1-aaaaaa', { watchingSeconds: 10 }));
  c.advance(6_000);
  store.prune();
  assert.equal(store.hlsViewers('r'), 1, 's2 silent for 16 s: gone');
  assert.deepEqual(store.counters('r'), { hlsJoins: 2, hlsLeaves: 1, hlsWatchSeconds: 10 });

  // s2 comes back: a new join.
  store.ingest('r', report('s2-aaaaaa', { watchingSeconds: 20 }));
  assert.equal(store.hlsViewers('r'), 2);
  assert.equal(store.counters('r').hlsJoins, 3);

  store.forgetRoom('r');
  assert.equal(store.hlsViewers('r'), 0);
  assert.deepEqual(store.counters('r'), { hlsJoins: 0, hlsLeaves: 0, hlsWatchSeconds: 0 });
  assert.equal(store.counters('other').hlsJoins, 1, 'other rooms are untouched');
});

test('aggregates: freezes per minute, dropped frames, fps, medians, first-frame p50 over the window', () => {
  const c = clock();
  const firstFrames: Array<[string, number]> = [];
  const store = new QoeStore({ now: c.now, onFirstFrame: (transport, ms) => firstFrames.push([transport, ms]) });
  store.ingest('r', report('a-aaaaaaa', { transport: 'webrtc', firstFrameMs: 300, latencyMs: 200, jitterBufferDelayMs: 50 }));
  store.ingest('r', report('b-bbbbbbb', { transport: 'webrtc', firstFrameMs: 500, latencyMs: 400, jitterBufferDelayMs: 70 }));
  store.ingest('r', report('c-ccccccc', { transport: 'hls', firstFrameMs: 2000, latencyMs: 3000 }));
  c.advance(5000);
  store.ingest('r', report('a-aaaaaaa', { transport: 'webrtc', framesDecoded: 150, framesDropped: 0, freezeCount: 1, watchingSeconds: 5, firstFrameMs: 9999 }));
  store.ingest('r', report('b-bbbbbbb', { transport: 'webrtc', framesDecoded: 140, framesDropped: 10, freezeCount: 0, watchingSeconds: 5 }));
  store.ingest('r', report('c-ccccccc', { transport: 'hls', framesDecoded: 150, framesDropped: 0, freezeCount: 2, watchingSeconds: 5 }));
  const agg = store.aggregate('r');
  assert.equal(agg.sessions, 3);
  assert.equal(agg.freezesPerMinute, 12, '3 freezes in 15 watching seconds');
  assert.equal(agg.droppedFramesPercent, 2.22, '10 of 450');
  assert.equal(agg.fps, 29, 'WebRTC: 290 frames in 10 s');
  assert.equal(agg.latencyMs, 400, 'median of 200, 400, 3000');
  assert.equal(agg.jitterBufferDelayMs, 60);
  assert.equal(agg.firstFrameMsP50, 500);
  assert.deepEqual(
    firstFrames,
    [
      ['webrtc', 300],
      ['webrtc', 500],
      ['hls', 2000],
    ],
    'once per session',
  );

  // After the 60 s window, old increments no longer count.
  c.advance(70_000);
  store.prune();
  const later = store.aggregate('r');
  assert.equal(later.freezesPerMinute, 0);
  assert.equal(later.fps, null);
  assert.equal(later.sessions, 0);
  assert.equal(later.firstFrameMsP50, 500, 'first frames are kept for 5 minutes');
});

test('implausible increments are clamped to what the elapsed time allows; counter resets are handled', () => {
  const c = clock();
  const store = new QoeStore({ now: c.now });
  store.ingest('r', report('liar-aaaa', { transport: 'webrtc', watchingSeconds: 1e9, framesDecoded: 1e11, freezeCount: 1e9 }));
  assert.deepEqual(store.counters('r').hlsWatchSeconds, 0);
  const agg = store.aggregate('r');
  // A first report counts at most 30 s of watching, 240 fps and 10 freezes per second.
  assert.equal(agg.fps, 240);
  assert.equal(agg.freezesPerMinute, 600);

  const honest = new QoeStore({ now: c.now });
  honest.ingest('r', report('h-aaaaaaa', { watchingSeconds: 100, framesDecoded: 3000 }));
  c.advance(5000);
  // The player restarted its counters: the new values are the increment.
  honest.ingest('r', report('h-aaaaaaa', { watchingSeconds: 4, framesDecoded: 120 }));
  assert.equal(honest.counters('r').hlsWatchSeconds, 30 + 4);
});

test('rate limit: about one report per second per session, burst of two', () => {
  const c = clock();
  const store = new QoeStore({ now: c.now });
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'accepted');
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'accepted');
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'rate_limited');
  assert.equal(store.ingest('r', report('t-aaaaaaa')), 'accepted', 'other sessions are independent');
  c.advance(500);
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'rate_limited');
  c.advance(600);
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'accepted');
  c.advance(5000);
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'accepted');
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'accepted');
  assert.equal(store.ingest('r', report('s-aaaaaaa')), 'rate_limited', 'the burst does not accumulate beyond two');
});

test('memory is bounded: the least recently seen sessions are evicted', () => {
  const c = clock();
  const store = new QoeStore({ now: c.now, maxSessions: 100 });
  for (let i = 0; i < 250; i++) {
    store.ingest('r', report(`session-${i}`));
    c.advance(1);
  }
  assert.equal(store.sessionCount, 100);
  assert.equal(store.hlsViewers('r'), 100);
  assert.equal(store.counters('r').hlsJoins, 250);
  assert.equal(store.counters('r').hlsLeaves, 150);
  c.advance(200_000);
  store.prune();
  assert.equal(store.sessionCount, 0, 'baselines are forgotten after 2 minutes');
});

test('origin estimate: distinct IP + User-Agent per room over 15 s, only known rooms and playlist URLs', () => {
  const c = clock();
  const known = new Set(['live']);
  const audience = new HlsAudience({ isKnownRoom: (r) => known.has(r), now: c.now, maxClientsPerRoom: 3 });
  const hit = (path: string, ip: string, ua = 'UA') =>
    audience.middleware({ method: 'GET', path, ip, headers: { 'user-agent': ua }, socket: {} } as never, {} as never, () => undefined);
  hit('/live/index.m3u8', '10.0.0.1');
  hit('/live/720p/index.m3u8', '10.0.0.1');
  hit('/live/480p/index.m3u8', '10.0.0.2');
  hit('/live/480p/index.m3u8', '10.0.0.2', 'Other UA');
  hit('/live/480p/seg-1.m4s', '10.0.0.9');
  hit('/nope/index.m3u8', '10.0.0.3');
  hit('/../index.m3u8', '10.0.0.4');
  assert.equal(audience.clients('live'), 3);
  assert.equal(audience.clients('nope'), 0);
  hit('/live/index.m3u8', '10.0.0.5');
  assert.equal(audience.clients('live'), 3, 'capped per room');
  c.advance(16_000);
  hit('/live/index.m3u8', '10.0.0.1');
  assert.equal(audience.clients('live'), 1);
  audience.prune();
  assert.equal(audience.total(), 1);
  // A redundant origin's follower mirroring this node is not a player.
  const mirrorHeaders = { 'user-agent': 'node', 'x-floodlight-mirror': 'node-c' };
  audience.middleware(
    { method: 'GET', path: '/live/720p/index.m3u8', ip: '10.0.0.8', headers: mirrorHeaders, socket: {} } as never,
    {} as never,
    () => undefined,
  );
  assert.equal(audience.clients('live'), 1);
});
