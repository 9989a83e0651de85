/**
 * The SDP answer to a WHIP offer, from the offer's plan and the mediasoup
 * transport: ICE-lite, `a=setup:passive` (the client connects DTLS; active
 * only if it offered passive), `a=recvonly`, the accepted codecs and header
 * extensions echoed, and every candidate of the transport (sdpLines.ts).
 */
import { candidateLines, codecLines, sdpText, sessionLines, transportLines, type TransportDescription } from '../../webrtc/sdp/sdpLines.js';
import type { WhipMediaPlan, WhipOfferPlan } from './whipOffer.js';
import { NOT_MEDIA_CODECS, type AcceptedCodec } from '../../webrtc/sdp/offeredCodecs.js';

export type { TransportDescription } from '../../webrtc/sdp/sdpLines.js';

/**
 * Start bitrate suggested to browser encoders (kbit/s): Chromium reads
 * `x-google-start-bitrate` from the answer's fmtp (other encoders ignore it).
 * Its default, 300 kbit/s, makes a single 720p encoding start starved and
 * paced: frames arrive in bursts while the estimate ramps up, the viewers'
 * jitter buffers grow and stay grown. About one 720p30 encoding's rate; a
 * weaker uplink backs off within a second or two.
 */
export const WHIP_VIDEO_START_BITRATE_KBPS = 2000;

const withStartBitrate = (codec: AcceptedCodec): AcceptedCodec =>
  NOT_MEDIA_CODECS.has(codec.name.toLowerCase()) || /x-google-start-bitrate/.test(codec.fmtp ?? '')
    ? codec
    : { ...codec, fmtp: `${codec.fmtp ? `${codec.fmtp};` : ''}x-google-start-bitrate=${WHIP_VIDEO_START_BITRATE_KBPS}` };

function mediaSection(media: WhipMediaPlan, transport: TransportDescription, setup: string): string[] {
  const codecs = media.kind === 'video' ? media.codecs.map(withStartBitrate) : media.codecs;
  return [
    `m=${media.kind} 9 UDP/TLS/RTP/SAVPF ${media.codecs.map((c) => c.payloadType).join(' ')}`,
    ...transportLines(transport, setup, media.mid),
    'a=recvonly',
    'a=rtcp-mux',
    ...(media.reducedSize ? ['a=rtcp-rsize'] : []),
    ...codecs.flatMap(codecLines),
    ...media.extensions.map((e) => `a=extmap:${e.id} ${e.uri}`),
    ...media.rids.map((rid) => `a=rid:${rid} recv`),
    ...(media.rids.length > 0 ? [`a=simulcast:recv ${media.rids.join(';')}`] : []),
    ...candidateLines(transport),
  ];
}

/** The answer SDP (CRLF line ends, as RFC 8866 wants). */
export function buildWhipAnswer(plan: WhipOfferPlan, transport: TransportDescription, sessionVersion = Date.now()): string {
  return sdpText([
    ...sessionLines(
      plan.media.map((m) => m.mid),
      plan.lipSync,
      sessionVersion,
    ),
    ...plan.media.flatMap((m) => mediaSection(m, transport, plan.localSetup)),
  ]);
}
