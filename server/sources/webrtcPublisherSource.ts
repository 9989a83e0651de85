/**
 * A browser (or any mediasoup-client) publishing over socket.io signaling:
 * one WebRTC send transport on the room's ingest router and up to two
 * producers per kind (camera + screen, microphone + screen audio).
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { RoomError } from '../rooms/roomError.js';
import type { MediaSource, MediaSourceEvents, SourceEndReason, SourceSlot, SourceTrack } from './mediaSource.js';
import { SourceHealthTracker, type SourceHealth } from './sourceHealth.js';
import { SourceTrackSet } from './sourceTrackSet.js';
import { BrowserTransport, type WebRtcTransportDescription } from '../media/browserTransport.js';

export const publisherLimits = { producersPerKind: 2, maxIncomingBitrate: 8_000_000 } as const;

export interface ProduceRequest {
  kind: ms.MediaKind;
  rtpParameters: ms.RtpParameters;
  label: string | undefined;
}

export interface WebRtcPublisherSourceOptions {
  router: ms.Router;
  webRtcServer: ms.WebRtcServer;
  slot: SourceSlot;
  /** Video producers' keyFrameRequestDelay (KEYFRAME_REQUEST_DELAY_MS). */
  keyFrameRequestDelayMs: number;
  logger: Logger;
}

export class WebRtcPublisherSource extends SafeEmitter<MediaSourceEvents> implements MediaSource {
  readonly id = randomUUID();
  readonly protocol = 'webrtc' as const;
  readonly slot: SourceSlot;
  readonly router: ms.Router;
  readonly #options: WebRtcPublisherSourceOptions;
  readonly #log: Logger;
  readonly #health = new SourceHealthTracker();
  readonly #tracks = new SourceTrackSet(this.#health, (track) => this.safeEmit('trackRemoved', track));
  readonly #transport: BrowserTransport;
  #ended = false;

  constructor(options: WebRtcPublisherSourceOptions) {
    super();
    this.#options = options;
    this.slot = options.slot;
    this.router = options.router;
    this.#log = options.logger.child({ source: this.id, protocol: 'webrtc' });
    this.#transport = new BrowserTransport('send', this.#log);
    // The worker holding our producers died, or the room closed the router.
    options.router.observer.once('close', () => this.end('media-lost'));
  }

  get ended(): boolean {
    return this.#ended;
  }

  tracks(): readonly SourceTrack[] {
    return this.#tracks.list();
  }

  health(): SourceHealth {
    return this.#health.health();
  }

  async createTransport(): Promise<WebRtcTransportDescription> {
    this.#assertLive();
    const description = await this.#transport.open(this.router, this.#options.webRtcServer, { source: this.id });
    await this.#transport.current?.setMaxIncomingBitrate(publisherLimits.maxIncomingBitrate).catch(() => undefined);
    // A publisher connects at once, so its DTLS clock starts now.
    this.#transport.armConnectDeadline();
    return description;
  }

  async connectTransport(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    this.#assertLive();
    await this.#transport.connect(transportId, dtlsParameters);
  }

  async restartIce(transportId: string): Promise<ms.IceParameters> {
    this.#assertLive();
    return this.#transport.restartIce(transportId);
  }

  async produce(request: ProduceRequest): Promise<string> {
    this.#assertLive();
    const transport = this.#transport.current;
    if (!transport) throw new RoomError('not-found', 'create a send transport before producing');
    const sameKind = this.#tracks.list().filter((t) => t.kind === request.kind).length;
    if (sameKind >= publisherLimits.producersPerKind) {
      throw new RoomError('limit-reached', `at most ${publisherLimits.producersPerKind} ${request.kind} producers per publisher`);
    }
    let producer: ms.Producer;
    try {
      producer = await transport.produce({
        kind: request.kind,
        rtpParameters: request.rtpParameters,
        // Every joining viewer asks the publisher for a key frame; browsers drop a request
        // < 300 ms after the previous one, so requests are paced instead of lost.
        ...(request.kind === 'video' ? { keyFrameRequestDelay: this.#options.keyFrameRequestDelayMs } : {}),
        appData: { source: this.id, label: request.label },
      });
    } catch (error) {
      throw new RoomError('bad-request', `cannot produce: ${(error as Error).message}`);
    }
    if (this.#ended) {
      producer.close();
      throw new RoomError('not-joined', 'the publisher left while producing');
    }
    const track: SourceTrack = { kind: request.kind, producer, label: request.label };
    this.#tracks.add(track);
    this.#log.info({ producer: producer.id, kind: request.kind, label: request.label, encodings: request.rtpParameters.encodings?.length }, 'producing');
    this.safeEmit('trackAdded', track);
    return producer.id;
  }

  async setTrackPaused(producerId: string, paused: boolean): Promise<void> {
    const track = this.#trackById(producerId);
    if (paused) await track.producer.pause();
    else await track.producer.resume();
    this.safeEmit('trackPaused', track, paused);
  }

  closeTrack(producerId: string): void {
    this.#trackById(producerId).producer.close();
  }

  end(reason: SourceEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#transport.close();
    this.#tracks.removeAll();
    this.#health.close();
    this.#log.info({ reason }, 'source ended');
    this.safeEmit('ended', reason);
    this.removeAllListeners();
  }

  #assertLive(): void {
    if (this.#ended) throw new RoomError('not-joined', 'this publisher has left the room');
  }

  #trackById(producerId: string): SourceTrack {
    this.#assertLive();
    const track = this.#tracks.get(producerId);
    if (!track) throw new RoomError('not-found', `no producer ${producerId}`);
    return track;
  }
}
