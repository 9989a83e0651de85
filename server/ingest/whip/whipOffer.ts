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
 * Anything this server cannot take is refused with a SdpOfferError whose
 * status the route answers (400 malformed, 422 unsupported), before anything
 * is allocated.
 *
 * The video codec is the client's first usable one, unless the room's other
 * slot already has an encoder: then it must be that encoder's codec
 * (programCodec.ts), or the offer is refused with 422 naming it.
 */
import { codecName, type RequiredVideoCodec } from '../programCodec.js';
import type { types as ms } from 'mediasoup';
import { asText, readRemoteDescription, SdpOfferError, type MediaDescription } from '../../webrtc/sdp/remoteDescription.js';
import {
  describeCapabilities,
  matchCapability,
  NOT_MEDIA_CODECS,
  offeredCodecs,
  offeredExtensions,
  withoutParameters,
  type AcceptedCodec,
  type OfferedCodec,
} from '../../webrtc/sdp/offeredCodecs.js';

export const MID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:mid';
export const RID_EXTENSION = 'urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id';

/** Simulcast layers one video m-line may carry. */
export const MAX_SIMULCAST_LAYERS = 4;

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

/** Reads `sdp` against the router's capabilities (and the codec the program needs, if any); throws SdpOfferError. */
export function planWhipOffer(sdp: string, capabilities: ms.RtpCapabilities, requiredVideo?: RequiredVideoCodec): WhipOfferPlan {
  const remote = readRemoteDescription(sdp, { directions: ['sendonly', 'sendrecv'], peer: 'a WHIP client sends', trackRule: 'per WHIP session (RFC 9725)' });
  return {
    media: remote.media.map((m) => planMedia(m, capabilities, m.type === 'video' ? requiredVideo : undefined)),
    lipSync: remote.lipSync,
    remoteIce: remote.remoteIce,
    remoteDtls: remote.remoteDtls,
    localSetup: remote.localSetup,
  };
}

function planMedia(m: MediaDescription, capabilities: ms.RtpCapabilities, required: RequiredVideoCodec | undefined): WhipMediaPlan {
  const kind = m.type as ms.MediaKind;
  const mid = asText(m.mid);
  const offered = offeredCodecs(m);
  let chosen: { offered: OfferedCodec; cap: ms.RtpCodecCapability } | undefined;
  for (const codec of offered) {
    if (NOT_MEDIA_CODECS.has(codec.name.toLowerCase())) continue;
    const cap = matchCapability(kind, codec, capabilities);
    if (cap && (!required || cap.mimeType.toLowerCase() === required.mimeType.toLowerCase())) {
      chosen = { offered: codec, cap };
      break;
    }
  }
  const names = (): string => [...new Set(offered.map((c) => c.name))].join(', ') || 'none';
  if (!chosen && required && offered.some((c) => !NOT_MEDIA_CODECS.has(c.name.toLowerCase()) && matchCapability(kind, c, capabilities))) {
    const media = [...new Set(offered.filter((c) => !NOT_MEDIA_CODECS.has(c.name.toLowerCase())).map((c) => c.name))].join(', ');
    throw new SdpOfferError(
      422,
      `the room's video is ${codecName(required.mimeType)}, from ${required.from}; this encoder offers ${media}: send ${codecName(required.mimeType)} so that viewers can be switched between the two`,
    );
  }
  if (!chosen) {
    throw new SdpOfferError(422, `no usable ${kind} codec: offered ${names()}; this server takes ${describeCapabilities(kind, capabilities)}`);
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
  const extensions = offeredExtensions(m).filter((e) => (capabilities.headerExtensions ?? []).some((h) => h.kind === kind && h.uri === e.uri));
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
    throw new SdpOfferError(422, `the ${kind} m-line declares no a=ssrc, no RIDs and no MID header extension: its packets could not be told apart`);
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
  if (kind !== 'video') throw new SdpOfferError(422, 'simulcast is for video only');
  if (!declared.every((rid) => /^[A-Za-z0-9_-]{1,16}$/.test(rid))) throw new SdpOfferError(400, 'invalid a=rid id');
  const simulcast = m.simulcast;
  const list = simulcast ? (simulcast.dir1 === 'send' ? simulcast.list1 : simulcast.dir2 === 'send' ? simulcast.list2 : undefined) : undefined;
  // "h;m;l", alternatives "h,x", paused "~h": the first alternative of each layer.
  const ordered = list
    ? asText(list)
        .split(';')
        .map((layer) => layer.split(',')[0]!.replace(/^~/, ''))
    : declared;
  const rids = ordered.filter((rid) => declared.includes(rid));
  if (rids.length > MAX_SIMULCAST_LAYERS) throw new SdpOfferError(422, `at most ${MAX_SIMULCAST_LAYERS} simulcast layers`);
  if (!extensions.some((e) => e.uri === RID_EXTENSION) || !extensions.some((e) => e.uri === MID_EXTENSION)) {
    throw new SdpOfferError(422, 'a simulcast offer needs the MID and RID (rtp-stream-id) header extensions');
  }
  return rids;
}

/** Encodings from a=ssrc (with FID for RTX, SIM for legacy simulcast) and the CNAME. */
function ssrcLayout(m: MediaDescription): { encodings: { ssrc: number; rtx: number | undefined }[]; cname: string | undefined } {
  const toSsrc = (value: string | number): number => {
    const ssrc = Number(value);
    if (!Number.isInteger(ssrc) || ssrc < 0 || ssrc > 0xffff_ffff) throw new SdpOfferError(400, `invalid SSRC "${value}"`);
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
  if (primaries.length > MAX_SIMULCAST_LAYERS) throw new SdpOfferError(422, `at most ${MAX_SIMULCAST_LAYERS} simulcast layers`);
  return { encodings: primaries.map((ssrc) => ({ ssrc, rtx: rtxOf.get(ssrc) })), cname };
}
