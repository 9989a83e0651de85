/**
 * The lines this server writes in every SDP it sends (WHIP answers, WHEP
 * answers and counter-offers): ICE-lite (mediasoup never gathers), its
 * credentials and fingerprint, every candidate of the transport and
 * `a=end-of-candidates` (the server trickles nothing). Also the
 * `application/trickle-ice-sdpfrag` of an ICE restart and the reading of the
 * peer's (RFC 8840 / RFC 9725 §4.4).
 */
import type { types as ms } from 'mediasoup';
import type { AcceptedCodec } from './offeredCodecs.js';

export interface TransportDescription {
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export function candidateLine(candidate: ms.IceCandidate): string {
  const tcp = candidate.protocol === 'tcp' ? ` tcptype ${candidate.tcpType ?? 'passive'}` : '';
  return `a=candidate:${candidate.foundation} 1 ${candidate.protocol} ${candidate.priority} ${candidate.address} ${candidate.port} typ host${tcp}`;
}

export function codecLines(codec: AcceptedCodec): string[] {
  const channels = codec.channels !== undefined && codec.channels > 1 ? `/${codec.channels}` : '';
  return [
    `a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${channels}`,
    ...(codec.fmtp !== undefined ? [`a=fmtp:${codec.payloadType} ${codec.fmtp}`] : []),
    ...codec.feedback.map((fb) => `a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`),
  ];
}

/** The fingerprint we announce (sha-256 when the transport has it). */
export function localFingerprint(transport: TransportDescription): ms.DtlsFingerprint {
  const fingerprint = transport.dtlsParameters.fingerprints.find((f) => f.algorithm === 'sha-256') ?? transport.dtlsParameters.fingerprints[0];
  if (!fingerprint) throw new Error('the transport has no DTLS fingerprint');
  return fingerprint;
}

/** v=, o=, s=, t=, ICE-lite and the groups, before the m-sections. */
export function sessionLines(mids: readonly string[], lipSync: readonly string[] | undefined, sessionVersion: number): string[] {
  return [
    'v=0',
    `o=- ${sessionVersion} 1 IN IP4 0.0.0.0`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${mids.join(' ')}`,
    ...(lipSync ? [`a=group:LS ${lipSync.join(' ')}`] : []),
    'a=msid-semantic: WMS *',
  ];
}

/** The transport part of an m-section: c=, ICE credentials, fingerprint, DTLS setup, mid. */
export function transportLines(transport: TransportDescription, setup: string, mid: string): string[] {
  const fingerprint = localFingerprint(transport);
  return [
    'c=IN IP4 0.0.0.0',
    `a=ice-ufrag:${transport.iceParameters.usernameFragment}`,
    `a=ice-pwd:${transport.iceParameters.password}`,
    `a=fingerprint:${fingerprint.algorithm} ${fingerprint.value}`,
    `a=setup:${setup}`,
    `a=mid:${mid}`,
  ];
}

export function candidateLines(transport: TransportDescription): string[] {
  return [...transport.iceCandidates.map(candidateLine), 'a=end-of-candidates'];
}

/** Joins lines with CRLF line ends, as RFC 8866 wants. */
export const sdpText = (lines: readonly string[]): string => `${lines.join('\r\n')}\r\n`;

/** The sdpfrag answering an ICE restart: new credentials and the (unchanged) candidates. */
export function buildIceRestartFragment(iceParameters: ms.IceParameters, candidates: ms.IceCandidate[], media: { kind: ms.MediaKind; mid: string }): string {
  return sdpText([
    'a=ice-lite',
    `a=ice-ufrag:${iceParameters.usernameFragment}`,
    `a=ice-pwd:${iceParameters.password}`,
    `m=${media.kind} 9 UDP/TLS/RTP/SAVPF 0`,
    `a=mid:${media.mid}`,
    ...candidates.map(candidateLine),
    'a=end-of-candidates',
  ]);
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
