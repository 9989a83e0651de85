/**
 * Prometheus metrics (GET /metrics). One registry per server instance (tests
 * run several servers in one process); the Node process collectors
 * (`floodlight_process_*`, `floodlight_nodejs_*`) are created once per
 * process — they describe the process, and prom-client's event-loop and GC
 * observers can't be stopped — and registered into every instance's registry.
 *
 * Gauges are computed when scraped from the live objects (pool, rooms, the
 * stats sampler's latest samples); counters that mirror a count kept
 * elsewhere are brought up to date at scrape time; histograms are fed by the
 * sampler and the QoE reports. Labels are bounded: worker index, error code,
 * transport, direction, webhook endpoint index, alert rule. No room or viewer
 * labels (per-room data is in /api/rooms/:room/stats). Names: docs/operations.md.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { WorkerPool } from '../media/workerPool.js';
import type { SignalingStats } from '../signaling/signalingServer.js';
import { errorCodes } from '../contracts/signaling.js';
import type { HlsService } from '../hls/hlsService.js';
import type { AlertManager } from '../alerts/alertManager.js';
import { alertRules } from '../contracts/adminApi.js';
import type { WebhookDispatcher } from '../alerts/webhookDispatcher.js';
import type { SamplerObservers, ServerTotals } from './statsSampler.js';
import { registerPipeMetrics, type PipeSnapshot } from './pipeMetrics.js';

const PREFIX = 'floodlight_';

let processMetrics: Metric[] | undefined;

/** The process collectors, created on first use and shared by every registry of this process. */
function sharedProcessMetrics(): Metric[] {
  if (!processMetrics) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: PREFIX });
    // getMetricsAsArray() returns the metric objects themselves (typed loosely).
    processMetrics = registry.getMetricsAsArray() as unknown as Metric[];
  }
  return processMetrics;
}

export interface MetricsSources {
  pool: WorkerPool;
  totals: () => ServerTotals;
  signaling: () => SignalingStats | undefined;
  hls: HlsService | undefined;
  alerts: AlertManager;
  webhooks: WebhookDispatcher | undefined;
  hlsOriginClients: () => number;
  /**
   * Set in cluster mode: a `node` label on every series, so one dashboard can sum or split the
   * nodes' scrapes (one value per node: bounded). Unset on a single node, whose series stay as they were.
   */
  nodeLabel?: string;
  /** The node's cascade pipes (floodlight_pipes, floodlight_pipe_bytes_total); set in cluster mode. */
  pipes?: () => PipeSnapshot;
}

export type QoeRejection = 'invalid' | 'too_large' | 'rate_limited' | 'unknown_room';

/** Brings a counter up to a total counted elsewhere (never goes down). */
function syncCounter<T extends string>(counter: Counter<T>, last: Map<string, number>, labels: Partial<Record<T, string | number>>, total: number): void {
  const key = JSON.stringify(labels);
  const previous = last.get(key) ?? 0;
  if (total > previous) counter.inc(labels, total - previous);
  else if (!last.has(key)) counter.inc(labels, 0);
  last.set(key, Math.max(previous, total));
}

export class FloodlightMetrics {
  readonly registry = new Registry();
  readonly #firstFrame: Histogram<'transport'>;
  readonly #qoeReports: Counter<'transport'>;
  readonly #qoeRejected: Counter<'reason'>;
  readonly observers: SamplerObservers;

