/**
 * The SDP this server sends a WHEP player, built from the consumers it made:
 * the answer to the player's offer (201) or its own counter-offer (406).
 * Either way `a=sendonly`, the consumer's codecs and header extensions with
 * the router's numbers, its SSRCs (and RTX's, as an FID group) with CNAME and
 * msid, ICE-lite and every candidate of the transport (sdpLines.ts).
 * An m-line the room has no track for is answered rejected (port 0).
 */
import type { types as ms } from 'mediasoup';
import type { AcceptedCodec } from '../../webrtc/sdp/offeredCodecs.js';
import { candidateLines, codecLines, sdpText, sessionLines, transportLines, type TransportDescription } from '../../webrtc/sdp/sdpLines.js';

export interface WhepSection {
  kind: ms.MediaKind;
  /** The m-line's mid: the player's (answer) or the consumer's (counter-offer). */
  mid: string;
  /** Undefined: the room has no track of this kind; the m-line is rejected. */
  consumer: ms.RtpParameters | undefined;
  /** A payload type of the player's offer, for a rejected m-line's format list. */
  rejectedPayloadType?: number;
}

export interface WhepDescription {
  type: 'answer' | 'offer';
  sections: WhepSection[];
  transport: TransportDescription;
  /** Our DTLS role in an answer; an offer says actpass. */
  localSetup: 'passive' | 'active';
  /** The msid stream id the player's tracks are grouped under. */
  streamId: string;
}

function fmtpOf(parameters: Record<string, unknown> | undefined): string | undefined {
  const entries = Object.entries(parameters ?? {}).filter(([, value]) => typeof value === 'string' || typeof value === 'number');
  return entries.length > 0 ? entries.map(([key, value]) => `${key}=${String(value)}`).join(';') : undefined;
}

function asAccepted(codec: ms.RtpCodecParameters): AcceptedCodec {
  const [, name = codec.mimeType] = codec.mimeType.split('/');
  return {
    payloadType: codec.payloadType,
    name,
    clockRate: codec.clockRate,
    channels: codec.channels,
    fmtp: fmtpOf(codec.parameters),
    feedback: (codec.rtcpFeedback ?? []).map((fb) => ({ type: fb.type, parameter: fb.parameter ?? '' })),
  };
}

function ssrcLines(rtp: ms.RtpParameters, streamId: string, trackId: string): string[] {
  const encoding = rtp.encodings?.[0];
  if (encoding?.ssrc === undefined) return [];
  const cname = rtp.rtcp?.cname ?? 'floodlight';
  const ssrcs = encoding.rtx?.ssrc !== undefined ? [encoding.ssrc, encoding.rtx.ssrc] : [encoding.ssrc];
  return [
    ...(ssrcs.length === 2 ? [`a=ssrc-group:FID ${ssrcs.join(' ')}`] : []),
    ...ssrcs.flatMap((ssrc) => [`a=ssrc:${ssrc} cname:${cname}`, `a=ssrc:${ssrc} msid:${streamId} ${trackId}`]),
  ];
}

function section(s: WhepSection, description: WhepDescription): string[] {
  const setup = description.type === 'offer' ? 'actpass' : description.localSetup;
  if (!s.consumer) {
    return [`m=${s.kind} 0 UDP/TLS/RTP/SAVPF ${s.rejectedPayloadType ?? 0}`, 'c=IN IP4 0.0.0.0', `a=mid:${s.mid}`, 'a=inactive', 'a=rtcp-mux'];
  }
  const codecs = s.consumer.codecs.map(asAccepted);
  const trackId = `${description.streamId}-${s.kind}`;
  return [
    `m=${s.kind} 9 UDP/TLS/RTP/SAVPF ${codecs.map((c) => c.payloadType).join(' ')}`,
    ...transportLines(description.transport, setup, s.mid),
    'a=sendonly',
    `a=msid:${description.streamId} ${trackId}`,
    'a=rtcp-mux',
    ...(s.consumer.rtcp?.reducedSize !== false ? ['a=rtcp-rsize'] : []),
    ...codecs.flatMap(codecLines),
    ...(s.consumer.headerExtensions ?? []).map((e) => `a=extmap:${e.id} ${e.uri}`),
    ...ssrcLines(s.consumer, description.streamId, trackId),
    ...candidateLines(description.transport),
  ];
}

export function buildWhepDescription(description: WhepDescription, sessionVersion = Date.now()): string {
  const bundled = description.sections.filter((s) => s.consumer !== undefined).map((s) => s.mid);
  return sdpText([...sessionLines(bundled, undefined, sessionVersion), ...description.sections.flatMap((s) => section(s, description))]);
}
