/**
 * HeadlessPublisher: publishes real encoded media (ffmpeg test pattern + tone)
 * into a room over WebRTC from Node (werift).
 *
 *   const publisher = new HeadlessPublisher({ url, room, token });
 *   await publisher.publish();        // = join(): ffmpeg up, producers created
 *   ...
 *   await publisher.close();          // kills ffmpeg, leaves
 *
 * Session (see rejoiningPeer.ts for when sessions start and stop):
 *   join → createTransport{send} → werift offer (sendonly audio + video,
 *   codecs = the router's own entries) → connectTransport (DTLS client) →
 *   synthesized SFU answer → produce{audio}, produce{video}.
 * ffmpeg runs for the whole life of the publisher; its RTP goes into the
 * current session's werift tracks (dropped between sessions). On the server's
 * `reconnect` event the session is rebuilt and the media republished.
 *
 * ffmpeg cannot act on PLI/FIR: keyframes come every keyframeIntervalSec
 * (default 1 s), so a viewer's first frame can take up to that long. PLIs the
 * SFU sends are counted in stats().pliReceived.
 */
import type { types as ms } from 'mediasoup';
import { MediaStreamTrack, RTCRtpCodecParameters, type RTCPeerConnection } from 'werift';
import { FfmpegRtpSource, type FfmpegAudioOptions, type FfmpegVideoOptions } from './ffmpegSource.js';
import { RejoiningPeer, toError, type HeadlessPeerOptions, type PeerStats, type HeadlessSession } from './rejoiningPeer.js';
import { buildSendAnswer, dtlsParametersFromSdp, formatFmtp, parseSdp, sendFeedbackFor, sendRtpParameters, type RemoteTransportParams } from './sdpBridge.js';
import { assertLocalCandidates, createPeerConnection } from './weriftPeer.js';

export interface HeadlessPublisherOptions extends HeadlessPeerOptions {
  /** Video settings (codec VP8|H264, resolution, fps, bitrate, keyframe interval); false = audio only. */
  video?: FfmpegVideoOptions | false;
  /** Audio settings; false = video only. */
  audio?: FfmpegAudioOptions | false;
  /** Default /usr/bin/ffmpeg. */
  ffmpegPath?: string;
  /** ffmpeg encoder threads. Default 2. */
  ffmpegThreads?: number;
  /** Print ffmpeg's output. Default false. */
  echoFfmpeg?: boolean;
}

export interface PublisherStats extends PeerStats {
  connectionState: string;
  producers: { audio?: string; video?: string };
  /** What ffmpeg produced (all sessions). */
  source: { running: boolean; videoPackets: number; videoBytes: number; audioPackets: number; audioBytes: number };
  /** Packets handed to werift while the transport was connected (all sessions). */
  sent: { videoPackets: number; audioPackets: number };
  /** PLI/FIR requests from the SFU (not honoured: see the file comment). */
  pliReceived: number;
  /** From publish() until the first packet was handed to a connected transport. */
  timeToFirstSentMs: number | undefined;
}

interface SendSession {
  pc: RTCPeerConnection;
  tracks: Partial<Record<'audio' | 'video', MediaStreamTrack>>;
  transportId: string;
}

const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

export class HeadlessPublisher extends RejoiningPeer {
  readonly source: FfmpegRtpSource;
  producers: { audio?: string; video?: string } = {};
  readonly #sent = { videoPackets: 0, audioPackets: 0 };
  #pli = 0;
  #firstSentAt: number | undefined;
  #session: SendSession | undefined;
  /** Kinds whose packets are dropped instead of sent (pauseMedia). */
  readonly #pausedKinds = new Set<'audio' | 'video'>();
  #videoPacketsToDrop = 0;

  constructor(options: HeadlessPublisherOptions) {
    super(options, 'publisher');
    this.source = new FfmpegRtpSource({
      ...(options.video !== undefined ? { video: options.video } : {}),
      ...(options.audio !== undefined ? { audio: options.audio } : {}),
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
      ...(options.ffmpegThreads ? { threads: options.ffmpegThreads } : {}),
      ...(options.echoFfmpeg ? { echo: true } : {}),
    });
    this.source.onExit = (description) => {
      this.lastError = new Error(description);
      this.log(description);
      this.emit('sourceExited', this.lastError);
    };
  }

