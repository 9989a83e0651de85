/**
 * A WHIP offer, read into what mediasoup needs: per m-line the producer's
 * rtpParameters (codec matched against the router's capabilities, payload
 * types, SSRCs from `a=ssrc` / `a=ssrc-group:FID|SIM`, simulcast RIDs, MID and
 * RID header extension ids) and what the answer must echo; and the client's
 * ICE and DTLS parameters for the transport.
 *
 * Clients differ (see test/fixtures/whip/): Chromium sends the MID extension
 * and `a=ssrc`; OBS (libdatachannel) sends `a=ssrc` but no MID extension, so
 * mediasoup must demux by SSRC; simulcast senders send RIDs without SSRCs.
 * Anything this server cannot take is refused with a WhipOfferError whose
 * status the route answers (400 malformed, 422 unsupported), before anything
 * is allocated.
 */
import * as sdpTransform from 'sdp-transform';
import type { types as ms } from 'mediasoup';
import { h264Profile } from './h264Profile.js';

export class WhipOfferError extends Error {
  constructor(
    /** 400: the SDP is malformed; 422: well-formed, but not media this server takes. */
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'WhipOfferError';
  }
}

export const MID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:mid';
export const RID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';

/** Simulcast layers one video m-line may carry. */
export const MAX_SIMULCAST_LAYERS = 4;

/** A codec the answer accepts, as its rtpmap/fmtp/rtcp-fb lines say it. */
export interface AcceptedCodec {
  payloadType: number;
  /** As in a=rtpmap: "opus", "H264", "rtx". */
  name: string;
  clockRate: number;
  channels: number | undefined;
  /** The offer's a=fmtp value, echoed. */
  fmtp: string | undefined;
  feedback: { type: string; parameter: string }[];
}

export interface WhipMediaPlan {
  kind: ms.MediaKind;
  mid: string;
  /** The media codec, then its RTX if any. */
  codecs: AcceptedCodec[];
  extensions: { id: number; uri: string }[];
  /** Simulcast RIDs the answer receives (empty without simulcast). */
  rids: string[];
  reducedSize: boolean;
  rtpParameters: ms.RtpParameters;
}

export interface WhipOfferPlan {
  media: WhipMediaPlan[];
  /** a=group:LS of the offer (lip sync), echoed. */
  lipSync: string[] | undefined;
  remoteIce: { usernameFragment: string; password: string };
  /** For transport.connect(): the client's fingerprints and DTLS role. */
  remoteDtls: ms.DtlsParameters;
  /** Ours: passive (the client offered actpass or active) or active (it offered passive). */
  localSetup: 'passive' | 'active';
}

type MediaDescription = sdpTransform.MediaDescription;

/**
 * sdp-transform turns every value that reads as an integer into a number
 * ("a=mid:0" → 0, a lone payload type "96" → 96) whatever its types say:
 * values that are text by nature go through here.
 */
const asText = (value: unknown): string => String(value);

const NOT_MEDIA_CODECS = new Set(['rtx', 'red', 'ulpfec', 'flexfec-03', 'cn', 'telephone-event']);
const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

/** Reads `sdp` against the router's capabilities; throws WhipOfferError. */
export function planWhipOffer(sdp: string, capabilities: ms.RtpCapabilities): WhipOfferPlan {
  if (!/^v=0\r?\n/.test(sdp)) throw new WhipOfferError(400, 'the body is not an SDP offer (it must start with "v=0")');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch (error) {
    throw new WhipOfferError(400, `unreadable SDP: ${(error as Error).message}`);
  }
  const media = session.media;
  if (media.length === 0) throw new WhipOfferError(400, 'the offer has no m= line');
  for (const kind of ['audio', 'video'] as const) {
    if (media.filter((m) => m.type === kind).length > 1) throw new WhipOfferError(422, `at most one ${kind} track per WHIP session (RFC 9725)`);
  }
  const mids = media.map((m) => checkMediaLine(m, session));
  if (new Set(mids).size !== mids.length) throw new WhipOfferError(400, 'two m-lines have the same a=mid');
  const bundle = session.groups?.find((g) => g.type === 'BUNDLE')?.mids.split(' ') ?? [];
  if (media.length > 1 && !mids.every((mid) => bundle.includes(mid))) {
    throw new WhipOfferError(422, 'the offer must BUNDLE all its m-lines on one transport (bundlePolicy max-bundle)');
  }
  const ice = sameForAll(
    media.map((m) => ({ ufrag: m.iceUfrag ?? session.iceUfrag, pwd: m.icePwd ?? session.icePwd })),
    'ICE credentials',
  );
  if (!ice.ufrag || !ice.pwd) throw new WhipOfferError(400, 'the offer has no a=ice-ufrag / a=ice-pwd');
  const fingerprint = media[0]!.fingerprint ?? session.fingerprint;
  if (!fingerprint) throw new WhipOfferError(400, 'the offer has no a=fingerprint (DTLS-SRTP is required)');
  const algorithm = fingerprint.type.toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.has(algorithm) || !/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(fingerprint.hash)) {
    throw new WhipOfferError(400, `unusable a=fingerprint "${fingerprint.type} ${fingerprint.hash.slice(0, 32)}"`);
  }
  const setup = media[0]!.setup ?? session.setup ?? 'actpass';
  if (!['actpass', 'active', 'passive'].includes(setup)) throw new WhipOfferError(400, `unknown a=setup:${setup}`);
  const lipSync = session.groups?.find((g) => g.type === 'LS')?.mids.split(' ');
  return {
    media: media.map((m) => planMedia(m, capabilities)),
    lipSync: lipSync?.every((mid) => mids.includes(mid)) ? lipSync : undefined,
    remoteIce: { usernameFragment: ice.ufrag, password: ice.pwd },
    remoteDtls: {
      // The client's role: it offered passive, so we connect to it; otherwise it connects to us.
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [{ algorithm: algorithm as ms.FingerprintAlgorithm, value: fingerprint.hash.toUpperCase() }],
    },
    localSetup: setup === 'passive' ? 'active' : 'passive',
  };
}

