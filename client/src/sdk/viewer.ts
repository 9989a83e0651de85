import type { Device, types as mediasoupTypes } from 'mediasoup-client';
import type { MediaKind, ProducerInfo, ServerEvents } from '../../../server/contracts/signaling';
import { StaleAttemptError, type Attempt } from './attempt';
import { FloodlightError, SignalingError, toFloodlightError } from './errors';
import { IceRecovery } from './iceRecovery';
import { RoomConnection, type ConnectionPhase, type JoinedSession } from './roomConnection';
import type { SignalingClient } from './signalingClient';
import { TypedEmitter } from './typedEmitter';

type Transport = mediasoupTypes.Transport;
type Consumer = mediasoupTypes.Consumer;

export type ViewerState = 'connecting' | 'playing' | 'offline' | 'reconnecting' | 'closed';

/** 'auto': the server adapts to bandwidth, capped by the video element's size; others pin a layer. */
export type Quality = 'auto' | 'high' | 'medium' | 'low';

export interface ViewerOptions {
  room: string;
  token?: string;
  /** Origin of the Floodlight server; defaults to the page's own origin. */
  serverUrl?: string;
  /** The element that shows the video; its size drives 'auto' quality. Can be set later. */
  videoElement?: HTMLVideoElement;
  quality?: Quality;
}

export type ViewerEvents = {
  state: { state: ViewerState; previous: ViewerState };
  /** The stream to show; a new object whenever the set of tracks changes, null when nothing plays. */
  stream: MediaStream | null;
  /** Fatal (bad token, room full, room closed…): the viewer is now 'closed'. */
  error: FloodlightError;
  /** Transient trouble; the viewer retries by itself. */
  retry: { error: FloodlightError; delayMs: number | undefined };
  roomStatus: ServerEvents['roomStatus'];
  /** The broadcaster paused/resumed a track. */
  mediaPaused: { kind: MediaKind; paused: boolean };
  /** Simulcast layer the server forwards for video (null: none, e.g. bandwidth too low). */
  layers: { spatialLayer: number | null; temporalLayer: number | null };
};

export interface ViewerStats {
  framesDecoded: number;
  framesDropped: number;
  audioPacketsReceived: number;
  audioBytesReceived: number;
  videoPacketsReceived: number;
  videoBytesReceived: number;
  /** Average video jitter-buffer delay, when the browser reports it. */
  jitterBufferDelayMs?: number;
  /** The browser's own video freeze counters (inbound-rtp freezeCount / totalFreezesDuration), when it reports them. */
  freezeCount?: number;
  totalFreezesDurationMs?: number;
}

interface ConsumedTrack {
  consumer: Consumer;
  /** mediasoup consumer type: only 'simulcast' / 'svc' have layers to choose. */
  type: string;
  /** Last spatial layer sent with setPreferredLayers, to avoid repeats. */
  preferredSpatialLayer: number | null;
}

/** Everything tied to one join of the room; dropped as a whole on rejoin. */
interface RecvSession {
  attempt: Attempt;
  signaling: SignalingClient;
  device: Device;
  transport: Transport | null;
  ice: IceRecovery | null;
  /** Producers the server announced and that have not closed. */
  producers: Map<string, ProducerInfo>;
  /** By producerId. */
  consumers: Map<string, ConsumedTrack>;
  /** producerIds with a consume in flight (no duplicates when newProducer races the join). */
  consuming: Set<string>;
  everConnected: boolean;
}

/** Spatial layer per manual quality. */
const LAYER_FOR_QUALITY = { high: 2, medium: 1, low: 0 } as const;
/** Re-evaluate 'auto' at most this often while the element is being resized. */
const RESIZE_DEBOUNCE_MS = 300;
/** After the server closes a consumer whose producer still exists, try again after this. */
const RECONSUME_DELAY_MS = 1_000;

/**
 * Watches a room over WebRTC. Emits a MediaStream to attach to a <video>,
 * follows producers coming and going, and recovers from any drop by itself.
 */
