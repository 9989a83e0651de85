/**
 * Alert rules as state machines over synthetic samples (fire after the
 * condition held, resolve with hysteresis), and the alert manager's state,
 * history bound, events and structured logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { RoomRules, Sustained, VIEWER_DROP_HOLD_MS, type RoomSignal, type RuleAction } from '../../server/alerts/alertRules.js';
import { AlertManager } from '../../server/alerts/alertManager.js';
import type { Alert, AlertRule } from '../../server/contracts/adminApi.js';
import type { AlertThresholds } from '../../server/config/config.js';
import type { Logger } from '../../server/observability/logger.js';

const thresholds: AlertThresholds = {
  stallSeconds: 5,
  minBitrateKbps: 150,
  maxLossPercent: 5,
  hlsStaleSeconds: 6,
  viewerDropPercent: 50,
  windowSeconds: 10,
};

const healthy = (at: number, overrides: Partial<RoomSignal> = {}): RoomSignal => ({
  room: 'r',
  at,
  live: true,
  videoProducing: true,
  videoStalledMs: 0,
  videoBitrateBps: 1_000_000,
  lossPercent: 0,
  viewers: 20,
  hls: { recording: true, playlistAgeSeconds: 0.3 },
  ...overrides,
});

/** Runs samples every 2 s through the rules with a simple firing set; returns the actions per sample time. */
function run(samples: Array<(at: number) => RoomSignal>, rules = new RoomRules('r', thresholds)): Array<{ at: number; actions: RuleAction[] }> {
  const firing = new Set<AlertRule>();
  return samples.map((make, i) => {
    const signal = make(i * 2000);
    const actions = rules.evaluate(signal, (rule) => firing.has(rule));
    for (const action of actions) {
      if (action.type === 'fire') firing.add(action.spec.rule);
      else firing.delete(action.rule);
    }
    return { at: signal.at, actions };
  });
}

const events = (result: ReturnType<typeof run>, rule: AlertRule) =>
  result.flatMap(({ at, actions }) => actions.filter((a) => (a.type === 'fire' ? a.spec.rule : a.rule) === rule).map((a) => ({ at, type: a.type })));

test('a healthy room fires nothing', () => {
  const result = run(Array.from({ length: 30 }, () => (at: number) => healthy(at)));
  assert.deepEqual(
    result.flatMap((r) => r.actions),
    [],
  );
});

test('stream_stalled fires once no video arrived for ALERT_STALL_SECONDS and resolves 2 s after video flows again', () => {
  let grewAt = 0;
  const stalledFrom = 4000;
  const resumeAt = 16000;
  const sample = (at: number) => {
    const flowing = at < stalledFrom || at >= resumeAt;
    if (flowing) grewAt = at;
    return healthy(at, { videoStalledMs: at - grewAt, videoBitrateBps: flowing ? 1_000_000 : 0 });
  };
  const result = run(Array.from({ length: 14 }, () => sample));
  // Bytes last grew at the 2 s sample: the first sample stalled for ≥ 5 s is the 8 s one (6 s).
  // Flowing again at 16 s: resolved 2 s later.
  assert.deepEqual(events(result, 'stream_stalled'), [
    { at: 8000, type: 'fire' },
    { at: 18000, type: 'resolve' },
  ]);
  assert.deepEqual(events(result, 'low_bitrate'), [], 'a stall is not also a low-bitrate alert');
  const fire = result.find((r) => r.at === 8000)!.actions[0]!;
  assert.equal(fire.type === 'fire' && fire.spec.value, 6);
});

test('stream_stalled resolves when the publisher stops producing', () => {
  const result = run([
    (at) => healthy(at),
    (at) => healthy(at, { videoStalledMs: 6000 }),
    (at) => healthy(at, { live: false, videoProducing: false, videoStalledMs: 0 }),
  ]);
  assert.deepEqual(events(result, 'stream_stalled'), [
    { at: 2000, type: 'fire' },
    { at: 4000, type: 'resolve' },
  ]);
  const resolve = result[2]!.actions[0]!;
  assert.match(resolve.type === 'resolve' ? resolve.message : '', /stopped producing/);
});

