/**
 * The codecs of one m-line as the peer wrote them (rtpmap, fmtp, rtcp-fb),
 * and how they match the router's capabilities: what WHIP produces and what
 * WHEP consumes must be a codec the router knows, compared the way libwebrtc
 * compares them (H.264 by packetization-mode and profile, VP9 by profile-id).
 */
import * as sdpTransform from 'sdp-transform';
import type { types as ms } from 'mediasoup';
import { h264Profile } from './h264Profile.js';
import { asText, SdpOfferError, type MediaDescription } from './remoteDescription.js';

/** A codec as its rtpmap/fmtp/rtcp-fb lines say it (what an answer echoes). */
export interface AcceptedCodec {
  payloadType: number;
  /** As in a=rtpmap: "opus", "H264", "rtx". */
  name: string;
  clockRate: number;
  channels: number | undefined;
  /** The a=fmtp value, echoed. */
  fmtp: string | undefined;
  feedback: { type: string; parameter: string }[];
}

export interface OfferedCodec extends AcceptedCodec {
  parameters: Record<string, string | number>;
}

/** Codecs that carry no media of their own (repair, comfort noise, DTMF). */
export const NOT_MEDIA_CODECS = new Set(['rtx', 'red', 'ulpfec', 'flexfec-03', 'cn', 'telephone-event']);

export function offeredCodecs(m: MediaDescription): OfferedCodec[] {
  const payloads = asText(m.payloads ?? '')
    .split(' ')
    .filter((p) => p !== '');
  return payloads.flatMap((text): OfferedCodec[] => {
    const payloadType = Number(text);
    if (!Number.isInteger(payloadType) || payloadType < 0 || payloadType > 127) throw new SdpOfferError(400, `invalid payload type "${text}"`);
    const rtp = m.rtp.find((r) => r.payload === payloadType);
    // Static payload types without a=rtpmap are nothing WebRTC sends.
    if (!rtp) return [];
    const fmtp = m.fmtp.find((f) => f.payload === payloadType)?.config;
    const feedback = (m.rtcpFb ?? [])
      .filter((fb) => Number(fb.payload) === payloadType || asText(fb.payload) === '*')
      .map((fb) => ({ type: fb.type, parameter: fb.subtype ?? '' }));
    return [
      {
        payloadType,
        name: rtp.codec,
        clockRate: rtp.rate ?? 0,
        channels: rtp.encoding,
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
export function matchCapability(kind: ms.MediaKind, offered: OfferedCodec, capabilities: ms.RtpCapabilities): ms.RtpCodecCapability | undefined {
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

/** "opus", "VP8, H264 (profile-level-id …)": what the router takes, for error details. */
export function describeCapabilities(kind: ms.MediaKind, capabilities: ms.RtpCapabilities): string {
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

export function withoutParameters(codec: OfferedCodec): AcceptedCodec {
  const { parameters: _parameters, ...accepted } = codec;
  return accepted;
}

/** The m-line's a=extmap entries (encrypted ones are not used); throws on an invalid id. */
export function offeredExtensions(m: MediaDescription): { id: number; uri: string }[] {
  return (m.ext ?? [])
    .filter((e) => e['encrypt-uri'] === undefined)
    .map((e) => {
      if (!Number.isInteger(e.value) || e.value < 1 || e.value > 255) throw new SdpOfferError(400, `invalid a=extmap id ${e.value}`);
      return { id: e.value, uri: e.uri };
    });
}
