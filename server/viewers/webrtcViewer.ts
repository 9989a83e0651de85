/**
 * One WebRTC viewer's media: a recv transport on the router the room placed
 * it on, and one consumer per program track it asked for. Events for the
 * client go out through its ParticipantLink as domain notices.
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { RouterEntry } from '../media/routerEntry.js';
import { RoomError } from '../rooms/roomError.js';
import type { ParticipantLink, TrackInfo } from '../rooms/roomNotices.js';
import { BrowserTransport, type WebRtcTransportDescription } from '../media/browserTransport.js';

export interface ConsumerDescription {
  consumerId: string;
  trackId: string;
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  type: ms.ConsumerType;
  producerPaused: boolean;
}

export class WebRtcViewer {
  readonly id = randomUUID();
  readonly link: ParticipantLink;
  /** Router this viewer's transport lives on; set once placed. */
  routerEntry: RouterEntry | undefined;
  readonly #consumers = new Map<string, { consumer: ms.Consumer; trackId: string }>();
  readonly #transport: BrowserTransport;
  #closed = false;

  constructor(link: ParticipantLink, logger: Logger) {
    this.link = link;
    this.#transport = new BrowserTransport('recv', logger.child({ viewer: this.id }));
  }

  get closed(): boolean {
    return this.#closed;
  }

  get hasTransport(): boolean {
    return this.#transport.current !== undefined;
  }

  consumers(): ms.Consumer[] {
    return [...this.#consumers.values()].map((c) => c.consumer);
  }

  async openTransport(entry: RouterEntry, webRtcServer: ms.WebRtcServer): Promise<WebRtcTransportDescription> {
    return this.#transport.open(entry.router, webRtcServer, { viewer: this.id });
  }

  async connectTransport(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    await this.#transport.connect(transportId, dtlsParameters);
  }

  async restartIce(transportId: string): Promise<ms.IceParameters> {
    return this.#transport.restartIce(transportId);
  }

  isConsuming(trackId: string): boolean {
    for (const c of this.#consumers.values()) if (c.trackId === trackId) return true;
    return false;
  }

  async consume(track: TrackInfo, localProducerId: string, rtpCapabilities: ms.RtpCapabilities): Promise<ConsumerDescription> {
    const entry = this.routerEntry;
    const transport = this.#transport.current;
    if (!entry || !transport) throw new RoomError('not-found', 'create a recv transport before consuming');
    let canConsume = false;
    try {
      canConsume = entry.router.canConsume({ producerId: localProducerId, rtpCapabilities });
    } catch {
      canConsume = false;
    }
    if (!canConsume) throw new RoomError('cannot-consume', 'these RTP capabilities cannot receive this track');
    let consumer: ms.Consumer;
    try {
      consumer = await transport.consume({
        producerId: localProducerId,
        rtpCapabilities,
        paused: true, // resumed by the client once its track is wired up
        appData: { viewer: this.id, trackId: track.trackId },
      });
    } catch (error) {
      throw new RoomError('cannot-consume', `cannot consume: ${(error as Error).message}`);
    }
    if (this.#closed) {
      consumer.close();
      throw new RoomError('not-joined', 'left the room while consuming');
    }
    // A viewer may wait a long time for the broadcaster, so its DTLS clock starts at the first consume.
    if (this.#consumers.size === 0) this.#transport.armConnectDeadline();
    this.#consumers.set(consumer.id, { consumer, trackId: track.trackId });
    this.#wire(consumer, track.trackId);
    return {
      consumerId: consumer.id,
      trackId: track.trackId,
      kind: consumer.kind,
      rtpParameters: consumer.rtpParameters,
      type: consumer.type,
      producerPaused: consumer.producerPaused,
    };
  }

  async setConsumerPaused(consumerId: string, paused: boolean): Promise<void> {
    const consumer = this.#consumerById(consumerId);
    if (paused) {
      await consumer.pause();
      return;
    }
    await consumer.resume();
    // A key frame right away so the first frame doesn't wait a GOP (the worker's cache may answer it).
    if (consumer.kind === 'video') await consumer.requestKeyFrame().catch(() => undefined);
  }

  async setPreferredLayers(consumerId: string, spatialLayer: number, temporalLayer: number | undefined): Promise<void> {
    const consumer = this.#consumerById(consumerId);
    if (consumer.type !== 'simulcast' && consumer.type !== 'svc') {
      throw new RoomError('bad-request', 'preferred layers apply to simulcast or SVC consumers only');
    }
    await consumer.setPreferredLayers({ spatialLayer, ...(temporalLayer !== undefined ? { temporalLayer } : {}) });
  }

  /** Closes the transport (and so its consumers). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.close();
    this.#consumers.clear();
  }

  #wire(consumer: ms.Consumer, trackId: string): void {
    const { link } = this;
    const forget = (): boolean => this.#consumers.delete(consumer.id);
    consumer.observer.once('close', forget);
    consumer.on('producerclose', () => {
      forget();
      link.notify({ type: 'consumerClosed', consumerId: consumer.id, trackId });
    });
    consumer.on('producerpause', () => link.notify({ type: 'consumerPaused', consumerId: consumer.id }));
    consumer.on('producerresume', () => link.notify({ type: 'consumerResumed', consumerId: consumer.id }));
    consumer.on('layerschange', (layers) =>
      link.notify({
        type: 'consumerLayers',
        consumerId: consumer.id,
        spatialLayer: layers?.spatialLayer ?? null,
        temporalLayer: layers?.temporalLayer ?? null,
      }),
    );
  }

  #consumerById(consumerId: string): ms.Consumer {
    const consumer = this.#consumers.get(consumerId)?.consumer;
    if (!consumer) throw new RoomError('not-found', `no consumer ${consumerId}`);
    return consumer;
  }
}