/** Refuses m-lines WHIP cannot carry here; returns the mid. */
function checkMediaLine(m: MediaDescription, session: sdpTransform.SessionDescription): string {
  if (m.type !== 'audio' && m.type !== 'video') throw new WhipOfferError(422, `unsupported m-line "${m.type}" (only one audio and one video track)`);
  // Port 0 disables an m-line, unless it is bundle-only (RFC 8843: GStreamer's max-bundle offers).
  if (m.port === 0 && m.bundleOnly === undefined) throw new WhipOfferError(422, `the ${m.type} m-line is disabled (port 0)`);
  if (!/\bSAVPF?\b/.test(m.protocol)) throw new WhipOfferError(422, `the ${m.type} m-line must use DTLS-SRTP (UDP/TLS/RTP/SAVPF), not ${m.protocol}`);
  const direction = m.direction ?? session.direction ?? 'sendrecv';
  if (direction !== 'sendonly' && direction !== 'sendrecv') throw new WhipOfferError(422, `the ${m.type} m-line is ${direction}: a WHIP client sends`);
  const mid = m.mid === undefined ? '' : asText(m.mid);
  if (mid.length === 0 || mid.length > 32) throw new WhipOfferError(400, `the ${m.type} m-line needs an a=mid`);
  if (!m.rtcpMux) throw new WhipOfferError(422, `the ${m.type} m-line must use a=rtcp-mux`);
  return mid;
}

function sameForAll<T extends Record<string, unknown>>(values: T[], what: string): T {
  const first = values[0]!;
  for (const value of values) {
    if (Object.keys(first).some((k) => value[k] !== first[k])) throw new WhipOfferError(422, `all m-lines must share one transport (${what} differ)`);
  }
  return first;
}

interface OfferedCodec extends AcceptedCodec {
  parameters: Record<string, string | number>;
}

function offeredCodecs(m: MediaDescription): OfferedCodec[] {
  const payloads = asText(m.payloads ?? '')
    .split(' ')
    .filter((p) => p !== '');
  return payloads.flatMap((text): OfferedCodec[] => {
    const payloadType = Number(text);
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) throw new WhipOfferError(400, `invalid payload type "${text}"`);
    const rtp = m.rtp.find((r) => r.payload === payloadType);
    // Static payload types without a=rtpmap are nothing WebRTC sends.
    if (!rtp) return [];
    const fmtp = m.fmtp.find((f) => f.payload === payloadType)?.config;
    const feedback = (m.rtcpFb ?? [])
      .filter((fb) => Number(fb.payload) === payloadType || asText(fb.payload) === '*')
      .map((fb) => ({ type: fb.type, parameter: fb.subtype ?? '' }));
    const channels = rtp.encoding;
    return [
      {
        payloadType,
        name: rtp.codec,
        clockRate: rtp.rate ?? 0,
        channels,
        fmtp,
        feedback,
        parameters: fmtp ? definedParams(sdpTransform.parseParams(fmtp)) : {},
      },
    ];
  });
}

function definedParams(params: sdpTransform.ParamMap): Record<string, string | number> {
  return Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string | number] => entry[1] !== undefined));
}