  constructor(sources: MetricsSources) {
    const registers = [this.registry];
    for (const metric of sharedProcessMetrics()) this.registry.registerMetric(metric);
    if (sources.nodeLabel) this.registry.setDefaultLabels({ node: sources.nodeLabel });
    const { pool } = sources;

    // --- workers -----------------------------------------------------------
    new Gauge({
      name: `${PREFIX}worker_up`,
      help: 'Whether the mediasoup worker in this slot is alive (1) or not (0)',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of pool.details()) this.set({ worker: w.index }, w.alive ? 1 : 0);
      },
    });
    new Gauge({
      name: `${PREFIX}worker_cpu_ratio`,
      help: 'CPU used by the mediasoup worker over the last ~2 s, as a fraction of one core',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of pool.details()) this.set({ worker: w.index }, w.cpu);
      },
    });
    new Gauge({
      name: `${PREFIX}worker_max_resident_memory_bytes`,
      help: 'Peak resident memory of the mediasoup worker process (getResourceUsage ru_maxrss)',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of pool.details()) this.set({ worker: w.index }, w.memoryBytes);
      },
    });
    new Gauge({
      name: `${PREFIX}worker_media_objects`,
      help: 'mediasoup objects on the worker (routers, transports, producers, consumers, including pipes and recorders)',
      labelNames: ['worker', 'kind'],
      registers,
      collect() {
        for (const w of pool.details()) {
          this.set({ worker: w.index, kind: 'router' }, w.routers);
          this.set({ worker: w.index, kind: 'transport' }, w.transports);
          this.set({ worker: w.index, kind: 'producer' }, w.producers);
          this.set({ worker: w.index, kind: 'consumer' }, w.consumers);
        }
      },
    });
    const restartsSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}worker_restarts_total`,
      help: 'mediasoup workers that died and were replaced',
      labelNames: ['worker'],
      registers,
      collect() {
        for (const w of pool.details()) syncCounter(this, restartsSeen, { worker: w.index }, w.restarts);
      },
    });

    // --- rooms and audience ------------------------------------------------
    const totals = (() => {
      // One totals() computation per scrape, shared by the gauges below.
      let cached: { at: number; value: ServerTotals } | undefined;
      return () => {
        const now = Date.now();
        if (!cached || now - cached.at > 200) cached = { at: now, value: sources.totals() };
        return cached.value;
      };
    })();
    new Gauge({
      name: `${PREFIX}rooms`,
      help: 'Open rooms',
      registers,
      collect() {
        this.set(totals().rooms);
      },
    });
    new Gauge({
      name: `${PREFIX}rooms_live`,
      help: 'Rooms with a publisher producing media',
      registers,
      collect() {
        this.set(totals().liveRooms);
      },
    });
    new Gauge({
      name: `${PREFIX}publishers`,
      help: 'Connected publishers',
      registers,
      collect() {
        this.set(totals().publishers);
      },
    });
    new Gauge({
      name: `${PREFIX}viewers`,
      help: 'Viewers by transport: webrtc = joined WebRTC viewers; hls = estimate from QoE beacons (distinct sessions in the last 15 s)',
      labelNames: ['transport'],
      registers,
      collect() {
        const t = totals();
        this.set({ transport: 'webrtc' }, t.webrtcViewers);
        this.set({ transport: 'hls' }, t.hlsViewers);
      },
    });
    new Gauge({
      name: `${PREFIX}hls_origin_clients`,
      help: 'Distinct client IP + User-Agent pairs that fetched an HLS playlist from this origin in the last 15 s (undercounts behind a CDN)',
      registers,
      collect() {
        this.set(sources.hlsOriginClients());
      },
    });

    // --- media -------------------------------------------------------------
    new Gauge({
      name: `${PREFIX}bitrate_in_bits_per_second`,
      help: 'Media received from publishers (all rooms), from producer stats',
      registers,
      collect() {
        this.set(totals().bitrateInBps);
      },
    });
    new Gauge({
      name: `${PREFIX}bitrate_out_bits_per_second`,
      help: 'Media sent to WebRTC viewers (all rooms), from sampled consumer stats extrapolated to each audience',
      registers,
      collect() {
        this.set(totals().bitrateOutBps);
      },
    });
    new Gauge({
      name: `${PREFIX}packet_loss_ratio`,
      help: 'Packet loss over the last sample: ingest = publishers to server (sequence gaps), egress = server to viewers (RTCP receiver reports of sampled viewers)',
      labelNames: ['direction'],
      registers,
      collect() {
        const t = totals();
        this.set({ direction: 'ingest' }, t.ingestLossRatio ?? 0);
        this.set({ direction: 'egress' }, t.egressLossRatio ?? 0);
      },
    });
    const rtt = new Histogram({
      name: `${PREFIX}rtt_seconds`,
      help: 'Round-trip times seen in each stats sample: side=viewer from consumers (RTCP RR), side=publisher from producers (when the sender reports it)',
      labelNames: ['side'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2],
      registers,
    });
    const jitter = new Histogram({
      name: `${PREFIX}ingest_jitter_seconds`,
      help: 'Interarrival jitter of publisher streams, one observation per producer and stats sample',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2],
      registers,
    });
    const scoreBuckets = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    const producerScore = new Histogram({
      name: `${PREFIX}producer_score`,
      help: 'mediasoup producer scores (0-10, of the best arriving layer), one observation per producer and stats sample',
      buckets: scoreBuckets,
      registers,
    });
    const consumerScore = new Histogram({
      name: `${PREFIX}consumer_score`,
      help: 'mediasoup consumer scores (0-10) of sampled viewers, one observation per consumer and stats sample',
      buckets: scoreBuckets,
      registers,
    });
    const sampleDuration = new Histogram({
      name: `${PREFIX}stats_sample_duration_seconds`,
      help: 'Wall time of one stats sampling pass over all rooms',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    const sampleCalls = new Gauge({
      name: `${PREFIX}stats_sample_calls`,
      help: 'getStats() calls made by the last stats sampling pass (bounded per pass)',
      registers,
    });
    this.observers = {
      producerScore: (score) => producerScore.observe(score),
      consumerScore: (score) => consumerScore.observe(score),
      rtt: (side, seconds) => rtt.observe({ side }, seconds),
      ingestJitter: (seconds) => jitter.observe(seconds),
      tick: (seconds, calls) => {
        sampleDuration.observe(seconds);
        sampleCalls.set(calls);
      },
    };

    // --- HLS ---------------------------------------------------------------
    const ffmpegSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}recorder_ffmpeg_restarts_total`,
      help: 'Times an HLS recorder restarted a dead ffmpeg',
      registers,
      collect() {
        syncCounter(this, ffmpegSeen, {}, sources.hls?.ffmpegRestartsTotal ?? 0);
      },
    });
    const takeoversSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}hls_takeovers_total`,
      help: 'Times this node, following a redundant origin, took over a room whose leading recorder was gone',
      registers,
      collect() {
        syncCounter(this, takeoversSeen, {}, sources.hls?.takeoversTotal ?? 0);
      },
    });
    new Gauge({
      name: `${PREFIX}hls_playlist_age_seconds`,
      help: 'Seconds since the last media playlist update, the oldest among rooms being recorded (0 when none is)',
      registers,
      collect() {
        this.set(totals().hlsPlaylistAgeMaxSeconds ?? 0);
      },
    });

    // --- cluster -----------------------------------------------------------
    if (sources.pipes) registerPipeMetrics(registers, PREFIX, sources.pipes);

    // --- signaling ---------------------------------------------------------
    new Gauge({
      name: `${PREFIX}signaling_connections`,
      help: 'Open signaling (socket.io) connections',
      registers,
      collect() {
        this.set(sources.signaling()?.connections ?? 0);
      },
    });
    const errorsSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}signaling_errors_total`,
      help: 'Signaling requests answered with an error, by error code',
      labelNames: ['code'],
      registers,
      collect() {
        const byCode = sources.signaling()?.errorsByCode ?? {};
        for (const code of errorCodes) syncCounter(this, errorsSeen, { code }, byCode[code] ?? 0);
      },
    });

    // --- QoE ---------------------------------------------------------------
    this.#firstFrame = new Histogram({
      name: `${PREFIX}join_to_first_frame_seconds`,
      help: 'Time from joining (play) to the first rendered frame, as reported by watch pages',
      labelNames: ['transport'],
      buckets: [0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 8, 13, 20],
      registers,
    });
    this.#qoeReports = new Counter({
      name: `${PREFIX}qoe_reports_total`,
      help: 'QoE reports accepted',
      labelNames: ['transport'],
      registers,
    });
    this.#qoeRejected = new Counter({
      name: `${PREFIX}qoe_reports_rejected_total`,
      help: 'QoE reports refused, by reason',
      labelNames: ['reason'],
      registers,
    });
    for (const transport of ['webrtc', 'hls']) this.#qoeReports.inc({ transport }, 0);
    for (const reason of ['invalid', 'too_large', 'rate_limited', 'unknown_room']) this.#qoeRejected.inc({ reason }, 0);

    // --- alerts and webhooks ----------------------------------------------
    new Gauge({
      name: `${PREFIX}alerts_firing`,
      help: 'Alerts firing now, by rule',
      labelNames: ['rule'],
      registers,
      collect() {
        const active = sources.alerts.active();
        for (const rule of alertRules) this.set({ rule }, active.filter((a) => a.rule === rule).length);
      },
    });
    const firedSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}alerts_fired_total`,
      help: 'Alerts fired, by rule',
      labelNames: ['rule'],
      registers,
      collect() {
        const counts = sources.alerts.firedCounts();
        for (const rule of alertRules) syncCounter(this, firedSeen, { rule }, counts.get(rule) ?? 0);
      },
    });
    const attemptsSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}webhook_deliveries_total`,
      help: 'Webhook delivery attempts by endpoint (index in WEBHOOK_URLS) and result (success = 2xx, failure = error, timeout or non-2xx)',
      labelNames: ['endpoint', 'result'],
      registers,
      collect() {
        for (const c of sources.webhooks?.counters() ?? []) {
          syncCounter(this, attemptsSeen, { endpoint: c.index, result: 'success' }, c.delivered);
          syncCounter(this, attemptsSeen, { endpoint: c.index, result: 'failure' }, c.failedAttempts);
        }
      },
    });
    const lostSeen = new Map<string, number>();
    new Counter({
      name: `${PREFIX}webhook_events_lost_total`,
      help: 'Webhook events never delivered: reason=gave_up (all retries failed) or dropped (queue full)',
      labelNames: ['endpoint', 'reason'],
      registers,
      collect() {
        for (const c of sources.webhooks?.counters() ?? []) {
          syncCounter(this, lostSeen, { endpoint: c.index, reason: 'gave_up' }, c.gaveUp);
          syncCounter(this, lostSeen, { endpoint: c.index, reason: 'dropped' }, c.dropped);
        }
      },
    });
    new Gauge({
      name: `${PREFIX}webhook_queue_length`,
      help: 'Webhook events waiting for delivery, by endpoint',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const c of sources.webhooks?.counters() ?? []) this.set({ endpoint: c.index }, c.queued);
      },
    });
    new Gauge({
      name: `${PREFIX}webhook_endpoint_up`,
      help: 'Whether the last delivery attempt to the endpoint succeeded (1; also before any attempt) or failed (0)',
      labelNames: ['endpoint'],
      registers,
      collect() {
        for (const c of sources.webhooks?.counters() ?? []) this.set({ endpoint: c.index }, c.ok ? 1 : 0);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  firstFrame(transport: 'webrtc' | 'hls', ms: number): void {
    this.#firstFrame.observe({ transport }, ms / 1000);
  }

  qoeAccepted(transport: 'webrtc' | 'hls'): void {
    this.#qoeReports.inc({ transport });
  }

  qoeRejected(reason: QoeRejection): void {
    this.#qoeRejected.inc({ reason });
  }

  /** Unregisters this instance's metrics (shared process collectors are untouched). Idempotent. */
  close(): void {
    this.registry.clear();
  }
}
