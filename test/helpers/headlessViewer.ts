/**
 * HeadlessViewer: joins a room as a WebRTC viewer from Node (werift), consumes
 * every producer and counts the media that actually arrives.
 *
 *   const viewer = new HeadlessViewer({ url, room });
 *   await viewer.join();
 *   await waitFor(() => viewer.stats().video.frames >= 30, { description: '30 frames' });
 *   console.log(viewer.stats().timeToFirstKeyframeMs);
 *   await viewer.close();
 *
 * Session (see rejoiningPeer.ts for when sessions start and stop):
 *   join → (once the room is live: the join lists producers, or at the first
 *   `newProducer`) createTransport{recv} → for each producer: consume (paused) →
 *   remote offer with one m-section per consumer → werift answer →
 *   connectTransport (first time, DTLS client) → resumeConsumer.
 * A room that never had a publisher has no router, so the transport waits for
 * its broadcast (a NOT_LIVE answer, when that races, waits for `newProducer` too).
 * `newProducer` appends m-sections (renegotiation); `producerClosed` /
 * `consumerClosed` stop the consumer's counter (its m-section stays, see
 * buildRecvOffer). Counters survive rejoins: totals only ever grow.
 */
import type { types as ms } from 'mediasoup';
import type { MediaStreamTrack, RTCPeerConnection, RtpPacket } from 'werift';
import type { ProducerInfo } from '../../server/contracts/signaling.js';
import type { Attempt } from '../../client/src/sdk/attempt.js';
import { SignalingError } from '../../client/src/sdk/errors.js';
import { RejoiningPeer, type HeadlessPeerOptions, type PeerStats, type HeadlessSession } from './rejoiningPeer.js';
import { StreamCounter, type StreamCounts } from './rtpCounters.js';
import {
  buildRecvOffer,
  dtlsParametersFromSdp,
  parseSdp,
  RECEIVABLE_AUDIO_CODECS,
  RECEIVABLE_VIDEO_CODECS,
  recvRtpCapabilities,
  type RecvSection,
  type RemoteTransportParams,
} from './sdpBridge.js';
import { SerialQueue } from './serialQueue.js';
import { waitFor } from './wait.js';
import { assertLocalCandidates, createPeerConnection, receiveCodecs } from './weriftPeer.js';

export interface HeadlessViewerOptions extends HeadlessPeerOptions {
  /** Ask for RTX. Default true. */
  rtx?: boolean;
  /** Video codecs we accept, in preference order. Default VP8, VP9, H264, AV1. */
  videoCodecs?: string[];
}

export interface ConsumerStats extends StreamCounts {
  consumerId: string;
  producerId: string;
  kind: 'audio' | 'video';
  mimeType: string;
  ssrc: number | undefined;
  /** Which (re)join created it: 1 = first join. */
  session: number;
  closed: boolean;
}

export interface ViewerStats extends PeerStats {
  /** DTLS/ICE state of the current PeerConnection. */
  connectionState: string;
  /** Totals over every consumer ever created (all sessions). */
  audio: StreamCounts;
  video: StreamCounts;
  /** From the first join() call to the first video RTP packet / first complete keyframe. */
  timeToFirstVideoPacketMs: number | undefined;
  timeToFirstKeyframeMs: number | undefined;
  /** The same, measured from the start of the current (re)join. */
  sessionTimeToFirstVideoPacketMs: number | undefined;
  sessionTimeToFirstKeyframeMs: number | undefined;
  consumers: ConsumerStats[];
  /** consume requests the server refused (producerId → error). */
  consumeErrors: { producerId: string; error: string }[];
}

interface ConsumerRecord {
  consumerId: string;
  producerId: string;
  kind: 'audio' | 'video';
  mimeType: string;
  ssrc: number | undefined;
  counter: StreamCounter;
  session: number;
  closed: boolean;
}

/** The WebRTC half of a session, made once the room is live. */
interface RecvLink {
  transport: RemoteTransportParams;
  pc: RTCPeerConnection;
  dtlsConnected: boolean;
}

interface RecvSessionState {
  attempt: Attempt;
  joinIndex: number;
  /** Every consume/SDP step of the session, one at a time (newProducer may arrive mid-negotiation). */
  queue: SerialQueue;
  routerCapabilities: ms.RtpCapabilities;
  link: RecvLink | undefined;
  rtpCapabilities: ms.RtpCapabilities;
  sections: RecvSection[];
  bySsrc: Map<number, ConsumerRecord>;
  byProducer: Map<string, ConsumerRecord>;
  sdpVersion: number;
  sessionId: number;
}

