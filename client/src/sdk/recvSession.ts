import type { Device, types as mediasoupTypes } from 'mediasoup-client';
import type { MediaKind, ProducerInfo } from '../../../server/contracts/signaling.js';
import { StaleAttemptError, type Attempt } from './attempt.js';
import { SignalingError, toFloodlightError } from './errors.js';
import { MediaTransport } from './mediaTransport.js';
import type { JoinedSession, RoomConnection } from './roomConnection.js';
import type { SignalingClient } from './signalingClient.js';

type Consumer = mediasoupTypes.Consumer;

interface ConsumedTrack {
  consumer: Consumer;
  /** mediasoup consumer type: only 'simulcast' / 'svc' have layers to choose. */
  type: string;
  /** Last spatial layer sent with setPreferredLayers, to avoid repeats. */
  preferredSpatialLayer: number | null;
}

export interface RecvSessionOptions {
  connection: RoomConnection<Device>;
  joined: JoinedSession<Device>;
  /** The spatial layer the viewer wants right now (see LayerPreference). */
  targetSpatialLayer: () => number;
  /** Producers, consumers or the transport's state changed: time to recompute state and stream. */
  onChange: () => void;
  /** The broadcaster paused/resumed a track. */
  onMediaPaused: (kind: MediaKind, paused: boolean) => void;
}

/** After the server closes a consumer whose producer still exists, try again after this. */
const RECONSUME_DELAY_MS = 1_000;

/**
 * What a Viewer holds for one join of the room: the producers the server
 * announced, the receive transport and one consumer per producer. Dropped as a
 * whole (close()) on rejoin.
 *
 * The receive transport is created only once the room is live (the join answer
 * lists producers, or the first `newProducer` arrives): a room that never had
 * a publisher has no router to put it on, and refuses it with NOT_LIVE.
 */
export class RecvSession {
  readonly attempt: Attempt;
  /** Producers the server announced and that have not closed, by producerId. */
  readonly producers: Map<string, ProducerInfo>;
  /** By producerId. */
  readonly #consumers = new Map<string, ConsumedTrack>();
  /** producerIds with a consume in flight (no duplicates when newProducer races the join). */
  readonly #consuming = new Set<string>();
  readonly #options: RecvSessionOptions;
  readonly #signaling: SignalingClient;
  readonly #device: Device;
  #transport: MediaTransport | null = null;
  /** The transport being created, so that concurrent callers share one createTransport. */
  #opening: Promise<MediaTransport | null> | null = null;

  constructor(options: RecvSessionOptions) {
    this.#options = options;
    this.attempt = options.joined.attempt;
    this.#signaling = options.connection.signaling;
    this.#device = options.joined.device;
    this.producers = new Map(options.joined.data.producers.map((info) => [info.producerId, info]));
  }

  get transport(): MediaTransport | null {
    return this.#transport;
  }

  get consumerCount(): number {
    return this.#consumers.size;
  }

