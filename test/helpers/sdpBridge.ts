/**
 * The werift ↔ mediasoup bridge: mediasoup speaks ORTC-style parameter
 * objects, werift speaks SDP. This file translates in both directions, in the
 * same way mediasoup-client does for browsers, restricted to what the
 * headless peers need (one BUNDLEd transport, no simulcast, no data channels).
 *
 * Receiving (viewer), the SFU is the offerer:
 *   mediasoup transport params (ICE-lite, candidates, DTLS fingerprints)
 *   + each consumer's rtpParameters  ──buildRecvOffer──►  remote SDP offer,
 *   werift answers (DTLS role client, `a=setup:active`) and
 *   `dtlsParametersFromSdp(answer)` is what connectTransport sends.
 *
 * Sending (publisher), the client is the offerer:
 *   werift offer ──parseSdp──► per m-section PT / SSRC / extmap ids
 *   ──sendRtpParameters──► `produce` rtpParameters; the SFU's answer is
 *   synthesized by buildSendAnswer (`a=setup:passive` → werift is the DTLS
 *   client, matching connectTransport role 'client').
 *
 * mediasoup's WebRtcTransport is ICE-lite, so werift is always the
 * controlling ICE agent (it sees `a=ice-lite` in the remote description).
 */
import type { types as ms } from 'mediasoup';

/** What createTransport returns (protocol TransportInfo, typed). */
export interface RemoteTransportParams {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

// ---------------------------------------------------------------- parsing ---

export interface SdpCodec {
  payloadType: number;
  /** e.g. "VP8", "opus", "rtx" as written in a=rtpmap. */
  name: string;
  clockRate: number;
  channels?: number;
  /** Raw a=fmtp value ("" if none). */
  fmtp: string;
  rtcpFeedback: { type: string; parameter: string }[];
}

export interface SdpMediaSection {
  kind: string;
  port: number;
  mid?: string;
  direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  setup?: string;
  fingerprints: { algorithm: string; value: string }[];
  codecs: SdpCodec[];
  extmaps: { id: number; uri: string }[];
  /** In order of first appearance. */
  ssrcs: { ssrc: number; cname?: string }[];
  ssrcGroups: { semantics: string; ssrcs: number[] }[];
}

export interface ParsedSdp {
  fingerprints: { algorithm: string; value: string }[];
  setup?: string;
  media: SdpMediaSection[];
}

/** A deliberately small SDP parser: only the attributes the bridge needs. */
export function parseSdp(sdp: string): ParsedSdp {
  const parsed: ParsedSdp = { fingerprints: [], media: [] };
  let current: SdpMediaSection | undefined;
  const codecOf = (section: SdpMediaSection, pt: number): SdpCodec | undefined => section.codecs.find((c) => c.payloadType === pt);

  for (const rawLine of sdp.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line) continue;
    if (line.startsWith('m=')) {
      const [kind = '', port = '0'] = line.slice(2).split(' ');
      current = {
        kind,
        port: Number(port),
        fingerprints: [],
        codecs: [],
        extmaps: [],
        ssrcs: [],
        ssrcGroups: [],
      };
      // Codecs are created in m= line order; rtpmap fills them in.
      for (const pt of line.split(' ').slice(3)) {
        if (/^\d+$/.test(pt)) {
          current.codecs.push({ payloadType: Number(pt), name: '', clockRate: 0, fmtp: '', rtcpFeedback: [] });
        }
      }
      parsed.media.push(current);
      continue;
    }
    if (!line.startsWith('a=')) continue;
    const attr = line.slice(2);
    const colon = attr.indexOf(':');
    const key = colon < 0 ? attr : attr.slice(0, colon);
    const value = colon < 0 ? '' : attr.slice(colon + 1);

    if (key === 'fingerprint') {
      const [algorithm = '', fp = ''] = value.split(' ');
      (current ? current.fingerprints : parsed.fingerprints).push({ algorithm: algorithm.toLowerCase(), value: fp });
      continue;
    }
    if (key === 'setup') {
      if (current) current.setup = value;
      else parsed.setup = value;
      continue;
    }
    if (!current) continue;
    switch (key) {
      case 'mid':
        current.mid = value;
        break;
      case 'sendrecv':
      case 'sendonly':
      case 'recvonly':
      case 'inactive':
        current.direction = key;
        break;
      case 'rtpmap': {
        const match = /^(\d+) ([^/]+)\/(\d+)(?:\/(\d+))?/.exec(value);
        if (!match) break;
        const codec = codecOf(current, Number(match[1]));
        if (!codec) break;
        codec.name = match[2]!;
        codec.clockRate = Number(match[3]);
        if (match[4]) codec.channels = Number(match[4]);
        break;
      }
      case 'fmtp': {
        const space = value.indexOf(' ');
        const codec = codecOf(current, Number(value.slice(0, space)));
        if (codec) codec.fmtp = value.slice(space + 1).trim();
        break;
      }
      case 'rtcp-fb': {
        const [pt = '', type = '', ...rest] = value.split(' ');
        const codec = codecOf(current, Number(pt));
        if (codec) codec.rtcpFeedback.push({ type, parameter: rest.join(' ') });
        break;
      }
      case 'extmap': {
        const match = /^(\d+)(?:\/\w+)? (\S+)/.exec(value);
        if (match) current.extmaps.push({ id: Number(match[1]), uri: match[2]! });
        break;
      }
      case 'ssrc': {
        const match = /^(\d+) ([^:]+)(?::(.*))?$/.exec(value);
        if (!match) break;
        const ssrc = Number(match[1]);
        let entry = current.ssrcs.find((s) => s.ssrc === ssrc);
        if (!entry) {
          entry = { ssrc };
          current.ssrcs.push(entry);
        }
        if (match[2] === 'cname' && match[3]) entry.cname = match[3];
        break;
      }
      case 'ssrc-group': {
        const [semantics = '', ...ssrcs] = value.split(' ');
        current.ssrcGroups.push({ semantics, ssrcs: ssrcs.map(Number) });
        break;
      }
    }
  }
  return parsed;
}

