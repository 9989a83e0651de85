/**
 * One relayed program track: a producer on the relay's DirectTransport that
 * viewers, the recorder and pipes consume for the room's whole broadcast,
 * fed in Node from a consumer of the active source's producer.
 *
 * A switch (`switchTo`) consumes the new source's producer beside the current
 * one ("pending") and keeps forwarding the current one until the cut. A video
 * consumer starts at a key frame (mediasoup drops what comes before and asks
 * the encoder for one), so the new input's first packet *is* the key frame:
 * the cut happens there. Audio can be cut on demand (`cutPending`), so that
 * it changes source together with the video. At the cut the timeline is
 * rebased (programRelayRtp.ts) and the old consumer closed.
 *
 * Encoders that cannot answer a key frame request (ffmpeg behind RTMP, SRT,
 * WHIP test clients) would make a failover wait for their next GOP. So when
 * the input on air goes quiet (half the stall threshold), the switch policy
 * asks to `prearm` the other source: its video is consumed already and kept
 * in Node from its first key frame (at most PREARM_MAX_PACKETS); if the
 * switch comes, those packets are forwarded at once, timed as they arrived
 * (so the picture resumes where the backup was at that key frame, at most
 * half a stall threshold behind, and catches up like a key frame cache
 * join). If the input on air speaks again, the pre-arm is dropped.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { RtpTimeline } from './programRelayRtp.js';

/**
 * Header extensions of the sender's transport (stream ids, congestion control): each
 * viewer's transport writes its own; the relay producer keeps the media ones only.
 */
const TRANSPORT_EXTENSIONS = new Set([
  'urn:ietf:params:rtp-hdrext:sdes:mid',
  'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id',
  'urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id',
  'http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time',
  'http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01',
]);

interface Input {
  sourceId: string;
  producerId: string;
  consumer: ms.Consumer;
}

type RelayTrackEvents = {
  /** The input of `sourceId` is now the one forwarded. */
  cut: [sourceId: string];
};

export interface ProgramRelayTrackOptions {
  transport: ms.DirectTransport;
  /** The router's capabilities (what the relay's consumers may receive). */
  rtpCapabilities: ms.RtpCapabilities;
  logger: Logger;
  now?: () => number;
}

/** Packets kept for a pre-armed input (~1.5 s of 5 Mbit/s video); more, and the pre-arm is dropped. */
const PREARM_MAX_PACKETS = 800;

interface Pending {
  input: Input;
  autoCut: boolean;
  /** Set while pre-armed: the input's packets since its first key frame, with their arrival times. */
  buffer?: Array<{ packet: Buffer; at: number }>;
}

const randomSsrc = (): number => 0x1000_0000 + Math.floor(Math.random() * 0xe000_0000);

export class ProgramRelayTrack extends SafeEmitter<RelayTrackEvents> {
  readonly kind: ms.MediaKind;
  readonly mimeType: string;
  /** The program's producer: stable for the track's life. */
  readonly producer: ms.Producer;
  readonly #options: ProgramRelayTrackOptions;
  readonly #timeline: RtpTimeline;
  readonly #log: Logger;
  readonly #now: () => number;
  #active: Input | undefined;
  #pending: Pending | undefined;
  #lastInputAt: number | undefined;
  #switchToken = 0;
  #forwarded = 0;
  #closed = false;