test('low_bitrate needs the window below the minimum and clears only above 110 % of it for the window', () => {
  const bitrates = [1000, 100, 100, 100, 100, 100, 100, 160, 200, 200, 200, 200, 200, 200, 200].map((k) => k * 1000);
  const result = run(bitrates.map((bps) => (at: number) => healthy(at, { videoBitrateBps: bps })));
  // Below from 2 s: fires at 12 s (10 s later). 160 kbps (< 165) holds; ≥165 from 16 s: resolves at 26 s.
  assert.deepEqual(events(result, 'low_bitrate'), [
    { at: 12000, type: 'fire' },
    { at: 26000, type: 'resolve' },
  ]);
});

test('a short dip below the minimum does not fire', () => {
  const bitrates = [1000, 100, 100, 100, 1000, 100, 100, 100, 1000].map((k) => k * 1000);
  assert.deepEqual(events(run(bitrates.map((bps) => (at: number) => healthy(at, { videoBitrateBps: bps }))), 'low_bitrate'), []);
});

test('high_loss fires after the window above the maximum and resolves at or below 80 % of it', () => {
  const losses = [0, 8, 8, 8, 8, 8, 8, 4.5, 4.5, 4.5, 3, 3, 3, 3, 3, 3];
  const result = run(losses.map((loss) => (at: number) => healthy(at, { lossPercent: loss })));
  assert.deepEqual(events(result, 'high_loss'), [
    { at: 12000, type: 'fire' },
    { at: 30000, type: 'resolve' },
  ]);
});

test('hls_stale fires as soon as the playlist is older than the limit while live and recording, and resolves on update', () => {
  const ages = [0.5, 3, 6.5, 8.5, 0.2, 0.4];
  const result = run(ages.map((age) => (at: number) => healthy(at, { hls: { recording: true, playlistAgeSeconds: age } })));
  assert.deepEqual(events(result, 'hls_stale'), [
    { at: 4000, type: 'fire' },
    { at: 8000, type: 'resolve' },
  ]);
  const notRecording = run([
    (at) => healthy(at, { hls: { recording: false, playlistAgeSeconds: null } }),
    (at) => healthy(at, { hls: { recording: false, playlistAgeSeconds: null } }),
  ]);
  assert.deepEqual(events(notRecording, 'hls_stale'), []);
});

test('viewer_drop: ≥ 50 % fewer viewers within the window, with ≥ 10 before', () => {
  const audience = [40, 40, 40, 18, 18, 30, 30];
  const result = run(audience.map((viewers) => (at: number) => healthy(at, { viewers })));
  assert.deepEqual(events(result, 'viewer_drop'), [
    { at: 6000, type: 'fire' },
    { at: 10000, type: 'resolve' },
  ]);
  // Small rooms never fire; a slow decline (less than half within 10 s) never fires.
  assert.deepEqual(events(run([8, 8, 2, 1].map((v) => (at: number) => healthy(at, { viewers: v }))), 'viewer_drop'), []);
  const slow = [100, 90, 80, 70, 62, 55, 49, 44, 40, 36, 32, 29, 26, 23, 21];
  assert.deepEqual(events(run(slow.map((v) => (at: number) => healthy(at, { viewers: v }))), 'viewer_drop'), []);
});

test('viewer_drop resolves at the latest after the hold time when the audience stays low', () => {
  const samples = [50, 50, 10, ...Array.from({ length: VIEWER_DROP_HOLD_MS / 2000 + 2 }, () => 10)];
  const result = run(samples.map((viewers) => (at: number) => healthy(at, { viewers })));
  const transitions = events(result, 'viewer_drop');
  assert.equal(transitions.length, 2);
  assert.deepEqual(transitions[0], { at: 4000, type: 'fire' });
  assert.equal(transitions[1]!.type, 'resolve');
  assert.equal(transitions[1]!.at - 4000, VIEWER_DROP_HOLD_MS);
});

