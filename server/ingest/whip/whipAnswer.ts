/**
 * The SDP answer to a WHIP offer, from the offer's plan and the mediasoup
 * transport: ICE-lite, `a=setup:passive` (the client connects DTLS; active
 * only if it offered passive), `a=recvonly`, the accepted codecs and header
 * extensions echoed, and every candidate of the transport (sdpLines.ts).
 */
import { candidateLines, codecLines, sdpText, sessionLines, transportLines, type TransportDescription } from '../../webrtc/sdp/sdpLines.js';
import type { WhipMediaPlan, WhipOfferPlan } from './whipOffer.js';

export type { TransportDescription } from '../../webrtc/sdp/sdpLines.js';

function mediaSection(media: WhipMediaPlan, transport: TransportDescription, setup: string): string[] {
  return [
    `m=${media.kind} 9 UDP/TLS/RTP/SAVPF ${media.codecs.map((c) => c.payloadType).join(' ')}`,
    ...transportLines(transport, setup, media.mid),
    'a=recvonly',
    'a=rtcp-mux',
    ...(media.reducedSize ? ['a=rtcp-rsize'] : []),
    ...media.codecs.flatMap(codecLines),
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
