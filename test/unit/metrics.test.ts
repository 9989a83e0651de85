/**
 * The metrics registry with stand-in sources: per-instance registries that
 * don't collide (and leave prom-client's global registry alone), Prometheus
 * naming conventions, counters mirrored from counts kept elsewhere never going
 * down, bounded labels, and close(). Plus the ring buffer behind room history.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { register as globalRegistry } from 'prom-client';
import { FloodlightMetrics, type MetricsSources } from '../../server/observability/metrics.js';
import { AlertManager } from '../../server/alerts/alertManager.js';
import type { ServerTotals } from '../../server/observability/statsSampler.js';
import type { WorkerPool } from '../../server/media/workerPool.js';
import type { Logger } from '../../server/observability/logger.js';
import { RingBuffer } from '../../server/observability/ringBuffer.js';
import { waitFor } from '../helpers/wait.js';

const logger = pino({ level: 'silent' }) as unknown as Logger;

interface Fake {
  sources: MetricsSources;
  workers: Array<{
    index: number;
    alive: boolean;
    cpu: number;
    memoryBytes: number;
    routers: number;
    transports: number;
    producers: number;
    consumers: number;
    restarts: number;
    pid: number;
  }>;
  totals: ServerTotals;
  errors: Record<string, number>;
  ffmpegRestarts: { total: number };
}

function fake(workerCount: number): Fake {
  const workers = Array.from({ length: workerCount }, (_, index) => ({
    index,
    alive: true,
    cpu: 0.25,
    memoryBytes: 50e6,
    routers: 1,
    transports: 3,
    producers: 2,
    consumers: 4,
    restarts: 0,
    pid: 1000 + index,
  }));
  const totals: ServerTotals = {
    rooms: 1,
    liveRooms: 1,
    publishers: 1,
    webrtcViewers: 2,
    hlsViewers: 3,
    bitrateInBps: 1.2e6,
    bitrateOutBps: 2.4e6,
    ingestLossRatio: 0.01,
    egressLossRatio: null,
    hlsPlaylistAgeMaxSeconds: 0.4,
  };
  const errors: Record<string, number> = { BAD_REQUEST: 2 };
  const ffmpegRestarts = { total: 1 };
  const sources: MetricsSources = {
    pool: { details: () => workers } as unknown as WorkerPool,
    totals: () => totals,
    signaling: () => ({ connections: 5, errorsByCode: errors }),
    hls: {
      get ffmpegRestartsTotal() {
        return ffmpegRestarts.total;
      },
      takeoversTotal: 2,
    } as never,
    alerts: new AlertManager({ logger }),
    webhooks: undefined,
    hlsOriginClients: () => 7,
  };
  return { sources, workers, totals, errors, ffmpegRestarts };
}

function parse(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (match) samples.set(match[1]!, Number(match[2]));
  }
  return samples;
}

test('two servers in one process get separate registries; the global one stays empty', async () => {
  const a = fake(2);
  const b = fake(1);
  const ma = new FloodlightMetrics(a.sources);
  const mb = new FloodlightMetrics(b.sources);
  b.totals.webrtcViewers = 9;
  const ta = parse(await ma.render());
  const tb = parse(await mb.render());
  assert.equal(ta.get('floodlight_worker_up{worker="1"}'), 1);
  assert.equal(tb.get('floodlight_worker_up{worker="1"}'), undefined);
  assert.equal(ta.get('floodlight_viewers{transport="webrtc"}'), 2);
  assert.equal(tb.get('floodlight_viewers{transport="webrtc"}'), 9);
  // The process collectors are in both.
  assert.ok((ta.get('floodlight_process_cpu_seconds_total') ?? -1) >= 0);
  assert.ok((tb.get('floodlight_process_cpu_seconds_total') ?? -1) >= 0);
  assert.equal((await globalRegistry.getMetricsAsJSON()).length, 0, 'prom-client global registry untouched');
  ma.close();
  mb.close();
  assert.equal((await ma.render()).trim(), '', 'close() unregisters');
  ma.close();
});

test('in cluster mode every series carries the node label, the process collectors too', async () => {
  const f = fake(2);
  const m = new FloodlightMetrics({ ...f.sources, nodeLabel: 'edge-2' });
  const text = await m.render();
  const s = parse(text);
  assert.equal(s.get('floodlight_worker_up{worker="1",node="edge-2"}'), 1);
  assert.equal(s.get('floodlight_rooms{node="edge-2"}'), 1);
  const samples = text.split('\n').filter((line) => line.startsWith('floodlight_'));
  assert.ok(samples.length > 20);
  assert.deepEqual(
    samples.filter((line) => !line.includes('node="edge-2"')),
    [],
    'no series without the node label',
  );
  m.close();
});

test('values come from the sources at scrape time', async () => {
  const f = fake(2);
  const m = new FloodlightMetrics(f.sources);
  let s = parse(await m.render());
  assert.equal(s.get('floodlight_worker_cpu_ratio{worker="0"}'), 0.25);
  assert.equal(s.get('floodlight_worker_max_resident_memory_bytes{worker="1"}'), 50e6);
  assert.equal(s.get('floodlight_worker_media_objects{worker="0",kind="consumer"}'), 4);
  assert.equal(s.get('floodlight_rooms'), 1);
  assert.equal(s.get('floodlight_viewers{transport="hls"}'), 3);
  assert.equal(s.get('floodlight_hls_origin_clients'), 7);
  assert.equal(s.get('floodlight_bitrate_in_bits_per_second'), 1.2e6);
  assert.equal(s.get('floodlight_packet_loss_ratio{direction="ingest"}'), 0.01);
  assert.equal(s.get('floodlight_hls_playlist_age_seconds'), 0.4);
  assert.equal(s.get('floodlight_signaling_connections'), 5);
  assert.equal(s.get('floodlight_signaling_errors_total{code="BAD_REQUEST"}'), 2);
  assert.equal(s.get('floodlight_signaling_errors_total{code="INTERNAL"}'), 0, 'every code is present from the start');
  assert.equal(s.get('floodlight_recorder_ffmpeg_restarts_total'), 1);
  assert.equal(s.get('floodlight_hls_takeovers_total'), 2);

  // Mirrored counters follow their source and never go down.
  f.errors['BAD_REQUEST'] = 5;
  f.ffmpegRestarts.total = 3;
  f.workers[1]!.restarts = 2;
  f.totals.bitrateInBps = 0;
  // The registry reads the totals at most every 200 ms (one totals() per scrape): wait until it read them again.
  s = await waitFor(
    async () => {
      const next = parse(await m.render());
      return next.get('floodlight_bitrate_in_bits_per_second') === 0 ? next : undefined;
    },
    { description: 'a scrape with the new totals', timeoutMs: 5_000, intervalMs: 50 },
  );
  assert.equal(s.get('floodlight_signaling_errors_total{code="BAD_REQUEST"}'), 5);
  assert.equal(s.get('floodlight_recorder_ffmpeg_restarts_total'), 3);
  assert.equal(s.get('floodlight_worker_restarts_total{worker="1"}'), 2);
  assert.equal(s.get('floodlight_bitrate_in_bits_per_second'), 0);
  f.ffmpegRestarts.total = 0;
  s = parse(await m.render());
  assert.equal(s.get('floodlight_recorder_ffmpeg_restarts_total'), 3);

  // Histograms fed by the sampler and QoE reports.
  m.observers.rtt('viewer', 0.02);
  m.observers.producerScore(10);
  m.observers.tick(0.004, 6);
  m.firstFrame('webrtc', 450);
  m.firstFrame('hls', 2500);
  m.qoeRejected('rate_limited');
  s = parse(await m.render());
  assert.equal(s.get('floodlight_rtt_seconds_count{side="viewer"}'), 1);
  assert.equal(s.get('floodlight_rtt_seconds_bucket{le="0.025",side="viewer"}'), 1);
  assert.equal(s.get('floodlight_producer_score_bucket{le="9"}'), 0);
  assert.equal(s.get('floodlight_producer_score_bucket{le="10"}'), 1);
  assert.equal(s.get('floodlight_stats_sample_calls'), 6);
  assert.equal(s.get('floodlight_join_to_first_frame_seconds_sum{transport="webrtc"}'), 0.45);
  assert.equal(s.get('floodlight_join_to_first_frame_seconds_bucket{le="3",transport="hls"}'), 1);
  assert.equal(s.get('floodlight_qoe_reports_rejected_total{reason="rate_limited"}'), 1);

  // Alerts.
  f.sources.alerts.fire({ rule: 'worker_died', worker: 0, message: 'x' });
  s = parse(await m.render());
  assert.equal(s.get('floodlight_alerts_firing{rule="worker_died"}'), 1);
  assert.equal(s.get('floodlight_alerts_firing{rule="stream_stalled"}'), 0);
  assert.equal(s.get('floodlight_alerts_fired_total{rule="worker_died"}'), 1);
  m.close();
});

test('naming: floodlight_ prefix, counters end in _total, units in names, bounded label names', async () => {
  const m = new FloodlightMetrics(fake(2).sources);
  const metrics = await m.registry.getMetricsAsJSON();
  const allowedLabels = new Set([
    'worker',
    'kind',
    'transport',
    'direction',
    'side',
    'code',
    'endpoint',
    'result',
    'reason',
    'rule',
    'le',
    'version',
    'major',
    'minor',
    'patch',
    'space',
    'type',
  ]);
  for (const metric of metrics) {
    assert.match(metric.name, /^floodlight_[a-z0-9_]+$/, metric.name);
    const type = String(metric.type);
    if (type === 'counter') assert.match(metric.name, /_total$/, `${metric.name} is a counter`);
    if (/bytes|seconds/.test(metric.name) && type !== 'counter') assert.match(metric.name, /_(bytes|seconds)$|_seconds_|_bytes_/, metric.name);
    for (const value of metric.values) {
      for (const label of Object.keys(value.labels)) assert.ok(allowedLabels.has(label), `${metric.name} label ${label}`);
      assert.ok(!('room' in value.labels), 'no room label');
    }
  }
  m.close();
});

test('RingBuffer keeps the newest items, oldest first', () => {
  const ring = new RingBuffer<number>(3);
  assert.deepEqual(ring.toArray(), []);
  assert.equal(ring.last(), undefined);
  for (let i = 1; i <= 5; i++) ring.push(i);
  assert.deepEqual(ring.toArray(), [3, 4, 5]);
  assert.equal(ring.length, 3);
  assert.equal(ring.last(), 5);
  ring.clear();
  assert.equal(ring.length, 0);
  assert.throws(() => new RingBuffer(0), RangeError);
});