// ------------------------------------------------------------------- fmtp ---

/** Parameters whose values look numeric but must stay strings for mediasoup. */
const STRING_PARAMETERS = new Set(['profile-level-id']);

/** "a=1;b=x" → { a: 1, b: 'x' } (numbers as numbers, like mediasoup-client). */
export function parseFmtp(fmtp: string): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const part of fmtp.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!key) continue;
    out[key] = !STRING_PARAMETERS.has(key) && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return out;
}

/** { a: 1, b: 'x' } → "a=1;b=x". */
export function formatFmtp(parameters: Record<string, unknown> | undefined): string {
  return Object.entries(parameters ?? {})
    .filter(([, v]) => v !== undefined && v !== null && v !== '')
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(';');
}

// ------------------------------------------------------------ shared SDP ---

/** mediasoup's mimeType "video/VP8" → SDP encoding name "VP8". */
const encodingName = (mimeType: string): string => mimeType.split('/')[1] ?? mimeType;

function pickFingerprints(dtls: ms.DtlsParameters): ms.DtlsFingerprint[] {
  // werift verifies any algorithm it knows; sha-256 is the one every stack has.
  const sha256 = dtls.fingerprints.filter((f) => f.algorithm === 'sha-256');
  return sha256.length > 0 ? sha256 : dtls.fingerprints;
}

/** ICE/DTLS transport lines shared by every m-section of the remote side. */
function transportLines(transport: RemoteTransportParams, setup: 'actpass' | 'passive'): string[] {
  const lines = [`a=ice-ufrag:${transport.iceParameters.usernameFragment}`, `a=ice-pwd:${transport.iceParameters.password}`];
  // UDP host candidates only: werift is configured without ICE-TCP.
  for (const c of transport.iceCandidates) {
    if (c.protocol !== 'udp') continue;
    lines.push(`a=candidate:${c.foundation} 1 udp ${c.priority} ${c.address} ${c.port} typ ${c.type}`);
  }
  lines.push('a=end-of-candidates');
  for (const f of pickFingerprints(transport.dtlsParameters)) lines.push(`a=fingerprint:${f.algorithm} ${f.value}`);
  lines.push(`a=setup:${setup}`, 'a=rtcp-mux', 'a=rtcp-rsize');
  return lines;
}

