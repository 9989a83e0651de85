/**
 * FloodlightServer wires the parts together: worker pool → rooms → socket.io
 * signaling and the express app on one HTTP server. `create()` returns a
 * listening server; `close()` tears everything down (idempotent).
 */
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Server as IoServer } from 'socket.io';
import type { types as ms } from 'mediasoup';
import type { Config } from './config/config.js';
import { createLogger, type Logger } from './observability/logger.js';
import { WorkerPool } from './media/workerPool.js';
import { RoomRegistry } from './rooms/roomRegistry.js';
import { LocalPipe } from './media/pipes/localPipe.js';
import type { MessageBus } from './cluster/messageBus.js';
import type { RoomDirectory } from './cluster/roomDirectory.js';
import { createClusterState, type ClusterState } from './cluster/clusterState.js';
import { NODE_RENEW_MS, type NodeLoad } from './cluster/nodeRegistry.js';
import { setListenerErrorReporter } from './lib/safeEmitter.js';
import { findRepoRoot } from './lib/repoRoot.js';
import { SignalingServer } from './signaling/signalingServer.js';
import { protocolLimits } from './contracts/signaling.js';
import { TokenService } from './auth/tokens.js';
import { createHttpApp } from './http/httpApp.js';
import { HlsService } from './hls/hlsService.js';
import { HlsClusterProxy } from './hls/hlsClusterProxy.js';
import { ContentSteering } from './hls/contentSteeringRouter.js';
import { Observability } from './observability/observability.js';
import { createObservabilityRouter } from './http/observabilityRoutes.js';
import type { AlertsView } from './alerts/alertManager.js';
import { PlacementService } from './cluster/placement/placementService.js';
import { NodeDrain } from './cluster/placement/nodeDrain.js';
import { followViewerLimit } from './cluster/placement/viewerLimit.js';
import { createJoinRouter } from './http/joinRoutes.js';
import { createClusterRouter } from './http/clusterRoutes.js';
import { alertManagerSink, ClusterAlertMonitor } from './alerts/clusterAlertMonitor.js';
import type { StreamKeyStore } from './ingest/keys/streamKeyStore.js';
import { createStreamKeyStore } from './ingest/keys/createStreamKeyStore.js';
import { WhipSessions } from './ingest/whip/whipSessions.js';
import { createWhipRouter } from './http/whipRoutes.js';
import { createStreamKeyRouter } from './http/streamKeyRoutes.js';
import { createProgramRouter } from './http/programRoutes.js';
import { IngestSwitchAlerts } from './alerts/ingestSwitchAlerts.js';
import { WhepSessions } from './egress/whep/whepSessions.js';
import { createWhepRouter } from './http/whepRoutes.js';
import { EncoderIngests } from './ingest/encoderIngests.js';
import { RtmpServer } from './ingest/rtmp/rtmpServer.js';
import { SrtServer } from './ingest/srt/srtServer.js';

export class PortInUseError extends Error {
  override name = 'PortInUseError';
}

export interface FloodlightServerOptions {
  logger?: Logger;
  clientDir?: string;
}

