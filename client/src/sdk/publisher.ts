import type { Device, types as mediasoupTypes } from 'mediasoup-client';
import type { MediaKind, ServerEvents } from '../../../server/contracts/signaling.js';
import { StaleAttemptError, type Attempt } from './attempt.js';
import { audioCodecOptions, cameraEncodings, pickVideoCodec, screenEncodings, videoCodecOptions, type VideoCodecName, type VideoSource } from './encoding.js';
import { prepareBrowserDevice } from './browserDevice.js';
import { FloodlightError, SignalingError, toFloodlightError } from './errors.js';
import { DerivedState } from './derivedState.js';
import { MediaTransport, mediaPendingState } from './mediaTransport.js';
import { RoomConnection, type ConnectionPhase, type JoinedSession } from './roomConnection.js';
import type { SignalingClient } from './signalingClient.js';
import { TypedEmitter } from './typedEmitter.js';

type Producer = mediasoupTypes.Producer;

export type PublisherState = 'idle' | 'connecting' | 'live' | 'reconnecting' | 'error' | 'closed';

/** Source label the server gets for each produced track. */
type ProducerSource = 'camera' | 'microphone' | 'screen' | 'screen-audio';

export interface PublisherOptions {
  room: string;
  token: string;
  /** Origin of the Floodlight server; defaults to the page's own origin. */
  serverUrl?: string;
  /** Region hint for cluster placement (a node's REGION label). */
  region?: string;
}

export interface PublishOptions {
  source: VideoSource;
  /** Default 'vp8'. */
  videoCodec?: VideoCodecName;
  /** Label for the audio track; defaults to 'microphone' for camera, 'screen-audio' for screen. */
  audioSource?: 'microphone' | 'screen-audio';
}

export type PublisherEvents = {
  state: { state: PublisherState; previous: PublisherState };
  /** Fatal: the publisher is now in 'error' and will not retry by itself. */
  error: FloodlightError;
  /** Transient trouble; the publisher retries by itself. */
  retry: { error: FloodlightError; delayMs: number | undefined };
  roomStatus: ServerEvents['roomStatus'];
  /** A published track ended (e.g. the user clicked the browser's "Stop sharing"). */
  trackEnded: { kind: MediaKind; track: MediaStreamTrack };
};

/** What we want on air, independent of any one server session. */
interface DesiredTrack {
  kind: MediaKind;
  track: MediaStreamTrack;
  source: ProducerSource;
  /** Changing this needs a new producer; changing only the track does not. */
  producerKey: string;
}

interface PublishedTrack {
  producer: Producer;
  producerKey: string;
}

/** Everything tied to one join of the room; dropped as a whole on rejoin. */
interface SendSession {
  attempt: Attempt;
  signaling: SignalingClient;
  device: Device;
  transport: MediaTransport | null;
  producers: Map<MediaKind, PublishedTrack>;
  /** Serialises track changes: setup and later publish() calls never interleave. */
  syncChain: Promise<void>;
}

/**
 * Publishes a MediaStream (camera or screen + audio) to a room and keeps it on
 * air: socket drops, ICE failures and server-side rebuilds all lead to an
 * automatic rejoin that republishes the same tracks.
 */
export class Publisher extends TypedEmitter<PublisherEvents> {
  readonly room: string;
  private readonly token: string;
  private readonly serverUrl: string | undefined;
  private readonly region: string | undefined;
  private connection: RoomConnection<Device> | null = null;
  private session: SendSession | null = null;
  private media: { stream: MediaStream; options: PublishOptions } | null = null;
  private readonly paused: Record<MediaKind, boolean> = { audio: false, video: false };
  private unwatchTrackEnds: () => void = () => undefined;
  private fatalError: FloodlightError | null = null;
  private readonly stateValue = new DerivedState<PublisherState>(
    'idle',
    () => this.computeState(),
    (state, previous) => this.emit('state', { state, previous }),
  );
  private viewersValue = 0;
  private closed = false;

