/**
 * The operator features in one place: metrics, per-room stats sampling, QoE
 * ingestion, the HLS audience estimate, alerts, webhooks and the admin live
 * feed. FloodlightServer creates one and closes it first on shutdown.
 */
import type { Server as IoServer } from 'socket.io';
import type { Config } from '../config/config.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { HlsService } from '../hls/hlsService.js';
import type { SignalingStats } from '../signaling/signalingServer.js';
import type { TokenService } from '../auth/tokens.js';
import { AlertManager, type AlertsView } from '../alerts/alertManager.js';
import { AlertMonitor } from '../alerts/alertMonitor.js';
import { WebhookDispatcher } from '../alerts/webhookDispatcher.js';
import type { Logger } from './logger.js';
import { FloodlightMetrics } from './metrics.js';
import { QoeStore } from './qoeStore.js';
import { HlsAudience } from './hlsAudience.js';
import { StatsSampler } from './statsSampler.js';
import { AdminFeed } from './adminFeed.js';
import { OVERVIEW_MAX_ROOMS, OVERVIEW_RECENT_ALERTS } from './overview.js';
import type { Overview, RoomStats } from '../contracts/adminApi.js';

export interface ObservabilityOptions {
  config: Config;
  pool: WorkerPool;
  rooms: RoomRegistry;
  bus: MessageBus;
  hls: HlsService | undefined;
  tokens: TokenService;
  signalingStats: () => SignalingStats | undefined;
  logger: Logger;
}

export class Observability {
  readonly metrics: FloodlightMetrics;
  readonly qoe: QoeStore;
  readonly hlsAudience: HlsAudience;
  readonly sampler: StatsSampler;
  readonly alertManager: AlertManager;
  readonly webhooks: WebhookDispatcher | undefined;
  readonly #monitor: AlertMonitor;
  readonly #options: ObservabilityOptions;
  #feed: AdminFeed | undefined;
  #closed = false;

  constructor(options: ObservabilityOptions) {
    this.#options = options;
    const { config, pool, rooms, bus, hls, logger } = options;
    const settings = config.observability;
    this.alertManager = new AlertManager({ logger });
    // In a cluster only the node recording a room counts its players (the others forward to it).
    this.hlsAudience = new HlsAudience({
      isKnownRoom: (room) => rooms.get(room) !== undefined && (!config.redis || hls?.status(room)?.recording === true),
    });
    this.webhooks =
      settings.webhooks.urls.length > 0 && settings.webhooks.secret
        ? new WebhookDispatcher({ urls: settings.webhooks.urls, secret: settings.webhooks.secret, queueSize: settings.webhooks.queueSize, logger })
        : undefined;
    // Metrics read the sampler lazily (at scrape time), so it can come after.
    this.metrics = new FloodlightMetrics({
      pool,
      totals: () => this.sampler.totals(),
      signaling: options.signalingStats,
      hls,
      alerts: this.alertManager,
      webhooks: this.webhooks,
      hlsOriginClients: () => this.hlsAudience.total(),
      nodeLabel: config.redis ? config.nodeId : undefined,
      ...(config.redis ? { pipes: () => rooms.cascade() } : {}),
    });
    this.qoe = new QoeStore({ onFirstFrame: (transport, ms) => this.metrics.firstFrame(transport, ms) });
    this.#monitor = new AlertMonitor({ manager: this.alertManager, pool, rooms, bus, thresholds: settings.alerts });
    this.sampler = new StatsSampler({
      rooms,
      bus,
      hls,
      qoe: this.qoe,
      intervalMs: settings.statsIntervalMs,
      logger,
      alertsForRoom: (room) => this.alertManager.forRoom(room),
      observers: this.metrics.observers,
      onSample: (signals) => {
        this.hlsAudience.prune();
        this.#monitor.evaluate(signals);
      },
    });
    this.alertManager.on('alert', (alert) => {
      this.webhooks?.send(alert.state === 'firing' ? 'alert.fired' : 'alert.resolved', { alert });
      this.#feed?.alert(alert);
    });
    this.sampler.start();
  }

  /** Read-only alert state (FloodlightServer.alerts). */
  get alerts(): AlertsView {
    const manager = this.alertManager;
    return { active: () => manager.active(), history: () => manager.history() };
  }

  /** Starts the /admin socket.io namespace. */
  attachIo(io: IoServer): void {
    if (this.#closed || this.#feed) return;
    this.#feed = new AdminFeed({ io, tokens: this.#options.tokens, overview: () => this.overview(), logger: this.#options.logger });
  }

  roomStats(room: string): RoomStats | undefined {
    return this.sampler.roomStats(room);
  }

  overview(): Overview {
    const totals = this.sampler.totals();
    const rooms = this.sampler
      .roomIds()
      .slice(0, OVERVIEW_MAX_ROOMS)
      .flatMap((id) => this.sampler.roomStats(id) ?? []);
    return {
      at: new Date().toISOString(),
      workers: this.#options.pool.details().map((w) => ({
        index: w.index,
        alive: w.alive,
        pid: w.pid ?? null,
        cpu: Math.round(w.cpu * 1000) / 1000,
        memoryBytes: w.memoryBytes,
        routers: w.routers,
        transports: w.transports,
        producers: w.producers,
        consumers: w.consumers,
        restarts: w.restarts,
      })),
      totals: {
        rooms: totals.rooms,
        publishers: totals.publishers,
        webrtcViewers: totals.webrtcViewers,
        hlsViewers: totals.hlsViewers,
        bitrateInBps: Math.round(totals.bitrateInBps),
        bitrateOutBps: Math.round(totals.bitrateOutBps),
      },
      rooms,
      alerts: { active: this.alertManager.active(), recent: this.alertManager.history(OVERVIEW_RECENT_ALERTS) },
      webhooks: { endpoints: this.webhooks?.endpoints() ?? [] },
    };
  }

  /** Stops timers, deliveries and the admin feed; forgets state. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#feed?.close();
    this.sampler.close();
    this.#monitor.close();
    this.webhooks?.close();
    this.alertManager.close();
    this.qoe.clear();
    this.hlsAudience.clear();
    this.metrics.close();
  }
}