export class FloodlightServer {
  readonly config: Config;
  readonly log: Logger;
  readonly pool: WorkerPool;
  readonly rooms: RoomRegistry;
  /** Where rooms live and who watches them (in memory on a single node). */
  readonly directory: RoomDirectory;
  /** Room events and node-to-node requests (in memory on a single node). */
  readonly bus: MessageBus;
  /** Shared state of a cluster (in memory without REDIS_URL): directory, bus, node registry, runtime settings. */
  readonly cluster: ClusterState;
  readonly tokens: TokenService;
  readonly signaling: SignalingServer;
  /** Undefined when HLS_ENABLED=false. */
  readonly hls: HlsService | undefined;
  /** The secret in use (generated when AUTH_SECRET is not set). */
  readonly authSecret: string;
  readonly authSecretGenerated: boolean;
  /** Metrics, stats, QoE, alerts, webhooks and the admin feed. */
  readonly observability: Observability;
  /** Where joins go in a cluster (a single node answers itself). */
  readonly placement: PlacementService;
  /** Draining this node: SIGTERM in cluster mode, or the admin API. */
  readonly drainer: NodeDrain;
  /** node_gone / room_lost_origin (cluster mode only). */
  readonly #clusterAlerts: ClusterAlertMonitor | undefined;
  /** Stream keys (a file, or Redis in cluster mode). */
  readonly streamKeys: StreamKeyStore;
  /** This node's WHIP ingest sessions. */
  readonly whip: WhipSessions;
  /** Backup ingest switches: metric, webhook, alert. */
  readonly #ingestSwitches: IngestSwitchAlerts;
  /** This node's WHEP playback sessions. */
  readonly whep: WhepSessions;
  /** RTMP and SRT publishers (their key checks, probes and sources). */
  readonly encoderIngests: EncoderIngests;
  /** Undefined when RTMP_PORT=0 (or its port was taken). */
  rtmp: RtmpServer | undefined;
  /** Undefined when SRT_PORT=0 (or its port was taken, or libsrt is missing). */
  srt: SrtServer | undefined;
  readonly #http: http.Server;
  readonly #io: IoServer;
  #closing: Promise<void> | undefined;
  #loadTimer: NodeJS.Timeout | undefined;