export class Viewer extends TypedEmitter<ViewerEvents> {
  readonly room: string;
  private readonly token: string | undefined;
  private readonly serverUrl: string | undefined;
  private connection: RoomConnection | null = null;
  private startPromise: Promise<void> | null = null;
  private session: RecvSession | null = null;
  private stateValue: ViewerState = 'connecting';
  private closed = false;
  private qualityValue: Quality;
  private videoElement: HTMLVideoElement | null = null;
  private resizeObserver: ResizeObserver | null = null;
  private resizeTimer: ReturnType<typeof setTimeout> | null = null;
  private emittedTracks: MediaStreamTrack[] = [];
  private viewersValue = 0;

  constructor(options: ViewerOptions) {
    super();
    this.room = options.room;
    this.token = options.token;
    this.serverUrl = options.serverUrl;
    this.qualityValue = options.quality ?? 'auto';
    if (options.videoElement) this.setVideoElement(options.videoElement);
  }

  get state(): ViewerState {
    return this.stateValue;
  }

  get quality(): Quality {
    return this.qualityValue;
  }

  get viewers(): number {
    return this.viewersValue;
  }

  /** The stream last emitted (null when nothing plays). */
  get stream(): MediaStream | null {
    return this.emittedTracks.length ? new MediaStream(this.emittedTracks) : null;
  }