/** The router codec an offered codec is, or undefined. */
function matchCapability(kind: ms.MediaKind, offered: OfferedCodec, capabilities: ms.RtpCapabilities): ms.RtpCodecCapability | undefined {
  const mimeType = `${kind}/${offered.name}`.toLowerCase();
  return (capabilities.codecs ?? []).find((cap) => {
    if (cap.kind !== kind || cap.mimeType.toLowerCase() !== mimeType || cap.clockRate !== offered.clockRate) return false;
    if (kind === 'audio' && (cap.channels ?? 1) !== (offered.channels ?? 1)) return false;
    const capParams: Record<string, unknown> | undefined = cap.parameters;
    if (mimeType === 'video/h264') {
      if (Number(offered.parameters['packetization-mode'] ?? 0) !== Number(capParams?.['packetization-mode'] ?? 0)) return false;
      const profile = h264Profile(offered.parameters['profile-level-id']);
      return profile !== undefined && profile === h264Profile(capParams?.['profile-level-id'] as string | number | undefined);
    }
    if (mimeType === 'video/vp9') return Number(offered.parameters['profile-id'] ?? 0) === Number(capParams?.['profile-id'] ?? 0);
    return true;
  });
}

function describeCapabilities(kind: ms.MediaKind, capabilities: ms.RtpCapabilities): string {
  return (capabilities.codecs ?? [])
    .filter((c) => c.kind === kind && !c.mimeType.endsWith('/rtx'))
    .map((c) => {
      const params: Record<string, unknown> | undefined = c.parameters;
      return c.mimeType.endsWith('/H264')
        ? `H264 (profile-level-id ${String(params?.['profile-level-id'])}, packetization-mode ${String(params?.['packetization-mode'])})`
        : c.mimeType.split('/')[1];
    })
    .join(', ');
}

function planMedia(m: MediaDescription, capabilities: ms.RtpCapabilities): WhipMediaPlan {
  const kind = m.type as ms.MediaKind;
  const mid = asText(m.mid);
  const offered = offeredCodecs(m);
  let chosen: { offered: OfferedCodec; cap: ms.RtpCodecCapability } | undefined;
  for (const codec of offered) {
    if (NOT_MEDIA_CODECS.has(codec.name.toLowerCase())) continue;
    const cap = matchCapability(kind, codec, capabilities);
    if (cap) {
      chosen = { offered: codec, cap };
      break;
    }
  }
  if (!chosen) {
    const names = [...new Set(offered.map((c) => c.name))].join(', ') || 'none';
    throw new WhipOfferError(422, `no usable ${kind} codec: offered ${names}; this server takes ${describeCapabilities(kind, capabilities)}`);
  }
  const supportsFeedback = (fb: { type: string; parameter: string }): boolean =>
    (chosen.cap.rtcpFeedback ?? []).some((c) => c.type === fb.type && (c.parameter ?? '') === fb.parameter);
  const media: AcceptedCodec = { ...withoutParameters(chosen.offered), feedback: chosen.offered.feedback.filter(supportsFeedback) };
  const routerHasRtx = (capabilities.codecs ?? []).some((c) => c.kind === kind && c.mimeType.toLowerCase() === `${kind}/rtx`);
  const rtx = routerHasRtx
    ? offered.find(
        (c) => c.name.toLowerCase() === 'rtx' && Number(c.parameters['apt']) === chosen.offered.payloadType && c.clockRate === chosen.offered.clockRate,
      )
    : undefined;
  const extensions = (m.ext ?? [])
    .filter((e) => e['encrypt-uri'] === undefined)
    .map((e) => {
      if (!Number.isInteger(e.value) || e.value < 1 || e.value > 255) throw new WhipOfferError(400, `invalid a=extmap id ${e.value}`);
      return { id: e.value, uri: e.uri };
    })
    .filter((e) => (capabilities.headerExtensions ?? []).some((h) => h.kind === kind && h.uri === e.uri));
  const rids = simulcastRids(m, kind, extensions);
  const mimeType = chosen.cap.mimeType;
  const codecs: ms.RtpCodecParameters[] = [
    {
      mimeType,
      payloadType: media.payloadType,
      clockRate: media.clockRate,
      ...(kind === 'audio' ? { channels: media.channels ?? 1 } : {}),
      parameters: normalizeParameters(chosen.offered.parameters),
      rtcpFeedback: media.feedback,
    },
  ];
  if (rtx)
    codecs.push({ mimeType: `${kind}/rtx`, payloadType: rtx.payloadType, clockRate: rtx.clockRate, parameters: { apt: media.payloadType }, rtcpFeedback: [] });
  const ssrcs = ssrcLayout(m);
  const hasMidExtension = extensions.some((e) => e.uri === MID_EXTENSION);
  if (rids.length === 0 && ssrcs.encodings.length === 0 && !hasMidExtension) {
    throw new WhipOfferError(422, `the ${kind} m-line declares no a=ssrc, no RIDs and no MID header extension: its packets could not be told apart`);
  }
  const encodings: ms.RtpEncodingParameters[] =
    rids.length > 0
      ? rids.map((rid) => ({ rid }))
      : ssrcs.encodings.length > 0
        ? ssrcs.encodings.map((e) => (rtx && e.rtx !== undefined ? { ssrc: e.ssrc, rtx: { ssrc: e.rtx } } : { ssrc: e.ssrc }))
        : [{}];
  const acceptedCodecs = rtx ? [media, { ...withoutParameters(rtx), feedback: [] }] : [media];
  return {
    kind,
    mid,
    codecs: acceptedCodecs,
    extensions,
    rids,
    reducedSize: m.rtcpRsize !== undefined,
    rtpParameters: {
      mid,
      codecs,
      headerExtensions: extensions.map((e) => ({ uri: e.uri as ms.RtpHeaderExtensionUri, id: e.id })),
      encodings,
      rtcp: { cname: ssrcs.cname, reducedSize: m.rtcpRsize !== undefined },
    },
  };
}