  constructor(options: PublisherOptions) {
    super();
    this.room = options.room;
    this.token = options.token;
    this.serverUrl = options.serverUrl;
    this.region = options.region;
  }

  get state(): PublisherState {
    return this.stateValue.value;
  }

  /** Viewers in the room, from the server's roomStatus. */
  get viewers(): number {
    return this.viewersValue;
  }

  /** The last fatal error, while in 'error'. */
  get error(): FloodlightError | null {
    return this.fatalError;
  }

  /**
   * Goes live with `stream` (or, when already publishing, switches to it:
   * same source/codec → seamless track replacement, otherwise new producers).
   * Resolves once media is flowing; rejects on a fatal error or stop()/close().
   * The stream's tracks stay owned by the caller: the SDK never stops them.
   */
  async publish(stream: MediaStream, options: PublishOptions): Promise<void> {
    if (this.closed) throw new FloodlightError('CLOSED', 'publisher is closed');
    if (!stream.getTracks().some((track) => track.readyState === 'live')) {
      throw new FloodlightError('NO_MEDIA', 'the stream has no live audio or video track');
    }
    this.media = { stream, options: { ...options } };
    this.watchTrackEnds(stream);

    if (!this.connection) {
      this.fatalError = null;
      this.connection = this.createConnection();
      const live = this.waitUntilLive();
      // Failures surface through waitUntilLive() (state 'error'), so the rejection is not needed here.
      this.connection.start().catch(() => undefined);
      this.refreshState();
      return live;
    }
    // Already connected: switch tracks in place (a session being set up picks up the new media itself).
    const session = this.session;
    if (session) await this.queueSync(session).catch((error: unknown) => this.onSyncFailure(session, error));
    return this.waitUntilLive();
  }

  /** Leaves the room; the publisher can publish() again later. Idempotent. */
  stop(): void {
    const connection = this.connection;
    this.connection = null;
    this.media = null;
    this.unwatchTrackEnds();
    this.fatalError = null;
    connection?.close();
    this.refreshState();
  }

  /** Stops for good. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    this.refreshState();
  }

  /** Mutes/unmutes a kind on the server (the track is disabled locally too). Survives rejoins. */
  async setPaused(kind: MediaKind, paused: boolean): Promise<void> {
    this.paused[kind] = paused;
    const session = this.session;
    const published = session?.producers.get(kind);
    if (!session || !published) {
      for (const track of this.desiredTracks().filter((t) => t.kind === kind)) track.track.enabled = !paused;
      return;
    }
    await this.applyPause(session, published.producer, kind).catch((error: unknown) => {
      // The next rejoin re-applies it anyway.
      console.warn('[floodlight] pause/resume failed', error);
    });
  }

  isPaused(kind: MediaKind): boolean {
    return this.paused[kind];
  }

  private createConnection(): RoomConnection<Device> {
    const connection: RoomConnection<Device> = new RoomConnection({
      room: this.room,
      role: 'publisher',
      token: this.token,
      ...(this.serverUrl ? { signaling: { serverUrl: this.serverUrl } } : {}),
      ...(this.region ? { region: this.region } : {}),
      hooks: {
        prepareDevice: prepareBrowserDevice,
        setup: (session) => this.setup(connection, session),
        teardown: () => this.teardown(),
        onPhase: (phase: ConnectionPhase) => {
          if (phase === 'closed' && this.connection === connection) this.connection = null;
          this.refreshState();
        },
        onRetry: (error, delayMs) => this.emit('retry', { error, delayMs }),
        onFatal: (error) => {
          if (this.connection !== connection) return;
          this.connection = null;
          this.fatalError = error;
          this.refreshState();
          this.emit('error', error);
        },
      },
    });
    connection.signaling.on('roomStatus', (status) => {
      this.viewersValue = status.viewers;
      this.emit('roomStatus', status);
    });
    return connection;
  }