function sessionLines(sessionId: number, version: number, mids: string[]): string[] {
  return [
    'v=0',
    `o=floodlight-sfu ${sessionId} ${version} IN IP4 0.0.0.0`,
    's=-',
    't=0 0',
    'a=ice-lite',
    `a=group:BUNDLE ${mids.join(' ')}`,
    'a=msid-semantic:WMS *',
  ];
}

function firstUdpAddress(transport: RemoteTransportParams): string {
  return transport.iceCandidates.find((c) => c.protocol === 'udp')?.address ?? '127.0.0.1';
}

// ------------------------------------------------------------ receiving ---

export interface RecvSection {
  mid: string;
  kind: 'audio' | 'video';
  rtpParameters: ms.RtpParameters;
  /** msid stream/track ids (informational). */
  streamId: string;
  trackId: string;
}

/**
 * The SFU's offer for a recv transport carrying `sections` (mediasoup-client's
 * RemoteSdp.receive). m-sections are only ever appended. A closed consumer's
 * section is deliberately left unchanged (still sendonly, same SSRC; the SFU
 * simply stops sending) rather than marked inactive: werift 0.23 recycles any
 * transceiver whose currentDirection is 'inactive' for the next new m-line
 * (TransceiverManager.addTransceiver "reuse inactive"), which orphans the old
 * mid and makes createAnswer throw "Transceiver with mid=… not found".
 */
