/**
 * A WHEP player's offer (recvonly, ≤ 1 audio and ≤ 1 video m-line), read
 * into what consuming the room's program needs: per m-line the RTP
 * capabilities to consume with, and whether the consumer mediasoup makes can
 * be answered as the player offered it.
 *
 * A mediasoup Consumer always uses the router's payload types and header
 * extension ids (mediasoup#1126), and its MID is the transport's next number.
 * When the player offered other numbers (or other mids), this server cannot
 * answer its offer; it sends its own counter-offer instead (406), which the
 * player answers with a PATCH (draft-ietf-wish-whep).
 */
import type { types as ms } from 'mediasoup';
import { asText, readRemoteDescription, SdpOfferError, type MediaDescription, type RemoteDescription } from '../../webrtc/sdp/remoteDescription.js';
import { matchCapability, NOT_MEDIA_CODECS, offeredCodecs, offeredExtensions, type OfferedCodec } from '../../webrtc/sdp/offeredCodecs.js';

export interface WhepMediaOffer {
  kind: ms.MediaKind;
  mid: string;
  codecs: OfferedCodec[];
  extensions: { id: number; uri: string }[];
}

export interface WhepOfferPlan {
  remote: RemoteDescription;
  media: WhepMediaOffer[];
}

export const WHEP_READ_OPTIONS = { directions: ['recvonly'], peer: 'a WHEP player receives (recvonly)', trackRule: 'per WHEP session' } as const;

/** Reads the player's offer; throws SdpOfferError (400 malformed, 422 unsupported). */
export function planWhepOffer(sdp: string): WhepOfferPlan {
  const remote = readRemoteDescription(sdp, WHEP_READ_OPTIONS);
  return { remote, media: remote.media.map((m, index) => readMedia(m, remote.mids[index]!)) };
}

function readMedia(m: MediaDescription, mid: string): WhepMediaOffer {
  const codecs = offeredCodecs(m);
  if (!codecs.some((c) => !NOT_MEDIA_CODECS.has(c.name.toLowerCase()))) throw new SdpOfferError(422, `the ${m.type} m-line offers no media codec`);
  return { kind: m.type as ms.MediaKind, mid: asText(mid), codecs, extensions: offeredExtensions(m) };
}

/**
 * The capabilities to consume with: the router's codecs the player offered
 * (with RTX when it offered RTX) and the router's header extensions whose
 * URI it offered, all with the router's numbers (the only ones mediasoup uses).
 */
export function consumeCapabilities(media: WhepMediaOffer, router: ms.RtpCapabilities): ms.RtpCapabilities {
  const matched = media.codecs
    .filter((c) => !NOT_MEDIA_CODECS.has(c.name.toLowerCase()))
    .map((c) => matchCapability(media.kind, c, router))
    .filter((cap): cap is ms.RtpCodecCapability => cap !== undefined);
  const wantsRtx = media.codecs.some((c) => c.name.toLowerCase() === 'rtx');
  const rtx = wantsRtx
    ? (router.codecs ?? []).filter(
        (c) => c.kind === media.kind && c.mimeType.toLowerCase().endsWith('/rtx') && matched.some((m) => m.preferredPayloadType === c.parameters?.['apt']),
      )
    : [];
  const offeredUris = new Set(media.extensions.map((e) => e.uri));
  return {
    codecs: [...new Set(matched)].concat(rtx),
    headerExtensions: (router.headerExtensions ?? []).filter((h) => h.kind === media.kind && offeredUris.has(h.uri)),
  };
}

/**
 * Whether an answer to the player's own offer can describe this consumer:
 * its mid, every payload type (the media codec, and RTX bound to it) and
 * every header extension id must be the numbers the player offered.
 */
export function honours(media: WhepMediaOffer, consumer: ms.RtpParameters): boolean {
  if (consumer.mid !== media.mid) return false;
  const offeredPt = (codec: ms.RtpCodecParameters): OfferedCodec | undefined =>
    media.codecs.find((c) => c.payloadType === codec.payloadType && `${media.kind}/${c.name}`.toLowerCase() === codec.mimeType.toLowerCase());
  const codecsMatch = consumer.codecs.every((codec) => {
    const offered = offeredPt(codec);
    if (!offered) return false;
    // RTX must repair the media payload type the player expects it for.
    return !codec.mimeType.toLowerCase().endsWith('/rtx') || Number(offered.parameters['apt']) === codec.parameters?.['apt'];
  });
  const extensionsMatch = (consumer.headerExtensions ?? []).every((ext) => media.extensions.some((e) => e.uri === ext.uri && e.id === ext.id));
  return codecsMatch && extensionsMatch;
}