test('Sustained keeps its state in the hysteresis band', () => {
  const s = new Sustained();
  assert.equal(s.update('bad', 0, false, 1000, 1000), undefined);
  assert.equal(s.update('hold', 500, false, 1000, 1000), undefined);
  assert.equal(s.update('bad', 1000, false, 1000, 1000), undefined, 'the hold reset the bad streak');
  assert.equal(s.update('bad', 2000, false, 1000, 1000), 'fire');
  assert.equal(s.update('good', 2500, true, 1000, 1000), undefined);
  assert.equal(s.update('hold', 3000, true, 1000, 1000), undefined);
  assert.equal(s.update('good', 3500, true, 1000, 1000), undefined, 'the hold reset the good streak');
  assert.equal(s.update('good', 4500, true, 1000, 1000), 'resolve');
  assert.equal(s.update('n/a', 5000, true, 1000, 1000), 'resolve');
});

function captureLogs(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}

test('AlertManager: one alert per identity, events, bounded newest-first history, structured logs', async () => {
  const { logger, lines } = captureLogs();
  let now = Date.parse('2030-01-01T00:00:00Z');
  const manager = new AlertManager({ logger, historySize: 3, now: () => now });
  const emitted: Alert[] = [];
  manager.on('alert', (alert) => emitted.push(alert));

  const fired = manager.fire({ rule: 'stream_stalled', room: 'a', message: 'stalled', value: 5 });
  assert.ok(fired);
  assert.equal(manager.fire({ rule: 'stream_stalled', room: 'a', message: 'still stalled', value: 9 }), undefined, 'no duplicate');
  assert.equal(manager.active().length, 1);
  assert.equal(manager.active()[0]!.value, 9, 'value refreshed');
  assert.equal(fired.severity, 'critical');
  assert.equal(fired.firedAt, '2030-01-01T00:00:00.000Z');
  manager.fire({ rule: 'worker_died', worker: 1, message: 'died' });
  assert.ok(manager.isFiring('worker_died', null, 1));
  assert.equal(manager.isFiring('worker_died', null, 0), false);

  now += 7000;
  const resolved = manager.resolve('stream_stalled', 'a', null, 'flowing again');
  assert.equal(resolved?.state, 'resolved');
  assert.equal(resolved.resolvedAt, '2030-01-01T00:00:07.000Z');
  assert.equal(resolved.message, 'flowing again');
  assert.equal(resolved.id, fired.id);
  assert.equal(manager.resolve('stream_stalled', 'a', null), undefined, 'resolving twice is a no-op');

  // Copies: callers can't change the manager's state.
  manager.active()[0]!.state = 'resolved';
  assert.equal(manager.active()[0]!.state, 'firing');

  for (let i = 0; i < 5; i++) {
    manager.fire({ rule: 'high_loss', room: `r${i}`, message: 'loss' });
    now += 1000;
    manager.resolve('high_loss', `r${i}`, null);
  }
  const history = manager.history();
  assert.equal(history.length, 3, 'bounded');
  assert.deepEqual(
    history.map((a) => a.room),
    ['r4', 'r3', 'r2'],
    'newest first',
  );

  manager.fire({ rule: 'low_bitrate', room: 'r4', message: 'low' });
  assert.deepEqual(
    manager.forRoom('r4').map((a) => a.state),
    ['firing', 'resolved'],
    'active first, then recent',
  );
  manager.resolveRoom('r4', 'room closed');
  assert.equal(manager.active().filter((a) => a.room === 'r4').length, 0);

  assert.deepEqual(
    emitted.slice(0, 3).map((a) => `${a.rule}:${a.state}`),
    ['stream_stalled:firing', 'worker_died:firing', 'stream_stalled:resolved'],
  );
  assert.equal(manager.firedCounts().get('high_loss'), 5);

  await new Promise((resolve) => setImmediate(resolve));
  const firedLog = lines.find((l) => l['msg'] === 'alert fired' && (l['alert'] as Alert).rule === 'stream_stalled')!;
  assert.equal(firedLog['level'], 50, 'critical alerts log at error level');
  assert.equal((firedLog['alert'] as Alert).room, 'a');
  const warnLog = lines.find((l) => l['msg'] === 'alert fired' && (l['alert'] as Alert).rule === 'high_loss')!;
  assert.equal(warnLog['level'], 40);
  const resolvedLog = lines.find((l) => l['msg'] === 'alert resolved')!;
  assert.equal(resolvedLog['durationMs'], 7000);
  manager.close();
  assert.equal(manager.listenerCount('alert'), 0);
});