export class HeadlessViewer extends RejoiningPeer {
  readonly #consumers: ConsumerRecord[] = [];
  readonly #consumeErrors: { producerId: string; error: string }[] = [];
  #session: RecvSessionState | undefined;
  readonly #viewerOptions: HeadlessViewerOptions;

  constructor(options: HeadlessViewerOptions) {
    super(options, 'viewer');
    this.#viewerOptions = options;
    this.signaling.on('newProducer', (producer) => {
      this.log(`newProducer ${producer.kind} ${producer.producerId}`);
      const session = this.#session;
      if (!session?.attempt.active) return; // the rejoin will pick it up
      this.background('consume new producer', session.attempt, () => session.queue.push(() => this.#consume(session, [producer])));
    });
    this.signaling.on('producerClosed', ({ producerId }) => this.#markClosed((c) => c.producerId === producerId));
    this.signaling.on('consumerClosed', ({ consumerId }) => this.#markClosed((c) => c.consumerId === consumerId));
  }

  /** Snapshot of everything counted so far. */
  stats(): ViewerStats {
    const sum = (kind: 'audio' | 'video'): StreamCounts => {
      const out: StreamCounts = { packets: 0, bytes: 0, lost: 0, frames: 0, completeFrames: 0, keyframes: 0 };
      for (const c of this.#consumers) {
        if (c.kind !== kind) continue;
        const s = c.counter.snapshot();
        out.packets += s.packets;
        out.bytes += s.bytes;
        out.lost += s.lost;
        out.frames += s.frames;
        out.completeFrames += s.completeFrames;
        out.keyframes += s.keyframes;
        if (s.firstPacketAt !== undefined) out.firstPacketAt = Math.min(out.firstPacketAt ?? Infinity, s.firstPacketAt);
        if (s.firstKeyframeAt !== undefined) {
          out.firstKeyframeAt = Math.min(out.firstKeyframeAt ?? Infinity, s.firstKeyframeAt);
        }
        if (s.lastPacketAt !== undefined) out.lastPacketAt = Math.max(out.lastPacketAt ?? 0, s.lastPacketAt);
      }
      return out;
    };
    const video = sum('video');
    const since = (start: number | undefined, at: number | undefined): number | undefined =>
      start !== undefined && at !== undefined ? Math.round(at - start) : undefined;
    const currentJoin = this.#session?.joinIndex ?? this.joins;
    const sessionVideo = this.#consumers.filter((c) => c.kind === 'video' && c.session === currentJoin);
    const earliest = (pick: (c: ConsumerRecord) => number | undefined): number | undefined => {
      const values = sessionVideo.map(pick).filter((v): v is number => v !== undefined);
      return values.length > 0 ? Math.min(...values) : undefined;
    };
    return {
      ...this.peerStats(),
      connectionState: this.#session ? (this.#session.link?.pc.connectionState ?? 'new') : 'closed',
      audio: sum('audio'),
      video,
      timeToFirstVideoPacketMs: since(this.firstJoinStartedAt, video.firstPacketAt),
      timeToFirstKeyframeMs: since(this.firstJoinStartedAt, video.firstKeyframeAt),
      sessionTimeToFirstVideoPacketMs: since(
        this.sessionStartedAt,
        earliest((c) => c.counter.firstPacketAt),
      ),
      sessionTimeToFirstKeyframeMs: since(
        this.sessionStartedAt,
        earliest((c) => c.counter.firstKeyframeAt),
      ),
      consumers: this.#consumers.map((c) => ({
        consumerId: c.consumerId,
        producerId: c.producerId,
        kind: c.kind,
        mimeType: c.mimeType,
        ssrc: c.ssrc,
        session: c.session,
        closed: c.closed,
        ...c.counter.snapshot(),
      })),
      consumeErrors: [...this.#consumeErrors],
    };
  }

  /**
   * Resolves once `count` more video frames than now have arrived (throws a
   * WaitTimeoutError naming this viewer and its counters otherwise).
   */
  async waitForNewFrames(count: number, timeoutMs = 15_000): Promise<ViewerStats> {
    const start = this.stats().video.frames;
    await waitFor(() => this.stats().video.frames >= start + count, {
      description: `${this.name} to receive ${count} more video frames`,
      timeoutMs,
      progress: () => this.summary(),
    });
    return this.stats();
  }

  /**
   * Asks the SFU for a simulcast/SVC layer on every open video consumer of the
   * current session (browser publishers simulcast; ours do not). Returns how
   * many consumers accepted; the server refuses (BAD_REQUEST) for simple ones.
   */
  async setPreferredLayers(spatialLayer: number, temporalLayer?: number): Promise<number> {
    const session = this.#session;
    if (!session) throw new Error(`${this.name}: not joined`);
    let accepted = 0;
    for (const record of session.byProducer.values()) {
      if (record.closed || record.kind !== 'video') continue;
      try {
        await this.signaling.request('setPreferredLayers', {
          consumerId: record.consumerId,
          spatialLayer,
          ...(temporalLayer !== undefined ? { temporalLayer } : {}),
        });
        accepted++;
      } catch (error) {
        if (!(error instanceof SignalingError) || error.code !== 'BAD_REQUEST') throw error;
      }
    }
    return accepted;
  }

  /** One-line summary for logs and waitFor progress. */
  summary(): string {
    const s = this.stats();
    return (
      `${s.name} ${s.state}/${s.connectionState} joins=${s.joins} ` +
      `video ${s.video.packets}pkts ${s.video.frames}fr ${s.video.keyframes}kf lost=${s.video.lost}, ` +
      `audio ${s.audio.packets}pkts, consumers=${s.consumers.filter((c) => !c.closed).length}`
    );
  }

  protected async setupSession({ attempt, data, device: routerCapabilities }: HeadlessSession): Promise<void> {
    const session: RecvSessionState = {
      attempt,
      joinIndex: this.joins + 1,
      queue: new SerialQueue(),
      routerCapabilities,
      link: undefined,
      rtpCapabilities: recvRtpCapabilities(routerCapabilities, {
        ...(this.#viewerOptions.rtx !== undefined ? { rtx: this.#viewerOptions.rtx } : {}),
        ...(this.#viewerOptions.videoCodecs ? { videoCodecs: this.#viewerOptions.videoCodecs } : {}),
      }),
      sections: [],
      bySsrc: new Map(),
      byProducer: new Map(),
      sdpVersion: 0,
      sessionId: Math.floor(Math.random() * 1e9),
    };
    this.#session = session;
    // Nothing live yet: no transport until the broadcast starts.
    if (data.producers.length > 0) await session.queue.push(() => this.#consume(session, data.producers));
  }

  protected async teardownSession(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    if (!session) return;
    for (const record of session.byProducer.values()) record.closed = true;
    try {
      await session.link?.pc.close();
    } catch {
      /* already closed */
    }
  }

  /** The session's transport and PeerConnection, made on first need; undefined when the server says the room is not live. */
  async #ensureLink(session: RecvSessionState): Promise<RecvLink | undefined> {
    if (session.link) return session.link;
    let transport: RemoteTransportParams;
    try {
      transport = (await session.attempt.guard(this.signaling.request('createTransport', { direction: 'recv' }))) as RemoteTransportParams;
    } catch (error) {
      if (!(error instanceof SignalingError) || error.code !== 'NOT_LIVE') throw error;
      this.log('room not live yet: waiting for its broadcast');
      return undefined;
    }
    if (!this.options.allowRemoteMedia) assertLocalCandidates(transport.iceCandidates, `${this.name} recv transport`);

    const midExtension = session.routerCapabilities.headerExtensions?.find((h) => h.uri === 'urn:ietf:params:rtp-hdrext:sdes:mid');
    const pc = createPeerConnection({
      loopbackOnly: this.options.loopbackOnly ?? true,
      audioCodecs: receiveCodecs('audio', RECEIVABLE_AUDIO_CODECS),
      videoCodecs: receiveCodecs('video', this.#viewerOptions.videoCodecs ?? RECEIVABLE_VIDEO_CODECS),
      headerExtensions: midExtension ? [{ uri: midExtension.uri, id: midExtension.preferredId }] : [],
    });
    const link: RecvLink = { transport, pc, dtlsConnected: false };
    session.link = link;

    // One subscription per remote track; packets are attributed by SSRC
    // (werift has already unwrapped RTX to the media SSRC).
    const seen = new WeakSet<MediaStreamTrack>();
    pc.onTrack.subscribe((track) => {
      if (seen.has(track)) return;
      seen.add(track);
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        const record = session.bySsrc.get(rtp.header.ssrc);
        if (!record || record.closed) return;
        record.counter.onPacket(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length);
      });
    });
    pc.connectionStateChange.subscribe((state) => this.log(`connection ${state}`));
    return link;
  }

  /** Runs on the session's queue. */
  async #consume(session: RecvSessionState, producers: ProducerInfo[]): Promise<void> {
    const { attempt } = session;
    const link = await this.#ensureLink(session);
    if (!link) return; // the broadcast's newProducer brings us back here
    const fresh: ConsumerRecord[] = [];
    for (const producer of producers) {
      if (session.byProducer.has(producer.producerId)) continue;
      let data;
      try {
        data = await attempt.guard(
          this.signaling.request('consume', {
            producerId: producer.producerId,
            rtpCapabilities: session.rtpCapabilities,
          }),
        );
      } catch (error) {
        // The producer may be gone already, or not consumable: note it, go on.
        if (error instanceof SignalingError && (error.code === 'NOT_FOUND' || error.code === 'CANNOT_CONSUME')) {
          this.#consumeErrors.push({ producerId: producer.producerId, error: error.message });
          this.log(`consume ${producer.producerId} refused: ${error.message}`);
          continue;
        }
        throw error;
      }
      const rtpParameters = data.rtpParameters;
      const mid = rtpParameters.mid ?? `c${session.sections.length}`;
      const ssrc = rtpParameters.encodings?.[0]?.ssrc;
      const record: ConsumerRecord = {
        consumerId: data.consumerId,
        producerId: producer.producerId,
        kind: data.kind,
        mimeType: rtpParameters.codecs[0]?.mimeType ?? 'unknown',
        ssrc,
        counter: new StreamCounter(data.kind, rtpParameters.codecs[0]?.mimeType ?? 'unknown'),
        session: session.joinIndex,
        closed: false,
      };
      session.sections.push({
        mid,
        kind: data.kind,
        rtpParameters,
        streamId: `fl-${producer.producerId}`,
        trackId: data.consumerId,
      });
      session.byProducer.set(producer.producerId, record);
      if (ssrc !== undefined) session.bySsrc.set(ssrc, record);
      this.#consumers.push(record);
      fresh.push(record);
    }
    if (fresh.length === 0) return;

    await this.#renegotiate(session, link);

    for (const record of fresh) {
      try {
        await attempt.guard(this.signaling.request('resumeConsumer', { consumerId: record.consumerId }));
      } catch (error) {
        if (error instanceof SignalingError && error.code === 'NOT_FOUND') {
          record.closed = true; // closed between consume and resume
          continue;
        }
        throw error;
      }
      this.emit('consumer', { consumerId: record.consumerId, producerId: record.producerId, kind: record.kind });
      this.log(`consuming ${record.kind} ${record.mimeType} ssrc=${record.ssrc} (${record.consumerId})`);
    }
  }

  /** New remote offer with every m-section so far; werift answers; DTLS connects once. */
  async #renegotiate(session: RecvSessionState, link: RecvLink): Promise<void> {
    session.sdpVersion++;
    const offer = buildRecvOffer(link.transport, session.sections, session.sessionId, session.sdpVersion);
    await link.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await link.pc.createAnswer();
    await session.attempt.guard(link.pc.setLocalDescription(answer));
    if (!link.dtlsConnected) {
      // werift answers an actpass offer with a=setup:active: we are the DTLS client.
      const dtlsParameters = dtlsParametersFromSdp(parseSdp(answer.sdp), 'client');
      await session.attempt.guard(
        this.signaling.request('connectTransport', {
          transportId: link.transport.id,
          dtlsParameters: { role: 'client', fingerprints: dtlsParameters.fingerprints },
        }),
      );
      link.dtlsConnected = true;
    }
  }

  #markClosed(match: (c: ConsumerRecord) => boolean): void {
    const session = this.#session;
    if (!session) return;
    for (const record of session.byProducer.values()) {
      if (!record.closed && match(record)) {
        record.closed = true;
        this.log(`consumer ${record.consumerId} (${record.kind}) closed`);
        this.emit('consumerClosed', { consumerId: record.consumerId, producerId: record.producerId, kind: record.kind });
        // Forget the producer so that a producer with the same id (never in
        // practice) or a rejoin can be consumed afresh.
        session.byProducer.delete(record.producerId);
        session.byProducer.set(`closed:${record.consumerId}`, record);
      }
    }
  }
}
