/**
 * A WHEP player in Node (werift, recvonly audio + video): POSTs its offer,
 * applies the 201 answer, or — on a 406 counter-offer — answers it from a
 * fresh peer connection and PATCHes that answer, as a player that cannot roll
 * back its own offer would. Counts what it receives per kind (RtpCounters).
 *
 *   numbering 'router': offers the router's payload types and header extension ids (→ 201)
 *   numbering 'own':    offers its own (opus 111, VP8 96, RTX 97, MID id 9) (→ 406)
 */
import type { types as ms } from 'mediasoup';
import { RTCRtpCodecParameters, type RTCPeerConnection, type RtpPacket } from 'werift';
import { HeadlessPublisher } from './headlessPublisher.js';
import { StreamCounter, type StreamCounts } from './rtpCounters.js';
import { createPeerConnection } from './weriftPeer.js';
import { waitFor } from './wait.js';

/** What WHEP players play in the tests: a headless publisher's VP8 (320x180, key frame every 2 s) and Opus. */
export async function publishForPlayers(url: string, room: string, token: string): Promise<HeadlessPublisher> {
  const publisher = new HeadlessPublisher({
    url,
    room,
    token,
    name: 'publisher',
    video: { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 2 },
  });
  await publisher.publish();
  return publisher;
}

export const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

export interface WhepPlayerOptions {
  routerCapabilities: ms.RtpCapabilities;
  numbering: 'router' | 'own';
  /** Kinds to offer (recvonly), in m-line order. Default audio then video. */
  kinds?: ('audio' | 'video')[];
  /** Authorization: Bearer. */
  token?: string;
}

function playerCodecs(kind: 'audio' | 'video', options: WhepPlayerOptions): RTCRtpCodecParameters[] {
  const routerPt = (mimeType: string): number => options.routerCapabilities.codecs!.find((c) => c.mimeType === mimeType)!.preferredPayloadType;
  const routerRtx = (apt: number): number =>
    options.routerCapabilities.codecs!.find((c) => c.mimeType === 'video/rtx' && c.parameters?.['apt'] === apt)!.preferredPayloadType;
  const own = options.numbering === 'own';
  if (kind === 'audio') {
    return [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2, payloadType: own ? 111 : routerPt('audio/opus') })];
  }
  const vp8 = own ? 96 : routerPt('video/VP8');
  const feedback = [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'ccm', parameter: 'fir' }];
  return [
    new RTCRtpCodecParameters({ mimeType: 'video/VP8', clockRate: 90000, payloadType: vp8, rtcpFeedback: feedback }),
    new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000, payloadType: own ? 97 : routerRtx(vp8), parameters: `apt=${vp8}` }),
  ];
}

export class WhepPlayer {
  readonly #options: WhepPlayerOptions;
  readonly #counters = new Map<string, StreamCounter>();
  #pcs: RTCPeerConnection[] = [];
  location: string | undefined;
  etag: string | undefined;
  /** The SDP of the last 201 answer or 406 counter-offer. */
  serverSdp: string | undefined;

  constructor(options: WhepPlayerOptions) {
    this.#options = options;
  }

  #newPc(): RTCPeerConnection {
    const midId = this.#options.numbering === 'own' ? 9 : this.#options.routerCapabilities.headerExtensions!.find((h) => h.uri === MID_URI)!.preferredId;
    const pc = createPeerConnection({
      loopbackOnly: true,
      audioCodecs: playerCodecs('audio', this.#options),
      videoCodecs: playerCodecs('video', this.#options),
      headerExtensions: [{ uri: MID_URI, id: midId }],
    });
    pc.onTrack.subscribe((track) => {
      const counter = new StreamCounter(track.kind as 'audio' | 'video', track.kind === 'video' ? 'video/VP8' : 'audio/opus');
      this.#counters.set(track.kind, counter);
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => counter.onPacket(rtp.header, rtp.payload, rtp.header.serializeSize + rtp.payload.length));
    });
    this.#pcs.push(pc);
    return pc;
  }

  /** POSTs the offer; applies a 201 answer; on 406 answers the counter-offer and PATCHes it. Returns the POST's response. */
  /** A new peer connection's recvonly offer, gathered (what play() POSTs). */
  async offer(): Promise<string> {
    const pc = this.#newPc();
    for (const kind of this.#options.kinds ?? ['audio', 'video']) pc.addTransceiver(kind, { direction: 'recvonly' });
    await pc.setLocalDescription(await pc.createOffer());
    await waitFor(() => pc.iceGatheringState === 'complete', { description: 'werift to gather its candidate', timeoutMs: 5_000 });
    return pc.localDescription!.sdp;
  }

  async play(endpoint: string, init: { redirect?: RequestRedirect } = {}): Promise<Response> {
    const offer = await this.offer();
    const pc = this.#pcs.at(-1)!;
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...(this.#options.token ? { Authorization: `Bearer ${this.#options.token}` } : {}) },
      body: offer,
      redirect: init.redirect ?? 'follow',
    });
    if (response.status !== 201 && response.status !== 406) return response;
    this.location = new URL(response.headers.get('location')!, response.url).href;
    this.etag = response.headers.get('etag') ?? undefined;
    this.serverSdp = await response.clone().text();
    if (response.status === 201) {
      await pc.setRemoteDescription({ type: 'answer', sdp: this.serverSdp });
      return response;
    }
    // A counter-offer: this offer is dropped, a fresh connection answers the server's.
    pc.close().catch(() => undefined);
    const answerer = this.#newPc();
    await answerer.setRemoteDescription({ type: 'offer', sdp: this.serverSdp });
    await answerer.setLocalDescription(await answerer.createAnswer());
    await waitFor(() => answerer.iceGatheringState === 'complete', { description: 'werift to gather its candidate', timeoutMs: 5_000 });
    const patched = await fetch(this.location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp' }, body: answerer.localDescription!.sdp });
    if (patched.status !== 204) throw new Error(`PATCH of the answer: ${patched.status} ${await patched.text()}`);
    return response;
  }

  stats(): { audio: StreamCounts; video: StreamCounts } {
    const empty = new StreamCounter('video', 'video/VP8').snapshot();
    return { audio: this.#counters.get('audio')?.snapshot() ?? empty, video: this.#counters.get('video')?.snapshot() ?? empty };
  }

  /** The current peer connection's state. */
  get connectionState(): string {
    return this.#pcs.at(-1)?.connectionState ?? 'new';
  }

  /** DELETE (when `remove`), then closes the peer connections. */
  async close(remove = true): Promise<number | undefined> {
    const status = remove && this.location ? (await fetch(this.location, { method: 'DELETE' })).status : undefined;
    await Promise.all(this.#pcs.map((pc) => pc.close().catch(() => undefined)));
    this.#pcs = [];
    return status;
  }
}