function withoutParameters(codec: OfferedCodec): AcceptedCodec {
  const { parameters: _parameters, ...accepted } = codec;
  return accepted;
}

/** fmtp parameters as mediasoup expects them; profile-level-id stays a string. */
function normalizeParameters(parameters: Record<string, string | number>): Record<string, string | number> {
  const result = { ...parameters };
  const id = result['profile-level-id'];
  if (typeof id === 'number') result['profile-level-id'] = String(id).padStart(6, '0');
  return result;
}

/** The send RIDs, in the order of a=simulcast (or of a=rid without it). */
function simulcastRids(m: MediaDescription, kind: ms.MediaKind, extensions: { uri: string }[]): string[] {
  const declared = (m.rids ?? []).filter((r) => r.direction === 'send').map((r) => asText(r.id));
  if (declared.length === 0) return [];
  if (kind !== 'video') throw new WhipOfferError(422, 'simulcast is for video only');
  if (!declared.every((rid) => /^[A-Za-z0-9_-]{1,16}$/.test(rid))) throw new WhipOfferError(400, 'invalid a=rid id');
  const simulcast = m.simulcast;
  const list = simulcast ? (simulcast.dir1 === 'send' ? simulcast.list1 : simulcast.dir2 === 'send' ? simulcast.list2 : undefined) : undefined;
  // "h;m;l", alternatives "h,x", paused "~h": the first alternative of each layer.
  const ordered = list
    ? asText(list)
        .split(';')
        .map((layer) => layer.split(',')[0]!.replace(/^~/, ''))
    : declared;
  const rids = ordered.filter((rid) => declared.includes(rid));
  if (rids.length > MAX_SIMULCAST_LAYERS) throw new WhipOfferError(422, `at most ${MAX_SIMULCAST_LAYERS} simulcast layers`);
  if (!extensions.some((e) => e.uri === RID_EXTENSION) || !extensions.some((e) => e.uri === MID_EXTENSION)) {
    throw new WhipOfferError(422, 'a simulcast offer needs the MID and RID (rtp-stream-id) header extensions');
  }
  return rids;
}

/** Encodings from a=ssrc (with FID for RTX, SIM for legacy simulcast) and the CNAME. */
function ssrcLayout(m: MediaDescription): { encodings: { ssrc: number; rtx: number | undefined }[]; cname: string | undefined } {
  const toSsrc = (value: string | number): number => {
    const ssrc = Number(value);
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffff_ffff) throw new WhipOfferError(400, `invalid SSRC "${value}"`);
    return ssrc;
  };
  const lines = m.ssrcs ?? [];
  const all = [...new Set(lines.map((s) => toSsrc(s.id)))];
  const cname = lines.find((s) => s.attribute === 'cname')?.value;
  const groups = (m.ssrcGroups ?? []).map((g) => ({ semantics: g.semantics, ssrcs: g.ssrcs.split(' ').map(toSsrc) }));
  const rtxOf = new Map<number, number>();
  for (const group of groups.filter((g) => g.semantics === 'FID')) {
    if (group.ssrcs.length === 2) rtxOf.set(group.ssrcs[0]!, group.ssrcs[1]!);
  }
  const rtxSsrcs = new Set(rtxOf.values());
  const sim = groups.find((g) => g.semantics === 'SIM');
  const primaries = sim ? sim.ssrcs : all.filter((ssrc) => !rtxSsrcs.has(ssrc)).slice(0, 1);
  if (primaries.length > MAX_SIMULCAST_LAYERS) throw new WhipOfferError(422, `at most ${MAX_SIMULCAST_LAYERS} simulcast layers`);
  return { encodings: primaries.map((ssrc) => ({ ssrc, rtx: rtxOf.get(ssrc) })), cname };
}