export function buildRecvOffer(transport: RemoteTransportParams, sections: RecvSection[], sessionId: number, version: number): string {
  const lines = sessionLines(
    sessionId,
    version,
    sections.map((s) => s.mid),
  );
  const address = firstUdpAddress(transport);
  for (const section of sections) {
    const { rtpParameters } = section;
    const pts = rtpParameters.codecs.map((c) => c.payloadType);
    lines.push(
      `m=${section.kind} 7 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`,
      `c=IN IP4 ${address}`,
      `a=mid:${section.mid}`,
      'a=sendonly',
      ...transportLines(transport, 'actpass'),
    );
    for (const codec of rtpParameters.codecs) {
      const channels = codec.channels && codec.channels > 1 ? `/${codec.channels}` : '';
      lines.push(`a=rtpmap:${codec.payloadType} ${encodingName(codec.mimeType)}/${codec.clockRate}${channels}`);
      const fmtp = formatFmtp(codec.parameters);
      if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
      for (const fb of codec.rtcpFeedback ?? []) {
        lines.push(`a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
      }
    }
    for (const ext of rtpParameters.headerExtensions ?? []) lines.push(`a=extmap:${ext.id} ${ext.uri}`);
    const cname = rtpParameters.rtcp?.cname ?? 'floodlight';
    lines.push(`a=msid:${section.streamId} ${section.trackId}`);
    const encoding = rtpParameters.encodings?.[0];
    if (encoding?.ssrc !== undefined) {
      lines.push(`a=ssrc:${encoding.ssrc} cname:${cname}`);
      if (encoding.rtx?.ssrc !== undefined) {
        lines.push(`a=ssrc:${encoding.rtx.ssrc} cname:${cname}`, `a=ssrc-group:FID ${encoding.ssrc} ${encoding.rtx.ssrc}`);
      }
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** Our DTLS parameters for connectTransport, from our local SDP (offer or answer). */
export function dtlsParametersFromSdp(parsed: ParsedSdp, role: 'client' | 'server'): ms.DtlsParameters {
  const fingerprints = parsed.fingerprints.length > 0 ? parsed.fingerprints : (parsed.media[0]?.fingerprints ?? []);
  if (fingerprints.length === 0) throw new Error('local SDP has no a=fingerprint');
  return {
    role,
    fingerprints: fingerprints.map((f) => ({ algorithm: f.algorithm as ms.FingerprintAlgorithm, value: f.value })),
  };
}

/** RTCP feedback the headless peers implement (werift handles NACK and PLI; no congestion control). */
const SUPPORTED_FEEDBACK = new Set(['nack', 'nack pli', 'ccm fir']);
const feedbackKey = (fb: { type: string; parameter?: string }): string => (fb.parameter ? `${fb.type} ${fb.parameter}` : fb.type);

/** Video codecs the viewer can take (it never decodes; it only parses keyframes of these). */
export const RECEIVABLE_VIDEO_CODECS = ['video/VP8', 'video/VP9', 'video/H264', 'video/AV1'];
export const RECEIVABLE_AUDIO_CODECS = ['audio/opus'];
const MID_URI = 'urn:ietf:params:rtp-hdrext:sdes:mid';

export interface RecvCapabilitiesOptions {
  /** Ask for RTX (retransmissions on their own SSRC). Default true, like browsers. */
  rtx?: boolean;
  /** Restrict video to these mimeTypes, in preference order (e.g. ['video/H264']). */
  videoCodecs?: string[];
}

/**
 * RTP capabilities the viewer sends with `consume`: the router's own entries,
 * filtered to what werift receives. Only the MID header extension is kept and
 * no transport-cc/REMB, so the SFU runs without congestion control towards us
 * (the point is to count what it forwards, not to emulate a browser's BWE).
 */
export function recvRtpCapabilities(router: ms.RtpCapabilities, options: RecvCapabilitiesOptions = {}): ms.RtpCapabilities {
  const wantRtx = options.rtx ?? true;
  const videoAllowed = (options.videoCodecs ?? RECEIVABLE_VIDEO_CODECS).map((m) => m.toLowerCase());
  const audioAllowed = RECEIVABLE_AUDIO_CODECS.map((m) => m.toLowerCase());
  const codecs = (router.codecs ?? [])
    .filter((c) => {
      const mime = c.mimeType.toLowerCase();
      if (mime.endsWith('/rtx')) return wantRtx && c.kind === 'video';
      return c.kind === 'audio' ? audioAllowed.includes(mime) : videoAllowed.includes(mime);
    })
    .map((c) => ({
      ...c,
      rtcpFeedback: (c.rtcpFeedback ?? []).filter((fb) => SUPPORTED_FEEDBACK.has(feedbackKey(fb))),
    }));
  // Keep the RTX entries whose media codec survived the filter.
  const keptPts = new Set(codecs.filter((c) => !c.mimeType.toLowerCase().endsWith('/rtx')).map((c) => c.preferredPayloadType));
  const finalCodecs = codecs.filter((c) => !c.mimeType.toLowerCase().endsWith('/rtx') || keptPts.has(Number(c.parameters?.['apt'])));
  // Honour the requested video preference order.
  finalCodecs.sort((a, b) => {
    if (a.kind !== 'video' || b.kind !== 'video') return 0;
    const rank = (c: ms.RtpCodecCapability): number => {
      const mime = c.mimeType.toLowerCase();
      return mime.endsWith('/rtx') ? 100 : videoAllowed.indexOf(mime);
    };
    return rank(a) - rank(b);
  });
  return {
    codecs: finalCodecs,
    headerExtensions: (router.headerExtensions ?? []).filter((h) => h.uri === MID_URI),
  };
}

// -------------------------------------------------------------- sending ---

export interface SendCodecChoice {
  /** The router codec this m-section sends (parameters are copied from it verbatim). */
  routerCodec: ms.RtpCodecCapability;
}

/**
 * The SFU's answer to our send offer: same mids and payload types, direction
 * recvonly, only header extensions the router knows, `a=setup:passive`.
 */
export function buildSendAnswer(
  transport: RemoteTransportParams,
  localOffer: ParsedSdp,
  router: ms.RtpCapabilities,
  sessionId: number,
  version: number,
): string {
  const mids = localOffer.media.map((m) => m.mid ?? '');
  const lines = sessionLines(sessionId, version, mids);
  const address = firstUdpAddress(transport);
  const routerUris = new Set<string>((router.headerExtensions ?? []).map((h) => h.uri));
  for (const section of localOffer.media) {
    const pts = section.codecs.map((c) => c.payloadType);
    lines.push(
      `m=${section.kind} 7 UDP/TLS/RTP/SAVPF ${pts.join(' ')}`,
      `c=IN IP4 ${address}`,
      `a=mid:${section.mid ?? ''}`,
      section.direction === 'inactive' ? 'a=inactive' : 'a=recvonly',
      ...transportLines(transport, 'passive'),
    );
    for (const codec of section.codecs) {
      lines.push(`a=rtpmap:${codec.payloadType} ${codec.name}/${codec.clockRate}${codec.channels ? `/${codec.channels}` : ''}`);
      if (codec.fmtp) lines.push(`a=fmtp:${codec.payloadType} ${codec.fmtp}`);
      for (const fb of codec.rtcpFeedback) {
        lines.push(`a=rtcp-fb:${codec.payloadType} ${fb.type}${fb.parameter ? ` ${fb.parameter}` : ''}`);
      }
    }
    for (const ext of section.extmaps) {
      if (routerUris.has(ext.uri)) lines.push(`a=extmap:${ext.id} ${ext.uri}`);
    }
  }
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * `produce` rtpParameters for one m-section of our (werift) offer. The codec's
 * payload type and SSRC come from the SDP; its parameters are the router's own
 * (so mediasoup's codec matching, e.g. H264 profile/packetization-mode, holds).
 */
export function sendRtpParameters(
  section: SdpMediaSection,
  routerCodec: ms.RtpCodecCapability,
  router: ms.RtpCapabilities,
  options: { maxBitrate?: number } = {},
): ms.RtpParameters {
  const codec = section.codecs.find((c) => `${section.kind}/${c.name}`.toLowerCase() === routerCodec.mimeType.toLowerCase());
  if (!codec) throw new Error(`m-section ${section.mid} does not offer ${routerCodec.mimeType}`);
  const ssrc = section.ssrcs[0]?.ssrc;
  if (ssrc === undefined) throw new Error(`m-section ${section.mid} has no a=ssrc`);
  const routerUris = new Set<string>((router.headerExtensions ?? []).filter((h) => h.kind === section.kind).map((h) => h.uri));
  return {
    ...(section.mid !== undefined ? { mid: section.mid } : {}),
    codecs: [
      {
        mimeType: routerCodec.mimeType,
        payloadType: codec.payloadType,
        clockRate: routerCodec.clockRate,
        ...(routerCodec.channels !== undefined ? { channels: routerCodec.channels } : {}),
        parameters: { ...(routerCodec.parameters ?? {}) },
        rtcpFeedback: codec.rtcpFeedback.map((fb) => ({ type: fb.type, ...(fb.parameter ? { parameter: fb.parameter } : {}) })),
      },
    ],
    headerExtensions: section.extmaps
      .filter((e) => routerUris.has(e.uri))
      .map((e) => ({ uri: e.uri as ms.RtpHeaderExtensionUri, id: e.id, encrypt: false, parameters: {} })),
    encodings: [{ ssrc, ...(options.maxBitrate ? { maxBitrate: options.maxBitrate } : {}) }],
    rtcp: { cname: section.ssrcs[0]?.cname ?? 'floodlight-headless', reducedSize: true },
  };
}

/** The RTCP feedback list a sending werift codec should declare for a router codec. */
export function sendFeedbackFor(routerCodec: ms.RtpCodecCapability): { type: string; parameter?: string }[] {
  return (routerCodec.rtcpFeedback ?? [])
    .filter((fb) => SUPPORTED_FEEDBACK.has(feedbackKey(fb)))
    .map((fb) => ({ type: fb.type, ...(fb.parameter ? { parameter: fb.parameter } : {}) }));
}