  private async setup(connection: RoomConnection<Device>, { attempt, data, device }: JoinedSession<Device>): Promise<void> {
    const signaling = connection.signaling;
    const session: SendSession = {
      attempt,
      signaling,
      device,
      transport: null,
      producers: new Map(),
      syncChain: Promise.resolve(),
    };
    this.session = session;
    this.viewersValue = data.viewers;
    this.emit('roomStatus', { viewers: data.viewers, live: data.producers.length > 0 });

    const mediaTransport = await MediaTransport.open({
      direction: 'send',
      device,
      signaling,
      attempt,
      onConnectionState: () => this.refreshState(),
      onUnrecoverable: (reason) => connection.requestRejoin(reason, attempt),
    });
    session.transport = mediaTransport;
    const transport = mediaTransport.transport;
    transport.on('produce', ({ kind, rtpParameters, appData }, callback, errback) => {
      const source = appData['source'] as ProducerSource | undefined;
      signaling
        .request('produce', {
          transportId: transport.id,
          kind,
          rtpParameters,
          ...(source ? { source } : {}),
        })
        .then(({ producerId }) => callback({ id: producerId }), errback);
    });

    // The codec is checked before anything goes out, so an unsupported choice fails fast.
    const codecName = this.media?.options.videoCodec ?? 'vp8';
    if (this.media?.stream.getVideoTracks().length) pickVideoCodec(device.rtpCapabilities, codecName);

    await this.queueSync(session);
    attempt.assertActive();
    this.refreshState();
  }

  private teardown(): void {
    const session = this.session;
    if (!session) return;
    this.session = null;
    // Closing the transport closes its producers; stopTracks:false keeps the caller's tracks alive.
    session.transport?.close();
    session.producers.clear();
    this.refreshState();
  }

  /**
   * Makes the session's producers match `this.media`, one change at a time.
   * Rejects with the raw error: setup lets it fail the attempt (fatal vs retry),
   * later callers go through onSyncFailure().
   */
  private queueSync(session: SendSession): Promise<void> {
    const run = session.syncChain.then(() => this.syncProducers(session));
    session.syncChain = run.catch(() => undefined);
    return run;
  }

  private onSyncFailure(session: SendSession, error: unknown): void {
    if (error instanceof StaleAttemptError || !session.attempt.active) return;
    const failure = toFloodlightError(error);
    // A fresh join re-publishes everything, and reports fatal errors properly.
    this.connection?.requestRejoin(`publishing failed: ${failure.code} ${failure.message}`, session.attempt);
  }

  private async syncProducers(session: SendSession): Promise<void> {
    const { attempt, transport } = session;
    if (!transport || !attempt.active) return;
    const desired = new Map(this.desiredTracks().map((t) => [t.kind, t] as const));

    for (const kind of ['audio', 'video'] as const) {
      const want = desired.get(kind);
      const have = session.producers.get(kind);
      if (have && (!want || want.producerKey !== have.producerKey)) {
        session.producers.delete(kind);
        await this.closeProducer(session, have.producer);
      }
      if (!want) continue;

      const current = session.producers.get(kind);
      if (current) {
        if (current.producer.track !== want.track) {
          want.track.enabled = !this.paused[kind];
          await attempt.guard(current.producer.replaceTrack({ track: want.track }));
        }
      } else {
        const producer = await this.produce(session, want);
        session.producers.set(kind, { producer, producerKey: want.producerKey });
      }
      const published = session.producers.get(kind);
      if (published) await attempt.guard(this.applyPause(session, published.producer, kind));
      this.refreshState();
    }
  }

