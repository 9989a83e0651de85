import type { Device } from 'mediasoup-client';
import type { MediaKind, ServerEvents } from '../../../server/contracts/signaling.js';
import { prepareBrowserDevice } from './browserDevice.js';
import { FloodlightError } from './errors.js';
import { LayerPreference, type Quality } from './layerPreference.js';
import { receiveStats, type ViewerStats } from './receiveStats.js';
import { RecvSession } from './recvSession.js';
import { RoomConnection, type JoinedSession } from './roomConnection.js';
import { mediaPendingState } from './mediaTransport.js';
import { DerivedState } from './derivedState.js';
import { TypedEmitter } from './typedEmitter.js';

export type { Quality } from './layerPreference.js';
export type { ViewerStats } from './receiveStats.js';

/** 'offline': joined, and the room has no broadcast (yet): waiting for one. */
export type ViewerState = 'connecting' | 'playing' | 'offline' | 'reconnecting' | 'closed';

export interface ViewerOptions {
  room: string;
  token?: string;
  /** Origin of the Floodlight server; defaults to the page's own origin. */
  serverUrl?: string;
  /** Region hint for cluster placement (a node's REGION label). */
  region?: string;
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

/**
 * Watches a room over WebRTC. Emits a MediaStream to attach to a <video>,
 * follows producers coming and going, and recovers from any drop by itself.
 * The per-join media live in RecvSession; this class owns the connection,
 * the public state and the stream.
 */
export class Viewer extends TypedEmitter<ViewerEvents> {
  readonly room: string;
  private readonly token: string | undefined;
  private readonly serverUrl: string | undefined;
  private readonly region: string | undefined;
  private connection: RoomConnection<Device> | null = null;
  private startPromise: Promise<void> | null = null;
  private session: RecvSession | null = null;
  private readonly stateValue = new DerivedState<ViewerState>(
    'connecting',
    () => this.computeState(),
    (state, previous) => this.emit('state', { state, previous }),
  );
  private closed = false;
  private readonly layers: LayerPreference;
  private emittedTracks: MediaStreamTrack[] = [];
  private viewersValue = 0;

  constructor(options: ViewerOptions) {
    super();
    this.room = options.room;
    this.token = options.token;
    this.serverUrl = options.serverUrl;
    this.region = options.region;
    this.layers = new LayerPreference(options.quality ?? 'auto', () => this.session?.applyPreferredLayersToAll());
    if (options.videoElement) this.setVideoElement(options.videoElement);
  }

  get state(): ViewerState {
    return this.stateValue.value;
  }

  get quality(): Quality {
    return this.layers.quality;
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
    this.layers.setQuality(quality);
  }

  /** Tells the viewer which element shows the video, so 'auto' can follow its size. */
  setVideoElement(element: HTMLVideoElement | null): void {
    this.layers.setElement(element);
  }

  /** Receive counters of the current WebRTC session (they restart from 0 after a rejoin). */
  getStats(): Promise<ViewerStats> {
    return receiveStats(this.session?.transport?.transport);
  }

  private createConnection(): RoomConnection<Device> {
    const connection: RoomConnection<Device> = new RoomConnection({
      room: this.room,
      role: 'viewer',
      ...(this.token ? { token: this.token } : {}),
      ...(this.serverUrl ? { signaling: { serverUrl: this.serverUrl } } : {}),
      ...(this.region ? { region: this.region } : {}),
      hooks: {
        prepareDevice: prepareBrowserDevice,
        setup: (joined) => this.setup(connection, joined),
        teardown: () => this.teardown(),
        onPhase: () => this.refreshState(),
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

  private listenToRoom(connection: RoomConnection<Device>): void {
    /** The live session, if the event belongs to it. */
    const current = (): RecvSession | null => {
      const session = this.session;
      return session?.attempt.active && this.connection === connection ? session : null;
    };
    const signaling = connection.signaling;
    // No session: the next join lists the room's producers anyway.
    signaling.on('newProducer', (info) => current()?.producerAdded(info));
    signaling.on('producerClosed', ({ producerId }) => current()?.producerClosed(producerId));
    signaling.on('consumerClosed', ({ producerId }) => current()?.consumerClosed(producerId));
    signaling.on('consumerPaused', ({ consumerId }) => current()?.consumerPaused(consumerId, true));
    signaling.on('consumerResumed', ({ consumerId }) => current()?.consumerPaused(consumerId, false));
    signaling.on('consumerLayersChanged', ({ consumerId, spatialLayer, temporalLayer }) => {
      if (current()?.isVideoConsumer(consumerId)) this.emit('layers', { spatialLayer, temporalLayer });
    });
    signaling.on('roomStatus', (status) => {
      this.viewersValue = status.viewers;
      this.emit('roomStatus', status);
    });
  }

  private async setup(connection: RoomConnection<Device>, joined: JoinedSession<Device>): Promise<void> {
    const session = new RecvSession({
      connection,
      joined,
      targetSpatialLayer: () => this.layers.targetSpatialLayer(),
      onChange: () => {
        if (this.session !== session) return;
        this.publishStream();
        this.refreshState();
      },
      onMediaPaused: (kind, paused) => this.emit('mediaPaused', { kind, paused }),
    });
    this.session = session;
    const { data } = joined;
    this.viewersValue = data.viewers;
    this.emit('roomStatus', { viewers: data.viewers, live: data.producers.length > 0 });
    this.refreshState();
    // Nothing live yet: no transport until the broadcast starts (state 'offline').
    await session.start();
    this.refreshState();
  }

  private teardown(): void {
    const session = this.session;
    if (!session) return;
    this.session = null;
    // Closing the transport closes every consumer on it: nothing stale survives a rejoin.
    session.close();
    this.publishStream();
    this.refreshState();
  }

  /** Emits a new MediaStream when the set of live tracks changed (video first, then audio). */
  private publishStream(): void {
    const tracks = this.session?.tracks() ?? [];
    const unchanged = tracks.length === this.emittedTracks.length && tracks.every((track, i) => track === this.emittedTracks[i]);
    if (unchanged) return;
    this.emittedTracks = tracks;
    this.emit('stream', tracks.length ? new MediaStream(tracks) : null);
  }

  private computeState(): ViewerState {
    if (this.closed) return 'closed';
    const phase = this.connection?.phase;
    if (!phase) return 'connecting';
    if (phase === 'failed' || phase === 'closed') return 'closed';
    if (phase !== 'joined') return phase;
    const session = this.session;
    if (session?.producers.size === 0) return 'offline'; // waiting for the broadcast
    if (session && session.consumerCount > 0 && session.transport?.connected) return 'playing';
    return mediaPendingState(session?.transport);
  }

  private refreshState(): void {
    this.stateValue.refresh();
  }
}