  private constructor(options: ProgramRelayTrackOptions, producer: ms.Producer, clockRate: number, payloadType: number) {
    super();
    this.#options = options;
    this.kind = producer.kind;
    this.mimeType = producer.rtpParameters.codecs[0]?.mimeType.toLowerCase() ?? '';
    this.producer = producer;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger.child({ relayTrack: producer.id, kind: producer.kind });
    this.#timeline = new RtpTimeline({
      ssrc: producer.rtpParameters.encodings?.[0]?.ssrc ?? 0,
      payloadType,
      clockRate,
      // One frame at 30 fps; one 20 ms audio packet.
      minStep: producer.kind === 'video' ? Math.round(clockRate / 30) : Math.round(clockRate / 50),
    });
    producer.observer.once('close', () => this.close());
  }

  /**
   * A relay track shaped after `first` (its codec and header extensions, as the
   * router hands them to a consumer), fed from `first` at once.
   */
  static async create(options: ProgramRelayTrackOptions, first: { sourceId: string; producer: ms.Producer }): Promise<ProgramRelayTrack> {
    const consumer = await consumeInput(options, first.producer);
    try {
      const codec = consumer.rtpParameters.codecs.find((c) => !c.mimeType.toLowerCase().endsWith('/rtx'));
      if (!codec) throw new Error(`no relayable codec in ${first.producer.id}`);
      const producer = await options.transport.produce({
        kind: first.producer.kind,
        rtpParameters: {
          codecs: [{ ...codec, rtcpFeedback: codec.rtcpFeedback ?? [] }],
          headerExtensions: (consumer.rtpParameters.headerExtensions ?? []).filter((h) => !TRANSPORT_EXTENSIONS.has(h.uri)),
          encodings: [{ ssrc: randomSsrc() }],
          rtcp: { cname: 'floodlight-program', reducedSize: true },
        },
        appData: { relay: true },
      });
      const track = new ProgramRelayTrack(options, producer, codec.clockRate, codec.payloadType);
      track.#adopt({ sourceId: first.sourceId, producerId: first.producer.id, consumer }, true);
      return track;
    } catch (error) {
      consumer.close();
      throw error;
    }
  }

  /** Whether `producer` can feed this track (same codec: viewers negotiated this one). */
  accepts(producer: ms.Producer): boolean {
    return producer.kind === this.kind && producer.rtpParameters.codecs[0]?.mimeType.toLowerCase() === this.mimeType;
  }

  /** The source whose packets are forwarded now. */
  get activeSourceId(): string | undefined {
    return this.#active?.sourceId;
  }

  /** The source being switched to, until the cut. */
  get pendingSourceId(): string | undefined {
    return this.#pending?.input.sourceId;
  }

  /** When the active input's last packet reached Node (ms); precise, unlike polled counters. */
  get lastInputAt(): number | undefined {
    return this.#lastInputAt;
  }

  /** Packets forwarded so far (the bench's packet rate). */
  get forwarded(): number {
    return this.#forwarded;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Feeds the track from `producer` of `sourceId`. `autoCut`: cut at the new
   * input's first packet (video: its key frame); otherwise it waits for
   * `cutPending()` — unless nothing is being forwarded, then it cuts at once.
   */
  async switchTo(sourceId: string, producer: ms.Producer, options: { autoCut: boolean }): Promise<void> {
    if (this.#closed) return;
    const token = ++this.#switchToken;
    const pending = this.#pending;
    if (pending?.buffer && pending.input.producerId === producer.id) {
      // Pre-armed: cut now if its key frame is here, else at its first packet.
      const buffered = pending.buffer;
      delete pending.buffer;
      pending.autoCut = options.autoCut;
      if (buffered.length === 0) return;
      this.#cut();
      for (const { packet, at } of buffered) this.#forward(packet, at);
      return;
    }
    this.#dropPending();
    if (this.#active?.producerId === producer.id && !this.#active.consumer.closed) return;
    const consumer = await consumeInput(this.#options, producer);
    if (this.#closed || token !== this.#switchToken) {
      consumer.close();
      return;
    }
    this.#adopt({ sourceId, producerId: producer.id, consumer }, options.autoCut);
  }

  /**
   * Consumes `producer`'s video beside the input on air and keeps it from its
   * first key frame, so that a switch to it need not wait for the encoder's
   * next one. Only while something is on air and nothing else is pending.
   */
  async prearm(sourceId: string, producer: ms.Producer): Promise<void> {
    if (this.#closed || this.kind !== 'video' || !this.#active || this.#pending || this.#active.producerId === producer.id) return;
    const token = ++this.#switchToken;
    const consumer = await consumeInput(this.#options, producer);
    if (this.#closed || token !== this.#switchToken || this.#pending || !this.#active) {
      consumer.close();
      return;
    }
    this.#adopt({ sourceId, producerId: producer.id, consumer }, false, true);
  }

  /** Cuts to the pending input now (audio follows the video's cut). */
  cutPending(): void {
    if (this.#pending) this.#cut();
  }

  /** Asks the inputs for a key frame (a viewer or the recorder asked the relay for one). */
  requestKeyFrame(): void {
    if (this.kind !== 'video') return;
    for (const input of [this.#active, this.#pending?.input]) if (input && !input.consumer.closed) void input.consumer.requestKeyFrame().catch(() => undefined);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#dropPending();
    this.#active?.consumer.close();
    this.#active = undefined;
    if (!this.producer.closed) this.producer.close();
    this.removeAllListeners();
  }

  #adopt(input: Input, autoCut: boolean, prearmed = false): void {
    const { consumer } = input;
    consumer.on('rtp', (packet) => this.#onRtp(input, packet));
    consumer.on('producerpause', () => this.#followPause(input));
    consumer.on('producerresume', () => this.#followPause(input));
    consumer.observer.once('close', () => {
      if (this.#active === input) this.#active = undefined;
      if (this.#pending?.input === input) this.#pending = undefined;
    });
    this.#pending = prearmed ? { input, autoCut, buffer: [] } : { input, autoCut };
    // Nothing to keep forwarding: this input is the track's only one.
    if (!this.#active && (!autoCut || this.kind === 'audio')) this.#cut();
    if (this.kind === 'video') void consumer.requestKeyFrame().catch(() => undefined);
  }

  #onRtp(input: Input, packet: Buffer): void {
    if (this.#closed) return;
    const now = this.#now();
    const pending = this.#pending;
    if (pending?.input === input) {
      if (pending.buffer) {
        if (pending.buffer.length >= PREARM_MAX_PACKETS) this.#dropPending();
        else pending.buffer.push({ packet, at: now });
        return;
      }
      if (!pending.autoCut) return;
      this.#cut();
    }
    if (this.#active !== input) return;
    // The input on air speaks again: the pre-arm was a false alarm.
    if (this.#pending?.buffer) this.#dropPending();
    this.#forward(packet, now);
  }

  /** Sends one packet of the active input, received at `at`, on the relay's timeline. */
  #forward(packet: Buffer, at: number): void {
    this.#lastInputAt = at;
    if (!this.#timeline.rewrite(packet, at)) return;
    this.#forwarded++;
    this.producer.send(packet);
  }

  #cut(): void {
    const pending = this.#pending;
    if (!pending) return;
    this.#pending = undefined;
    const previous = this.#active;
    this.#active = pending.input;
    this.#lastInputAt = undefined;
    this.#timeline.rebase();
    if (previous && previous !== pending.input) previous.consumer.close();
    this.#followPause(pending.input);
    this.#log.debug({ source: pending.input.sourceId, from: previous?.sourceId }, 'relay cut');
    this.safeEmit('cut', pending.input.sourceId);
  }

  /** The relay producer is paused while its active input's producer is (viewers see the pause). */
  #followPause(input: Input): void {
    if (this.#active !== input || this.producer.closed) return;
    const paused = input.consumer.producerPaused;
    if (paused && !this.producer.paused) void this.producer.pause().catch(() => undefined);
    if (!paused && this.producer.paused) void this.producer.resume().catch(() => undefined);
  }

  #dropPending(): void {
    const pending = this.#pending;
    this.#pending = undefined;
    if (pending && pending.input !== this.#active) pending.input.consumer.close();
  }
}

/** A consumer of a source's producer on the relay's DirectTransport (no RTX: nothing retransmits into Node). */
function consumeInput(options: ProgramRelayTrackOptions, producer: ms.Producer): Promise<ms.Consumer> {
  return options.transport.consume({ producerId: producer.id, rtpCapabilities: options.rtpCapabilities, enableRtx: false });
}
