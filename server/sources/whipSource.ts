/**
 * An encoder publishing over WHIP (RFC 9725): one WebRTC transport on the
 * room's ingest router, described by the client's SDP offer, and one producer
 * per m-line. Unlike a browser on socket.io, everything is known at once: the
 * offer gives the producers' parameters and the client's DTLS fingerprint, so
 * `create()` connects and produces before the answer goes back.
 *
 * A session whose ICE/DTLS never completes is closed after `connectTimeoutMs`;
 * one whose peer goes away (DTLS close, ICE consent lost) ends by itself.
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { BrowserTransport } from '../media/browserTransport.js';
import type { WhipOfferPlan } from '../ingest/whip/whipOffer.js';
import type { TransportDescription } from '../ingest/whip/whipAnswer.js';
import type { MediaSource, MediaSourceEvents, SourceEndReason, SourceSlot, SourceTrack } from './mediaSource.js';
import { SourceTrackSet } from './sourceTrackSet.js';
import { SourceHealthTracker, type SourceHealth } from './sourceHealth.js';

/** Same cap as a browser publisher: an encoder sending more is throttled by REMB. */
const MAX_INCOMING_BITRATE = 20_000_000;

export interface WhipSourceOptions {
  router: ms.Router;
  webRtcServer: ms.WebRtcServer;
  slot: SourceSlot;
  plan: WhipOfferPlan;
  /** Video producers' keyFrameRequestDelay (KEYFRAME_REQUEST_DELAY_MS). */
  keyFrameRequestDelayMs: number;
  /** ICE + DTLS must complete within this, or the session is closed. */
  connectTimeoutMs: number;
  logger: Logger;
}

export class WhipSource extends SafeEmitter<MediaSourceEvents> implements MediaSource {
  readonly id = randomUUID();
  readonly protocol = 'whip' as const;
  readonly slot: SourceSlot;
  readonly router: ms.Router;
  readonly #log: Logger;
  readonly #transport: BrowserTransport;
  readonly #health = new SourceHealthTracker({ traceKeyFrames: true });
  readonly #tracks = new SourceTrackSet(this.#health, (track) => this.safeEmit('trackRemoved', track));
  #description: TransportDescription | undefined;
  #connected = false;
  #ended = false;

  private constructor(options: WhipSourceOptions) {
    super();
    this.slot = options.slot;
    this.router = options.router;
    this.#log = options.logger.child({ source: this.id, protocol: 'whip' });
    this.#transport = new BrowserTransport('send', this.#log);
    options.router.observer.once('close', () => this.end('media-lost'));
  }

  /** Transport connected and producing; ends (and frees) everything if a step fails. */
  static async create(options: WhipSourceOptions): Promise<WhipSource> {
    const source = new WhipSource(options);
    try {
      await source.#open(options);
    } catch (error) {
      source.end('failed');
      throw error;
    }
    return source;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** ICE and DTLS completed (until then the session counts as pending). */
  get connected(): boolean {
    return this.#connected;
  }

  /** The transport as the answer describes it. */
  get transport(): TransportDescription {
    if (!this.#description) throw new Error('WhipSource has no transport');
    return this.#description;
  }

  tracks(): readonly SourceTrack[] {
    return this.#tracks.list();
  }

  health(): SourceHealth {
    return this.#health.health();
  }

  /** New local ICE credentials (the client restarts ICE). */
  async restartIce(): Promise<ms.IceParameters> {
    const transport = this.#transport.current;
    if (this.#ended || !transport || !this.#description) throw new Error('the WHIP session has ended');
    const iceParameters = await this.#transport.restartIce(transport.id);
    this.#description = { ...this.#description, iceParameters };
    return iceParameters;
  }

  end(reason: SourceEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    // Closing the transport closes its producers (each is forgotten through its 'close').
    this.#transport.close();
    this.#tracks.removeAll();
    this.#health.close();
    this.#log.info({ reason }, 'source ended');
    this.safeEmit('ended', reason);
    this.removeAllListeners();
  }

  async #open(options: WhipSourceOptions): Promise<void> {
    const { plan } = options;
    const description = await this.#transport.open(options.router, options.webRtcServer, { source: this.id, protocol: 'whip' });
    this.#description = description;
    const transport = this.#transport.current;
    if (!transport || this.#ended) throw new Error('the WHIP session ended while opening');
    this.#watch(transport);
    this.#transport.armConnectDeadline(options.connectTimeoutMs);
    await transport.setMaxIncomingBitrate(MAX_INCOMING_BITRATE).catch(() => undefined);
    await transport.connect({ dtlsParameters: plan.remoteDtls });
    for (const media of plan.media) {
      const producer = await transport.produce({
        kind: media.kind,
        rtpParameters: media.rtpParameters,
        // Encoders answer key frame requests, but not in a burst: pace them like a browser's.
        ...(media.kind === 'video' ? { keyFrameRequestDelay: options.keyFrameRequestDelayMs } : {}),
        appData: { source: this.id, mid: media.mid },
      });
      if (this.#ended) {
        producer.close();
        throw new Error('the WHIP session ended while producing');
      }
      const track: SourceTrack = { kind: media.kind, producer, label: `whip-${media.kind}` };
      this.#tracks.add(track);
      this.safeEmit('trackAdded', track);
    }
    this.#log.info(
      {
        tracks: plan.media.map((m) => `${m.kind}:${m.rtpParameters.codecs[0]?.mimeType}`),
        encodings: plan.media.map((m) => m.rtpParameters.encodings?.length),
      },
      'WHIP source producing',
    );
  }

  #watch(transport: ms.WebRtcTransport): void {
    transport.observer.once('close', () => this.end(this.#connected ? 'left' : 'failed'));
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') {
        this.#connected = true;
        this.#log.info('WHIP client connected');
      }
      if (state === 'failed' || state === 'closed') this.end(state === 'closed' ? 'left' : 'failed');
    });
    // mediasoup reports 'disconnected' once the client's ICE consent checks stop (it went away).
    transport.on('icestatechange', (state) => {
      if (state === 'disconnected' || state === 'closed') this.end('left');
    });
  }
}