  /**
   * Receives whatever is live at join; resolves at once when the room waits for its
   * broadcast. Failures reject (the attempt fails and is retried or reported).
   */
  async start(): Promise<void> {
    if (this.producers.size === 0) return;
    if (!(await this.#ensureTransport())) return;
    // One at a time keeps the request rate low; video first, since the first picture is what
    // a viewer waits for (and its keyframe request goes out as soon as the transport connects);
    // producers announced meanwhile join the loop (Map iteration sees entries added during it).
    for (const producer of [...this.producers.values()].filter((p) => p.kind === 'video')) await this.#consume(producer);
    for (const producer of this.producers.values()) await this.#consume(producer);
  }

  producerAdded(info: ProducerInfo): void {
    this.producers.set(info.producerId, info);
    this.#options.onChange();
    void this.#consumeInBackground(info);
  }

  producerClosed(producerId: string): void {
    this.producers.delete(producerId);
    this.#dropConsumer(producerId);
  }

  /** The server dropped just this consumer; if the producer lives on, take it again. */
  consumerClosed(producerId: string): void {
    this.#dropConsumer(producerId);
    setTimeout(() => {
      const info = this.producers.get(producerId);
      if (info && this.attempt.active) void this.#consumeInBackground(info);
    }, RECONSUME_DELAY_MS);
  }

  consumerPaused(consumerId: string, paused: boolean): void {
    const consumed = this.#findConsumer(consumerId);
    if (consumed) this.#options.onMediaPaused(consumed.consumer.kind, paused);
  }

  isVideoConsumer(consumerId: string): boolean {
    return this.#findConsumer(consumerId)?.consumer.kind === 'video';
  }

  /** Live tracks, video first, then audio. */
  tracks(): MediaStreamTrack[] {
    return [...this.#consumers.values()]
      .map((consumed) => consumed.consumer)
      .filter((consumer) => !consumer.closed)
      .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'video' ? -1 : 1))
      .map((consumer) => consumer.track);
  }

  /** Sends the wanted layer to every consumer that has layers (after a quality or size change). */
  applyPreferredLayersToAll(): void {
    if (!this.attempt.active) return;
    for (const consumed of this.#consumers.values()) {
      this.#applyPreferredLayers(consumed).catch(() => undefined);
    }
  }

  /** Closes the transport, and with it every consumer (idempotent). */
  close(): void {
    this.#transport?.close();
    this.#consumers.clear();
    this.#consuming.clear();
  }

  /** The receive transport, created on first need; null when the server says the room is not live. */
  #ensureTransport(): Promise<MediaTransport | null> {
    if (this.#transport) return Promise.resolve(this.#transport);
    this.#opening ??= this.#openTransport().finally(() => {
      this.#opening = null;
    });
    return this.#opening;
  }

  async #openTransport(): Promise<MediaTransport | null> {
    const { connection } = this.#options;
    try {
      this.#transport = await MediaTransport.open({
        direction: 'recv',
        device: this.#device,
        signaling: this.#signaling,
        attempt: this.attempt,
        onConnectionState: () => this.#options.onChange(),
        onUnrecoverable: (reason) => connection.requestRejoin(reason, this.attempt),
      });
      return this.#transport;
    } catch (error) {
      if (!(error instanceof SignalingError && error.code === 'NOT_LIVE')) throw error;
      // The broadcast ended while we asked: wait for its next newProducer, which tries again.
      this.producers.clear();
      this.#options.onChange();
      return null;
    }
  }

  /** consume() outside the join: a failure that is not about this one producer means a rejoin. */
  async #consumeInBackground(info: ProducerInfo): Promise<void> {
    try {
      if (await this.#ensureTransport()) await this.#consume(info);
    } catch (error) {
      if (error instanceof StaleAttemptError || !this.attempt.active) return;
      const failure = toFloodlightError(error);
      this.#options.connection.requestRejoin(`consume failed: ${failure.code} ${failure.message}`, this.attempt);
    }
  }

  /** Server consume → local consume → preferred layers → resume. Skips producers that vanished. */
  async #consume(info: ProducerInfo): Promise<void> {
    const { attempt } = this;
    const transport = this.#transport?.transport;
    const producerId = info.producerId;
    if (!transport || this.#consumers.has(producerId) || this.#consuming.has(producerId)) return;
    this.#consuming.add(producerId);
    let consumed: ConsumedTrack | null = null;
    try {
      const rtpCapabilities = this.#device.rtpCapabilities;
      const params = await attempt.guard(this.#signaling.request('consume', { producerId, rtpCapabilities }));
      const consumer = await attempt.guard(
        transport.consume({
          id: params.consumerId,
          producerId: params.producerId,
          kind: params.kind,
          rtpParameters: params.rtpParameters,
        }),
      );
      consumed = { consumer, type: params.type, preferredSpatialLayer: null };
      if (!this.producers.has(producerId)) {
        // The producer closed while we were setting up: do not keep a dead consumer.
        consumer.close();
        return;
      }
      this.#consumers.set(producerId, consumed);
      // Pick the layer before resuming, so the first keyframe is already the right size.
      await this.#applyPreferredLayers(consumed);
      await attempt.guard(this.#signaling.request('resumeConsumer', { consumerId: consumer.id }));
      if (params.producerPaused) this.#options.onMediaPaused(params.kind, true);
      this.#options.onChange();
    } catch (error) {
      if (error instanceof SignalingError && (error.code === 'NOT_FOUND' || error.code === 'CANNOT_CONSUME')) {
        // This producer (or its consumer) is gone, or we cannot decode it: skip it, keep the rest.
        console.warn(`[floodlight] skipping producer ${producerId}: ${error.code} ${error.message}`);
        if (consumed) this.#dropConsumer(producerId);
        if (error.code === 'NOT_FOUND' && !consumed) this.producers.delete(producerId);
        this.#options.onChange();
        return;
      }
      throw error;
    } finally {
      this.#consuming.delete(producerId);
    }
  }

  #dropConsumer(producerId: string): void {
    const consumed = this.#consumers.get(producerId);
    if (consumed) {
      this.#consumers.delete(producerId);
      consumed.consumer.close();
    }
    this.#options.onChange();
  }

  #findConsumer(consumerId: string): ConsumedTrack | undefined {
    for (const consumed of this.#consumers.values()) if (consumed.consumer.id === consumerId) return consumed;
    return undefined;
  }

  async #applyPreferredLayers(consumed: ConsumedTrack): Promise<void> {
    if (consumed.consumer.kind !== 'video' || (consumed.type !== 'simulcast' && consumed.type !== 'svc')) return;
    const spatialLayer = this.#options.targetSpatialLayer();
    if (consumed.preferredSpatialLayer === spatialLayer) return;
    consumed.preferredSpatialLayer = spatialLayer;
    try {
      await this.attempt.guard(this.#signaling.request('setPreferredLayers', { consumerId: consumed.consumer.id, spatialLayer }));
    } catch (error) {
      if (error instanceof StaleAttemptError) throw error;
      consumed.preferredSpatialLayer = null; // try again next time
      console.warn('[floodlight] setPreferredLayers failed', error);
    }
  }
}