  /**
   * Connects and joins. Resolves once joined (state 'playing', 'offline' or
   * 'connecting' while media starts); rejects on a fatal error or close().
   * Calling it again returns the same promise.
   */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new FloodlightError('CLOSED', 'viewer is closed'));
    if (this.startPromise) return this.startPromise;
    const connection = this.createConnection();
    this.connection = connection;
    this.startPromise = connection.start();
    return this.startPromise;
  }

  /** Stops watching for good. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.setVideoElement(null);
    const connection = this.connection;
    this.connection = null;
    connection?.close();
    this.teardown();
    this.refreshState();
  }

  setQuality(quality: Quality): void {
    this.qualityValue = quality;
    this.applyPreferredLayersToAll();
  }

  /** Tells the viewer which element shows the video, so 'auto' can follow its size. */
  setVideoElement(element: HTMLVideoElement | null): void {
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
    if (this.resizeTimer) clearTimeout(this.resizeTimer);
    this.resizeTimer = null;
    this.videoElement = element;
    if (!element || typeof ResizeObserver === 'undefined') return;
    this.resizeObserver = new ResizeObserver(() => {
      if (this.qualityValue !== 'auto' || this.resizeTimer) return;
      this.resizeTimer = setTimeout(() => {
        this.resizeTimer = null;
        this.applyPreferredLayersToAll();
      }, RESIZE_DEBOUNCE_MS);
    });
    this.resizeObserver.observe(element);
    this.applyPreferredLayersToAll();
  }

  /** Receive counters of the current WebRTC session (they restart from 0 after a rejoin). */
  async getStats(): Promise<ViewerStats> {
    const stats: ViewerStats = {
      framesDecoded: 0,
      framesDropped: 0,
      audioPacketsReceived: 0,
      audioBytesReceived: 0,
      videoPacketsReceived: 0,
      videoBytesReceived: 0,
    };
    const transport = this.session?.transport;
    if (!transport || transport.closed) return stats;
    const report = await transport.getStats();
    let jitterDelaySeconds = 0;
    let jitterEmitted = 0;
    report.forEach((entry: RTCStats) => {
      if (entry.type !== 'inbound-rtp') return;
      const inbound = entry as RTCInboundRtpStreamStats;
      if (inbound.kind === 'video') {
        stats.framesDecoded += inbound.framesDecoded ?? 0;
        stats.framesDropped += inbound.framesDropped ?? 0;
        stats.videoPacketsReceived += inbound.packetsReceived ?? 0;
        stats.videoBytesReceived += inbound.bytesReceived ?? 0;
        if (inbound.freezeCount !== undefined) stats.freezeCount = (stats.freezeCount ?? 0) + inbound.freezeCount;
        if (inbound.totalFreezesDuration !== undefined) {
          stats.totalFreezesDurationMs = (stats.totalFreezesDurationMs ?? 0) + inbound.totalFreezesDuration * 1000;
        }
        jitterDelaySeconds += inbound.jitterBufferDelay ?? 0;
        jitterEmitted += inbound.jitterBufferEmittedCount ?? 0;
      } else if (inbound.kind === 'audio') {
        stats.audioPacketsReceived += inbound.packetsReceived ?? 0;
        stats.audioBytesReceived += inbound.bytesReceived ?? 0;
      }
    });
    if (jitterEmitted > 0) stats.jitterBufferDelayMs = (jitterDelaySeconds / jitterEmitted) * 1000;
    return stats;
  }

  private createConnection(): RoomConnection {
    const connection: RoomConnection = new RoomConnection({
      room: this.room,
      role: 'viewer',
      ...(this.token ? { token: this.token } : {}),
      ...(this.serverUrl ? { serverUrl: this.serverUrl } : {}),
      hooks: {
        setup: (session) => this.setup(connection, session),
        teardown: () => this.teardown(),
        onPhase: (_phase: ConnectionPhase) => this.refreshState(),
        onRetry: (error, delayMs) => this.emit('retry', { error, delayMs }),
        onFatal: (error) => {
          // Terminal for this Viewer; the page decides what comes next (e.g. HLS when ROOM_FULL).
          this.closed = true;
          this.connection = null;
          this.setVideoElement(null);
          this.refreshState();
          this.emit('error', error);
        },
      },
    });
    this.listenToRoom(connection);
    return connection;
  }

  private listenToRoom(connection: RoomConnection): void {
    const signaling = connection.signaling;
    /** The live session, if the event belongs to it. */
    const current = (): RecvSession | null => {
      const session = this.session;
      return session && session.attempt.active && session.signaling === signaling ? session : null;
    };

    signaling.on('newProducer', (info) => {
      const session = current();
      if (!session) return; // the next join lists it anyway
      session.producers.set(info.producerId, info);
      this.refreshState();
      if (session.transport) void this.consumeInBackground(connection, session, info);
    });
    signaling.on('producerClosed', ({ producerId }) => {
      const session = current();
      if (!session) return;
      session.producers.delete(producerId);
      this.dropConsumer(session, producerId);
    });
    signaling.on('consumerClosed', ({ producerId }) => {
      const session = current();
      if (!session) return;
      this.dropConsumer(session, producerId);
      // The server dropped just this consumer; if the producer lives on, take it again.
      setTimeout(() => {
        const info = session.producers.get(producerId);
        if (info && session.attempt.active && session.transport) void this.consumeInBackground(connection, session, info);
      }, RECONSUME_DELAY_MS);
    });
    signaling.on('consumerPaused', ({ consumerId }) => this.onConsumerPaused(current(), consumerId, true));
    signaling.on('consumerResumed', ({ consumerId }) => this.onConsumerPaused(current(), consumerId, false));
    signaling.on('consumerLayersChanged', ({ consumerId, spatialLayer, temporalLayer }) => {
      const consumed = this.findConsumer(current(), consumerId);
      if (consumed?.consumer.kind === 'video') this.emit('layers', { spatialLayer, temporalLayer });
    });
    signaling.on('roomStatus', (status) => {
      this.viewersValue = status.viewers;
      this.emit('roomStatus', status);
    });
  }

  private async setup(connection: RoomConnection, { attempt, data, device }: JoinedSession): Promise<void> {
    const signaling = connection.signaling;
    const session: RecvSession = {
      attempt,
      signaling,
      device,
      transport: null,
      ice: null,
      producers: new Map(data.producers.map((info) => [info.producerId, info])),
      consumers: new Map(),
      consuming: new Set(),
      everConnected: false,
    };
    this.session = session;
    this.viewersValue = data.viewers;
    this.emit('roomStatus', { viewers: data.viewers, live: data.producers.length > 0 });
    this.refreshState();

    const info = await attempt.guard(signaling.request('createTransport', { direction: 'recv' }));
    const transport = device.createRecvTransport({
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
    });
    session.transport = transport;
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      signaling.request('connectTransport', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (state) => {
      if (state === 'connected') session.everConnected = true;
      this.refreshState();
    });
    session.ice = new IceRecovery({
      transport,
      requestIceRestart: (transportId) => signaling.request('restartIce', { transportId }),
      onUnrecoverable: (reason) => connection.requestRejoin(`recv transport: ${reason}`, attempt),
    });

    // One at a time keeps the request rate low; video first, since the first picture is what
    // a viewer waits for (and its keyframe request goes out as soon as the transport connects);
    // producers announced meanwhile join the loop (Map iteration sees entries added during it).
    for (const producer of [...session.producers.values()].filter((p) => p.kind === 'video')) await this.consume(session, producer);
    for (const producer of session.producers.values()) await this.consume(session, producer);
    this.refreshState();
  }

  private teardown(): void {
    const session = this.session;
    if (!session) return;
    this.session = null;
    session.ice?.close();
    // Closing the transport closes every consumer on it: nothing stale survives a rejoin.
    session.transport?.close();
    session.consumers.clear();
    session.consuming.clear();
    this.publishStream();
    this.refreshState();
  }

  /** consume() outside setup: a failure that is not about this one producer means a rejoin. */
  private async consumeInBackground(connection: RoomConnection, session: RecvSession, info: ProducerInfo): Promise<void> {
    try {
      await this.consume(session, info);
    } catch (error) {
      if (error instanceof StaleAttemptError || !session.attempt.active) return;
      const failure = toFloodlightError(error);
      connection.requestRejoin(`consume failed: ${failure.code} ${failure.message}`, session.attempt);
    }
  }

  /** Server consume → local consume → preferred layers → resume. Skips producers that vanished. */
  private async consume(session: RecvSession, info: ProducerInfo): Promise<void> {
    const { attempt, signaling, device, transport } = session;
    const producerId = info.producerId;
    if (!transport || session.consumers.has(producerId) || session.consuming.has(producerId)) return;
    session.consuming.add(producerId);
    let consumed: ConsumedTrack | null = null;
    try {
      const rtpCapabilities = device.rtpCapabilities;
      const params = await attempt.guard(signaling.request('consume', { producerId, rtpCapabilities }));
      const consumer = await attempt.guard(
        transport.consume({
          id: params.consumerId,
          producerId: params.producerId,
          kind: params.kind,
          rtpParameters: params.rtpParameters,
        }),
      );
      consumed = { consumer, type: params.type, preferredSpatialLayer: null };
      if (!session.producers.has(producerId)) {
        // The producer closed while we were setting up: do not keep a dead consumer.
        consumer.close();
        return;
      }
      session.consumers.set(producerId, consumed);
      // Pick the layer before resuming, so the first keyframe is already the right size.
      await this.applyPreferredLayers(session, consumed);
      await attempt.guard(signaling.request('resumeConsumer', { consumerId: consumer.id }));
      if (params.producerPaused) this.emit('mediaPaused', { kind: params.kind, paused: true });
      this.publishStream();
      this.refreshState();
    } catch (error) {
      if (error instanceof SignalingError && (error.code === 'NOT_FOUND' || error.code === 'CANNOT_CONSUME')) {
        // This producer (or its consumer) is gone, or we cannot decode it: skip it, keep the rest.
        console.warn(`[floodlight] skipping producer ${producerId}: ${error.code} ${error.message}`);
        if (consumed) this.dropConsumer(session, producerId);
        if (error.code === 'NOT_FOUND' && !consumed) session.producers.delete(producerId);
        this.refreshState();
        return;
      }
      throw error;
    } finally {
      session.consuming.delete(producerId);
    }
  }

  private dropConsumer(session: RecvSession, producerId: string): void {
    const consumed = session.consumers.get(producerId);
    if (consumed) {
      session.consumers.delete(producerId);
      consumed.consumer.close();
    }
    this.publishStream();
    this.refreshState();
  }

  private findConsumer(session: RecvSession | null, consumerId: string): ConsumedTrack | undefined {
    if (!session) return undefined;
    for (const consumed of session.consumers.values()) if (consumed.consumer.id === consumerId) return consumed;
    return undefined;
  }

  private onConsumerPaused(session: RecvSession | null, consumerId: string, paused: boolean): void {
    const consumed = this.findConsumer(session, consumerId);
    if (consumed) this.emit('mediaPaused', { kind: consumed.consumer.kind as MediaKind, paused });
  }

  /** The spatial layer we want now: manual choice, or 'auto' capped by the element's height in device pixels. */
  private targetSpatialLayer(): number {
    if (this.qualityValue !== 'auto') return LAYER_FOR_QUALITY[this.qualityValue];
    const element = this.videoElement;
    if (!element) return 2;
    const renderedHeight = element.clientHeight * (window.devicePixelRatio || 1);
    if (renderedHeight <= 240) return 0;
    if (renderedHeight <= 480) return 1;
    return 2;
  }

  private async applyPreferredLayers(session: RecvSession, consumed: ConsumedTrack): Promise<void> {
    if (consumed.consumer.kind !== 'video' || (consumed.type !== 'simulcast' && consumed.type !== 'svc')) return;
    const spatialLayer = this.targetSpatialLayer();
    if (consumed.preferredSpatialLayer === spatialLayer) return;
    consumed.preferredSpatialLayer = spatialLayer;
    try {
      await session.attempt.guard(session.signaling.request('setPreferredLayers', { consumerId: consumed.consumer.id, spatialLayer }));
    } catch (error) {
      if (error instanceof StaleAttemptError) throw error;
      consumed.preferredSpatialLayer = null; // try again next time
      console.warn('[floodlight] setPreferredLayers failed', error);
    }
  }

  private applyPreferredLayersToAll(): void {
    const session = this.session;
    if (!session || !session.attempt.active) return;
    for (const consumed of session.consumers.values()) {
      this.applyPreferredLayers(session, consumed).catch(() => undefined);
    }
  }

  /** Emits a new MediaStream when the set of live tracks changed (video first, then audio). */
  private publishStream(): void {
    const consumers = this.session ? [...this.session.consumers.values()] : [];
    const tracks = consumers
      .map((consumed) => consumed.consumer)
      .filter((consumer) => !consumer.closed)
      .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'video' ? -1 : 1))
      .map((consumer) => consumer.track);
    const unchanged = tracks.length === this.emittedTracks.length && tracks.every((track, i) => track === this.emittedTracks[i]);
    if (unchanged) return;
    this.emittedTracks = tracks;
    this.emit('stream', tracks.length ? new MediaStream(tracks) : null);
  }

  private computeState(): ViewerState {
    if (this.closed) return 'closed';
    const connection = this.connection;
    if (!connection) return 'connecting';
    switch (connection.phase) {
      case 'connecting':
        return 'connecting';
      case 'reconnecting':
        return 'reconnecting';
      case 'failed':
      case 'closed':
        return 'closed';
      case 'joined': {
        const session = this.session;
        if (!session) return 'reconnecting';
        if (session.producers.size === 0) return 'offline';
        if (session.consumers.size === 0) return session.everConnected ? 'reconnecting' : 'connecting';
        if (session.transport?.connectionState === 'connected') return 'playing';
        return session.everConnected ? 'reconnecting' : 'connecting';
      }
    }
  }

  private refreshState(): void {
    const next = this.computeState();
    if (next === this.stateValue) return;
    const previous = this.stateValue;
    this.stateValue = next;
    this.emit('state', { state: next, previous });
  }
}