  private constructor(parts: {
    config: Config;
    log: Logger;
    pool: WorkerPool;
    rooms: RoomRegistry;
    cluster: ClusterState;
    hls: HlsService | undefined;
    clientDir: string;
    streamKeys: StreamKeyStore;
  }) {
    const { config, log, pool, rooms, hls, clientDir } = parts;
    this.streamKeys = parts.streamKeys;
    this.cluster = parts.cluster;
    this.directory = parts.cluster.directory;
    this.bus = parts.cluster.bus;
    this.config = config;
    this.log = log;
    this.pool = pool;
    this.authSecretGenerated = !config.authSecret;
    this.authSecret = config.authSecret ?? randomBytes(32).toString('base64url');
    this.tokens = new TokenService(this.authSecret);
    this.rooms = rooms;
    this.hls = hls;
    this.observability = new Observability({
      config,
      pool,
      rooms,
      bus: parts.cluster.bus,
      hls,
      tokens: this.tokens,
      // Signaling starts below; metrics read it at scrape time.
      signalingStats: () => this.signaling?.stats,
      logger: log,
    });
    this.#ingestSwitches = new IngestSwitchAlerts({
      rooms,
      alerts: this.observability.alertManager,
      webhooks: this.observability.webhooks,
      registry: this.observability.metrics.registry,
    });
    this.placement = new PlacementService({
      nodeId: config.nodeId,
      nodes: parts.cluster.nodes,
      directory: parts.cluster.directory,
      settings: parts.cluster.settings,
      configuredMaxWebRtcViewers: config.maxWebRtcViewers,
      isDraining: () => this.drainer.draining,
    });
    this.whip = new WhipSessions({
      rooms,
      pool,
      keyFrameRequestDelayMs: config.keyFrameRequestDelayMs,
      maxPendingSessions: config.ingest.whip.maxPendingSessions,
      logger: log,
    });
    this.whep = new WhepSessions({
      rooms,
      directory: parts.cluster.directory,
      pool,
      maxPendingSessions: config.whep.maxPendingSessions,
      logger: log,
    });
    this.encoderIngests = new EncoderIngests({
      rooms,
      keys: this.streamKeys,
      rtcPortRange: { min: config.rtcMinPort, max: config.rtcMaxPort },
      ffmpegPath: config.hls.ffmpegPath,
      logger: log,
    });
    const app = createHttpApp({
      hls,
      // One node records a room's HLS (its origin); the others forward to it.
      ...(parts.cluster.mode === 'redis'
        ? {
            hlsCluster: new HlsClusterProxy({
              nodeId: config.nodeId,
              directory: parts.cluster.directory,
              nodes: parts.cluster.nodes,
              recordsHere: (room) => hls?.status(room)?.recording === true,
              recorderOf: (room, origin) => hls?.recorderOf(room, origin) ?? Promise.resolve(undefined),
              logger: log,
            }),
          }
        : {}),
      steering: new ContentSteering({
        setting: config.hls.pathways,
        ...(parts.cluster.mode === 'redis' ? { cluster: { bus: parts.cluster.bus, directory: parts.cluster.directory, nodes: parts.cluster.nodes } } : {}),
        logger: log,
      }),
      directory: parts.cluster.directory,
      rooms,
      nodeId: config.nodeId,
      pool,
      clientDir,
      logger: log,
      isShuttingDown: () => this.#closing !== undefined,
      cluster: {
        mode: parts.cluster.mode,
        routes: [createJoinRouter({ placement: this.placement, logger: log }), createClusterRouter({ tokens: this.tokens, cluster: parts.cluster })],
      },
      observability: {
        routes: createObservabilityRouter({
          observability: this.observability,
          tokens: this.tokens,
          rooms,
          metricsRequireAdmin: config.observability.metricsRequireAdmin,
        }),
        hlsRequestHook: this.observability.hlsAudience.middleware,
      },
      ingestRoutes: [
        createStreamKeyRouter({ keys: this.streamKeys, tokens: this.tokens }),
        createProgramRouter({ rooms, tokens: this.tokens }),
        createWhipRouter({
          sessions: this.whip,
          keys: this.streamKeys,
          tokens: this.tokens,
          iceServers: config.ingest.whip.iceServers,
          placement: this.placement,
          rateLimit: config.whipWhepRateLimit,
          logger: log,
        }),
        createWhepRouter({
          sessions: this.whep,
          tokens: this.tokens,
          requireViewerToken: config.requireViewerToken,
          iceServers: config.ingest.whip.iceServers,
          placement: this.placement,
          rateLimit: config.whipWhepRateLimit,
          logger: log,
        }),
      ],
    });
    this.#http = http.createServer(app);
    this.#io = new IoServer(this.#http, {
      maxHttpBufferSize: protocolLimits.maxFrameBytes,
      serveClient: false,
      // Same-origin pages only by default; the SDK connects to the page's host.
      cors: { origin: false },
      pingInterval: 10_000,
      pingTimeout: 10_000,
    });
    this.signaling = new SignalingServer({
      io: this.#io,
      rooms: this.rooms,
      tokens: this.tokens,
      routerRtpCapabilities: pool.routerRtpCapabilities,
      options: { requireViewerToken: config.requireViewerToken },
      placement: this.placement,
      logger: log,
    });
    this.drainer = new NodeDrain({
      nodeId: config.nodeId,
      nodes: parts.cluster.nodes,
      settings: parts.cluster.settings,
      placeElsewhere: (request) => this.placement.place(request, { exclude: config.nodeId }),
      members: () => this.signaling.members(),
      logger: log,
    });
    this.observability.attachIo(this.#io);
    this.#clusterAlerts =
      parts.cluster.mode === 'redis'
        ? new ClusterAlertMonitor({
            nodeId: config.nodeId,
            nodes: parts.cluster.nodes,
            directory: parts.cluster.directory,
            sink: alertManagerSink(this.observability.alertManager),
            logger: log,
          })
        : undefined;
  }

  /** Alert state, read-only (drills and tests). */
  get alerts(): AlertsView {
    return this.observability.alerts;
  }

  static async create(config: Config, options: FloodlightServerOptions = {}): Promise<FloodlightServer> {
    const log = options.logger ?? createLogger(config.logLevel);
    // Shared state first: a Redis that refuses us stops the start before any worker runs.
    const cluster = await createClusterState(config, config.nodeId, log);
    const { bus, directory } = cluster;
    let streamKeys: StreamKeyStore;
    try {
      streamKeys = await createStreamKeyStore(config, `floodlight-keys-${config.nodeId}`, log);
    } catch (error) {
      await cluster.close();
      throw error;
    }
    let pool: WorkerPool;
    try {
      pool = await WorkerPool.create({
        numWorkers: config.numWorkers,
        rtcMinPort: config.rtcMinPort,
        rtcMaxPort: config.rtcMaxPort,
        listenIp: config.listenIp,
        announcedIp: config.announcedIp,
        logLevel: config.mediasoupLogLevel,
        keyFrameCacheMs: config.keyFrameCacheMs,
        logger: log,
      });
    } catch (error) {
      await streamKeys.close();
      await cluster.close();
      throw error;
    }
    setListenerErrorReporter((event, error) => log.error({ event, err: error }, 'an event listener threw'));
    const roomOptions = {
      maxConsumersPerRouter: config.maxConsumersPerRouter,
      keyFrameRequestDelayMs: config.keyFrameRequestDelayMs,
      maxWebRtcViewers: config.maxWebRtcViewers,
      ingestStallMs: config.ingestFailover.stallMs,
      ingestFailbackMs: config.ingestFailover.failbackMs,
    };
    // Rooms read the limit at each admission: an operator's change applies at once.
    followViewerLimit(cluster.settings, roomOptions, config.maxWebRtcViewers);
    const rooms = new RoomRegistry({
      nodeId: config.nodeId,
      pool,
      pipe: new LocalPipe(pool.pipeListenInfo()),
      room: roomOptions,
      emptyRoomGraceMs: config.roomGraceMs,
      idleQuotas: config.idleRoomQuotas,
      directory,
      bus,
      // Only a cluster has other nodes to cascade rooms from and to.
      ...(cluster.mode === 'redis' ? { cascade: { listenInfo: remotePipeListenInfo(config), nodes: cluster.nodes } } : {}),
      logger: log,
    });
    let hls: HlsService | undefined;
    try {
      hls = config.hls.enabled
        ? await HlsService.create({
            rooms,
            bus,
            root: config.hls.dir,
            renditions: config.hls.renditions,
            dvrSeconds: config.hls.dvrSeconds,
            retainMs: config.hls.retainMs,
            ffmpegPath: config.hls.ffmpegPath,
            h264Passthrough: config.hls.h264Passthrough,
            rtcPortRange: { min: config.rtcMinPort, max: config.rtcMaxPort },
            settings: cluster.settings,
            ...(cluster.mode === 'redis'
              ? { cluster: { nodes: cluster.nodes, directory, roles: config.roles, redundantAudience: config.hls.redundantAudience } }
              : {}),
            logger: log,
          })
        : undefined;
    } catch (error) {
      // An unsafe HLS_DIR stops the start: don't leave the workers behind for an embedding caller.
      rooms.close();
      pool.close();
      await streamKeys.close();
      await cluster.close();
      throw error;
    }
    const server = new FloodlightServer({
      config,
      log,
      pool,
      rooms,
      cluster,
      hls,
      clientDir: options.clientDir ?? path.join(findRepoRoot(), 'client', 'dist'),
      streamKeys,
    });
    try {
      await server.#listen();
      await server.#listenForEncoders();
      await server.#announce();
      await server.drainer.clearStaleFlag();
    } catch (error) {
      await server.close();
      throw error;
    }
    return server;
  }

  /**
   * RTMP and SRT listeners. A taken port turns that protocol off with an error in
   * the log instead of stopping the server: nodes sharing a host (a local cluster,
   * tests) cannot all have 1935, and WebRTC, WHIP and HLS still serve.
   */
  async #listenForEncoders(): Promise<void> {
    const { ingest } = this.config;
    if (ingest.rtmp.port > 0) {
      try {
        this.rtmp = await RtmpServer.listen({
          port: ingest.rtmp.port,
          host: ingest.host,
          maxConnections: ingest.rtmp.maxConnections,
          ingests: this.encoderIngests,
          logger: this.log,
        });
      } catch (error) {
        this.log.error({ port: ingest.rtmp.port, err: (error as Error).message }, 'RTMP ingest is off: cannot listen on RTMP_PORT');
      }
    }
    if (ingest.srt.port > 0) {
      try {
        this.srt = SrtServer.listen({
          port: ingest.srt.port,
          host: ingest.host,
          latencyMs: ingest.srt.latencyMs,
          passphrase: ingest.srt.passphrase,
          maxConnections: ingest.srt.maxConnections,
          ingests: this.encoderIngests,
          logger: this.log,
        });
      } catch (error) {
        this.log.error({ port: ingest.srt.port, err: (error as Error).message }, 'SRT ingest is off: cannot listen on SRT_PORT');
      }
    }
  }

  /** This node in the node registry: who it is, and its load, renewed every second. */
  async #announce(): Promise<void> {
    const { config } = this;
    await this.cluster.nodes.announce({
      id: config.nodeId,
      publicUrl: config.publicUrl ?? `http://${config.announcedIp}:${this.port}`,
      mediaAddress: config.announcedIp,
      region: config.region,
      roles: config.roles.filter((role) => role !== 'hls' || this.hls?.enabled === true),
      state: 'serving',
      load: this.#load(),
    });
    this.#loadTimer = setInterval(() => this.cluster.nodes.update({ load: this.#load() }), NODE_RENEW_MS);
    this.#loadTimer.unref();
  }

  #load(): NodeLoad {
    const workers = this.pool.details();
    const cpu = workers.reduce((sum, w) => sum + w.cpu, 0) / Math.max(1, os.availableParallelism());
    const totals = this.observability.sampler.totals();
    return {
      cpu: Math.min(1, Math.max(0, cpu)),
      viewers: totals.webrtcViewers,
      consumers: this.pool.counts().consumers,
      bitrateOutBps: Math.max(0, Math.round(totals.bitrateOutBps)),
    };
  }

  get port(): number {
    return (this.#http.address() as AddressInfo).port;
  }

  /** Where this process reaches the server: its HOST, or loopback when it listens on every address. */
  get url(): string {
    const { address, port } = this.#http.address() as AddressInfo;
    const host = address === '0.0.0.0' || address === '::' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address;
    return `http://${host}:${port}`;
  }

  #listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') reject(new PortInUseError(`port ${this.config.port} is already in use; stop the other server or set PORT`));
        else if (error.code === 'EACCES') reject(new PortInUseError(`not allowed to listen on port ${this.config.port}; choose PORT above 1024`));
        else reject(error);
      };
      this.#http.once('error', onError);
      this.#http.listen(this.config.port, this.config.host, () => {
        this.#http.off('error', onError);
        this.log.info({ port: this.port, workers: this.pool.size, announcedIp: this.config.announcedIp }, 'floodlight listening');
        resolve();
      });
    });
  }

  /**
   * Drains this node: no more joins here, clients told to move to other
   * nodes. Resolves once none is left or after `deadlineMs`.
   */
  drain(reason: string, deadlineMs: number): Promise<'empty' | 'deadline'> {
    this.drainer.start(reason);
    return this.drainer.whenEmpty(deadlineMs);
  }

  /** Closes signaling, rooms, workers and the HTTP server. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.log.info('shutting down');
      // Observability first: no sampling, alerts or webhooks about the shutdown itself.
      this.observability.close();
      this.drainer.close();
      this.#clusterAlerts?.close();
      this.#ingestSwitches.close();
      // Then HLS: recorders stop and playlists get ENDLIST before rooms close.
      await this.hls?.close();
      this.whip.close();
      this.whep.close();
      this.rtmp?.close();
      this.srt?.close();
      this.encoderIngests.close();
      this.rooms.close('server shutting down');
      // Let the roomClosed events reach clients before their sockets go:
      // clients that miss it would think this is a crash and rejoin.
      await new Promise((resolve) => setTimeout(resolve, 150));
      this.signaling.close();
      await new Promise<void>((resolve) => this.#io.close(() => resolve()));
      this.pool.close();
      clearInterval(this.#loadTimer);
      await this.streamKeys.close();
      await this.cluster.close();
      this.#http.closeAllConnections();
      await new Promise<void>((resolve) => this.#http.close(() => resolve()));
      this.log.info('shut down');
    })();
    return this.#closing;
  }
}

/** Cross-host pipes listen like the WebRTC transports: LISTEN_IP, announced as ANNOUNCED_IP, in the RTC port range. */
function remotePipeListenInfo(config: Config): ms.TransportListenInfo {
  return {
    protocol: 'udp',
    ip: config.listenIp,
    announcedAddress: config.announcedIp,
    portRange: { min: config.rtcMinPort, max: config.rtcMaxPort },
  };
}