  /** Starts ffmpeg, joins and produces. Same as join(). */
  publish(): Promise<void> {
    return this.join();
  }

  /**
   * Stops sending media of these kinds (default both) while staying joined and
   * producing: ffmpeg keeps running, its packets are dropped. To the SFU this
   * looks like a stalled encoder/uplink. resumeMedia() sends again.
   */
  pauseMedia(kinds: ReadonlyArray<'audio' | 'video'> = ['audio', 'video']): void {
    for (const kind of kinds) this.#pausedKinds.add(kind);
  }

  /**
   * Never sends the next `count` video packets: a permanent sequence gap at the
   * SFU (they are not in werift's history either, so a NACK cannot repair them).
   */
  dropVideoPackets(count: number): void {
    this.#videoPacketsToDrop += count;
  }

  resumeMedia(kinds: ReadonlyArray<'audio' | 'video'> = ['audio', 'video']): void {
    for (const kind of kinds) this.#pausedKinds.delete(kind);
  }

  stats(): PublisherStats {
    const pc = this.#session?.pc;
    return {
      ...this.peerStats(),
      connectionState: pc?.connectionState ?? 'closed',
      producers: { ...this.producers },
      source: { running: this.source.process?.running ?? false, ...this.source.stats },
      sent: { ...this.#sent },
      pliReceived: this.#pli,
      timeToFirstSentMs:
        this.#firstSentAt !== undefined && this.firstJoinStartedAt !== undefined ? Math.round(this.#firstSentAt - this.firstJoinStartedAt) : undefined,
    };
  }

  summary(): string {
    const s = this.stats();
    return (
      `${s.name} ${s.state}/${s.connectionState} joins=${s.joins} ffmpeg=${s.source.running ? 'up' : 'down'} ` +
      `sent video ${s.sent.videoPackets} audio ${s.sent.audioPackets} pli=${s.pliReceived}`
    );
  }

  /** ffmpeg warms up (≈0.3–0.7 s to first packet) while we signal. */
  protected override async prepare(): Promise<void> {
    await this.source.start();
  }

  protected async setupSession({ attempt, device: router }: HeadlessSession): Promise<void> {
    if (!this.source.process) await this.source.start();
    const audioCodec = this.source.audio ? pickRouterCodec(router, 'audio/opus') : undefined;
    const videoCodec = this.source.video ? pickRouterCodec(router, `video/${this.source.video.codec}`) : undefined;

    const transport = (await attempt.guard(this.signaling.request('createTransport', { direction: 'send' }))) as RemoteTransportParams;
    if (!this.options.allowRemoteMedia) assertLocalCandidates(transport.iceCandidates, `${this.name} send transport`);

    const midExtension = router.headerExtensions?.find((h) => h.uri === MID_URI);
    const pc = createPeerConnection({
      loopbackOnly: this.options.loopbackOnly ?? true,
      audioCodecs: audioCodec ? [weriftCodec(audioCodec)] : [],
      videoCodecs: videoCodec ? [weriftCodec(videoCodec)] : [],
      headerExtensions: midExtension ? [{ uri: MID_URI, id: midExtension.preferredId }] : [],
    });
    const session: SendSession = { pc, tracks: {}, transportId: transport.id };
    this.#session = session;
    pc.connectionStateChange.subscribe((state) => this.log(`connection ${state}`));

    const kinds: ('audio' | 'video')[] = [];
    if (audioCodec) kinds.push('audio');
    if (videoCodec) kinds.push('video');
    for (const kind of kinds) {
      const track = new MediaStreamTrack({ kind });
      session.tracks[kind] = track;
      const transceiver = pc.addTransceiver(track, { direction: 'sendonly' });
      if (kind === 'video') transceiver.sender.onPictureLossIndication.subscribe(() => this.#pli++);
    }

    const offer = await pc.createOffer();
    await pc.setLocalDescription(offer);
    const local = parseSdp(pc.localDescription!.sdp);

    // We are the DTLS client (the answer below says a=setup:passive for the SFU).
    const dtls = dtlsParametersFromSdp(local, 'client');
    await attempt.guard(
      this.signaling.request('connectTransport', {
        transportId: transport.id,
        dtlsParameters: { role: 'client', fingerprints: dtls.fingerprints },
      }),
    );
    await pc.setRemoteDescription({
      type: 'answer',
      sdp: buildSendAnswer(transport, local, router, Math.floor(Math.random() * 1e9), 1),
    });

    // Media flows as soon as DTLS is up; the producers just need to exist by then.
    this.source.onRtp = (kind, packet) => {
      const track = session.tracks[kind];
      if (!track || pc.connectionState !== 'connected' || this.#pausedKinds.has(kind)) return;
      if (kind === 'video' && this.#videoPacketsToDrop > 0) {
        this.#videoPacketsToDrop--;
        return;
      }
      this.#firstSentAt ??= performance.now();
      if (kind === 'video') this.#sent.videoPackets++;
      else this.#sent.audioPackets++;
      try {
        track.writeRtp(packet);
      } catch (error) {
        this.lastError = toError(error);
      }
    };

    const producers: { audio?: string; video?: string } = {};
    for (const kind of kinds) {
      const section = local.media.find((m) => m.kind === kind);
      const routerCodec = kind === 'audio' ? audioCodec! : videoCodec!;
      if (!section) throw new Error(`our offer has no ${kind} m-section`);
      const rtpParameters = sendRtpParameters(section, routerCodec, router, {
        ...(kind === 'video' && this.source.video ? { maxBitrate: this.source.video.bitrateKbps * 1000 * 1.5 } : {}),
      });
      const { producerId } = await attempt.guard(
        this.signaling.request('produce', {
          transportId: transport.id,
          kind,
          rtpParameters: rtpParameters,
          source: kind === 'audio' ? 'microphone' : 'camera',
        }),
      );
      producers[kind] = producerId;
      this.log(`producing ${kind} ${routerCodec.mimeType} as ${producerId}`);
    }
    this.producers = producers;
  }

  protected async teardownSession(): Promise<void> {
    const session = this.#session;
    this.#session = undefined;
    this.source.onRtp = () => {};
    this.producers = {};
    if (!session) return;
    for (const track of Object.values(session.tracks)) track.stop();
    try {
      await session.pc.close();
    } catch {
      /* already closed */
    }
  }

  protected override async onClose(): Promise<void> {
    await this.source.stop();
  }
}

/** The router's entry for a mimeType; for H264 the packetization-mode 1 Constrained Baseline one. */
function pickRouterCodec(router: ms.RtpCapabilities, mimeType: string): ms.RtpCodecCapability {
  const candidates = (router.codecs ?? []).filter((c) => c.mimeType.toLowerCase() === mimeType.toLowerCase());
  if (candidates.length === 0) {
    throw new Error(`router does not offer ${mimeType} (it has ${(router.codecs ?? []).map((c) => c.mimeType).join(', ')})`);
  }
  if (mimeType.toLowerCase() === 'video/h264') {
    const score = (c: ms.RtpCodecCapability): number => {
      const p = c.parameters ?? {};
      const profileLevelId = p['profile-level-id'];
      const profile = typeof profileLevelId === 'string' ? profileLevelId : '';
      return (Number(p['packetization-mode']) === 1 ? 2 : 0) + (/^42[ce]0/i.test(profile) ? 1 : 0);
    };
    candidates.sort((a, b) => score(b) - score(a));
  }
  return candidates[0]!;
}

/** A werift codec entry mirroring a router codec: same payload type, fmtp and supported feedback. */
function weriftCodec(codec: ms.RtpCodecCapability): RTCRtpCodecParameters {
  const fmtp = formatFmtp(codec.parameters);
  return new RTCRtpCodecParameters({
    mimeType: codec.mimeType,
    clockRate: codec.clockRate,
    ...(codec.channels !== undefined ? { channels: codec.channels } : {}),
    payloadType: codec.preferredPayloadType,
    ...(fmtp ? { parameters: fmtp } : {}),
    rtcpFeedback: sendFeedbackFor(codec),
  });
}
