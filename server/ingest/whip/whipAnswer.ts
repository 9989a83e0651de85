/**
 * The SDP answer to a WHIP offer, from the offer's plan and the mediasoup
 * transport: ICE-lite (mediasoup never gathers), `a=setup:passive` (the
 * client connects DTLS; active only if it offered passive), every candidate
 * of the transport in each m-section and `a=end-of-candidates` (the server
 * trickles nothing). Also the `application/trickle-ice-sdpfrag` answer to an
 * ICE restart (RFC 8840 / RFC 9725 §4.4).
 */
import type { types as ms } from 'mediasoup';
import type { AcceptedCodec, WhipMediaPlan, WhipOfferPlan } from './whipOffer.js';

export interface TransportDescription {
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export function candidateLine(candidate: ms.IceCandidate): string {
  const tcp = candidate.protocol === 'tcp' ? ` tcptype ${candidate.tcpType ?? 'passive'}` : '';
  return `a=candidate:${candidate.foundation} 1 ${candidate.protocol} ${candidate.priority} ${candidate.address} ${candidate.port} typ host${tcp}`;
}

function codecLines(codec: AcceptedCodec): string[] {
  const channels = codec.channels !== undefined && codec.channels > 1 ? `/${codec.channels}` : '';
  return [
    `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${channels}`,
    ...(codec.fmtp !== undefined ? [`a=fmtp:${codec.payloadType} ${codec.fmtp}`] : []),
    ...codec.feedback.map((fb) => `a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`),
  ];
}

function mediaSection(media: WhipMediaPlan, transport: TransportDescription, fingerprint: ms.DtlsFingerprint, setup: string): string[] {
  return [
    `m=${media.kind} 9 UDP/TLS/RTP/SAVPF ${media.codecs.map((c) => c.payloadType).join(' ')}`,
    'c=IN IP4 0.0.0.0',
    `a=ice-ufrag:${transport.iceParameters.usernameFragment}`,
    `a=ice-pwd:${transport.iceParameters.password}`,
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
    `a=setup:${setup}`,
    `a=mid:${media.mid}`,
    'a=recvonly',
    'a=rtcp-mux',
    ...(media.reducedSize ? ['a=rtcp-rsize'] : []),
    ...media.codecs.flatMap(codecLines),
    ...media.extensions.map((e) => `a=extmap:${e.id} ${e.uri}`),
    ...media.rids.map((rid) => `a=rid:${rid} recv`),
    ...(media.rids.length > 0 ? [`a=simulcast:recv ${media.rids.join(';')}`] : []),
    ...transport.iceCandidates.map(candidateLine),
    'a=end-of-candidates',
  ];
}

/** The answer SDP (CRLF line ends, as RFC 8866 wants). */
export function buildWhipAnswer(plan: WhipOfferPlan, transport: TransportDescription, sessionVersion = Date.now()): string {
  const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
  if (!fingerprint) throw new Error('the transport has no DTLS fingerprint');
  const lines = [
    'v=0',
    `o=- ${sessionVersion} 1 IN IP4 0.0.0.0`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${plan.media.map((m) => m.mid).join(' ')}`,
    ...(plan.lipSync ? [`a=group:LS ${plan.lipSync.join(' ')}`] : []),
    'a=msid-semantic: WMS *',
    ...plan.media.flatMap((m) => mediaSection(m, transport, fingerprint, plan.localSetup)),
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** The sdpfrag answering an ICE restart: new credentials and the (unchanged) candidates. */
export function buildIceRestartFragment(iceParameters: ms.IceParameters, candidates: ms.IceCandidate[], media: { kind: ms.MediaKind; mid: string }): string {
  const lines = [
    'a=ice-lite',
    `a=ice-ufrag:${iceParameters.usernameFragment}`,
    `a=ice-pwd:${iceParameters.password}`,
    `m=${media.kind} 9 UDP/TLS/RTP/SAVPF 0`,
    `a=mid:${media.mid}`,
    ...candidates.map(candidateLine),
    'a=end-of-candidates',
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/** What a PATCH sdpfrag says: new ICE credentials (a restart) and/or candidates. */
export interface IceFragment {
  usernameFragment: string | undefined;
  password: string | undefined;
  candidates: number;
}

/** Reads a trickle-ice-sdpfrag; undefined when it is not one. */
export function parseIceFragment(text: string): IceFragment | undefined {
  const lines = text.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines.some((l) => !/^[a-z]=/.test(l))) return undefined;
  const value = (prefix: string): string | undefined =>
    lines
      .find((l) => l.startsWith(prefix))
      ?.slice(prefix.length)
      .trim();
  return { usernameFragment: value('a=ice-ufrag:'), password: value('a=ice-pwd:'), candidates: lines.filter((l) => l.startsWith('a=candidate:')).length };
}