  private async produce(session: SendSession, want: DesiredTrack): Promise<Producer> {
    const { attempt, transport, device } = session;
    if (!transport) throw new FloodlightError('INTERNAL', 'no send transport');
    want.track.enabled = !this.paused[want.kind];
    const options = this.media?.options;
    let producerOptions: mediasoupTypes.ProducerOptions;
    if (want.kind === 'audio') {
      producerOptions = { codecOptions: audioCodecOptions };
    } else {
      const codecName = options?.videoCodec ?? 'vp8';
      const isScreen = options?.source === 'screen';
      // Screen text should stay sharp; let the browser drop frames before resolution.
      if (isScreen && !want.track.contentHint) want.track.contentHint = 'detail';
      producerOptions = {
        codec: pickVideoCodec(device.rtpCapabilities, codecName),
        encodings: isScreen ? screenEncodings(codecName) : cameraEncodings(codecName),
        codecOptions: videoCodecOptions,
      };
    }
    const producer = await attempt.guard(
      transport.transport.produce({
        ...producerOptions,
        track: want.track,
        stopTracks: false, // the page keeps previewing, and a rejoin republishes the same track
        appData: { source: want.source },
      }),
    );
    return producer;
  }

  private async closeProducer(session: SendSession, producer: Producer): Promise<void> {
    producer.close();
    try {
      await session.attempt.guard(session.signaling.request('closeProducer', { producerId: producer.id }));
    } catch (error) {
      // Already gone on the server is fine; anything else the rejoin will clean up.
      if (error instanceof StaleAttemptError) throw error;
      if (!(error instanceof SignalingError && error.code === 'NOT_FOUND')) throw error;
    }
  }

  private async applyPause(session: SendSession, producer: Producer, kind: MediaKind): Promise<void> {
    const paused = this.paused[kind];
    if (producer.paused === paused) return;
    if (paused) {
      producer.pause();
      await session.signaling.request('pauseProducer', { producerId: producer.id });
    } else {
      producer.resume();
      await session.signaling.request('resumeProducer', { producerId: producer.id });
    }
  }

  /** Reports tracks ending on their own (e.g. the browser's "Stop sharing" button), live or not. */
  private watchTrackEnds(stream: MediaStream): void {
    this.unwatchTrackEnds();
    const tracks = stream.getTracks();
    const onEnded = (event: Event) => {
      const track = event.target as MediaStreamTrack;
      this.emit('trackEnded', { kind: track.kind as MediaKind, track });
    };
    for (const track of tracks) track.addEventListener('ended', onEnded);
    this.unwatchTrackEnds = () => {
      for (const track of tracks) track.removeEventListener('ended', onEnded);
      this.unwatchTrackEnds = () => undefined;
    };
  }

  private desiredTracks(): DesiredTrack[] {
    if (!this.media) return [];
    const { stream, options } = this.media;
    const codec = options.videoCodec ?? 'vp8';
    const audioSource = options.audioSource ?? (options.source === 'camera' ? 'microphone' : 'screen-audio');
    const tracks: DesiredTrack[] = [];
    // One track per kind: the first live one.
    const audio = stream.getAudioTracks().find((t) => t.readyState === 'live');
    const video = stream.getVideoTracks().find((t) => t.readyState === 'live');
    if (audio) tracks.push({ kind: 'audio', track: audio, source: audioSource, producerKey: audioSource });
    if (video) {
      tracks.push({ kind: 'video', track: video, source: options.source, producerKey: `${options.source}/${codec}` });
    }
    return tracks;
  }

  /** Resolves when the state is (or becomes) 'live'; rejects on error / idle / closed. */
  private waitUntilLive(): Promise<void> {
    if (this.stateValue.value === 'live') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const off = this.on('state', ({ state }) => {
        if (state === 'live') {
          off();
          resolve();
        } else if (state === 'error' || state === 'closed' || state === 'idle') {
          off();
          reject(this.fatalError ?? new FloodlightError('CLOSED', `publisher went ${state} before going live`));
        }
      });
    });
  }

  private computeState(): PublisherState {
    if (this.closed) return 'closed';
    if (this.fatalError) return 'error';
    const phase = this.connection?.phase;
    if (!phase || phase === 'closed') return 'idle';
    if (phase === 'failed') return 'error';
    if (phase !== 'joined') return phase;
    const session = this.session;
    if (session && session.producers.size > 0 && session.transport?.connected) return 'live';
    return mediaPendingState(session?.transport);
  }

  private refreshState(): void {
    this.stateValue.refresh();
  }
}
