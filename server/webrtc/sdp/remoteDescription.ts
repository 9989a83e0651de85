/**
 * What WHIP and WHEP both read from a peer's SDP before any media decision:
 * the shape (≤ 1 audio and ≤ 1 video m-line, DTLS-SRTP, rtcp-mux, a mid
 * each, all BUNDLEd on one transport), the peer's ICE credentials, DTLS
 * fingerprint and role. Anything unusable is refused with an SdpOfferError
 * whose status the routes answer (400 malformed, 422 unsupported), before
 * anything is allocated.
 */
import * as sdpTransform from 'sdp-transform';
import type { types as ms } from 'mediasoup';

export class SdpOfferError extends Error {
  constructor(
    /** 400: the SDP is malformed; 422: well-formed, but not media this server takes. */
    readonly status: 400 | 422,
    message: string,
  ) {
    super(message);
    this.name = 'SdpOfferError';
  }
}

export type MediaDescription = sdpTransform.MediaDescription;
export type SdpDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

/**
 * sdp-transform turns every value that reads as an integer into a number
 * ("a=mid:0" → 0, a lone payload type "96" → 96) whatever its types say:
 * values that are text by nature go through here.
 */
export const asText = (value: unknown): string => String(value);

const FINGERPRINT_ALGORITHMS = new Set(['sha-1', 'sha-224', 'sha-256', 'sha-384', 'sha-512']);

export interface RemoteDescription {
  session: sdpTransform.SessionDescription;
  media: MediaDescription[];
  /** Per m-line, in order. */
  mids: string[];
  /** a=group:LS (lip sync) when it names only this description's mids. */
  lipSync: string[] | undefined;
  remoteIce: { usernameFragment: string; password: string };
  /** For transport.connect(): the peer's fingerprint and DTLS role. */
  remoteDtls: ms.DtlsParameters;
  /** Ours: passive (the peer said actpass or active) or active (it said passive). */
  localSetup: 'passive' | 'active';
}

export interface ReadOptions {
  /** Directions an m-line may have, and who the peer is when it has another ("a WHIP client sends"). */
  directions: readonly SdpDirection[];
  peer: string;
  /** Which protocol's rule limits the tracks ("per WHIP session (RFC 9725)"). */
  trackRule: string;
}

/** Reads the session-level facts of a peer's SDP; throws SdpOfferError. */
export function readRemoteDescription(sdp: string, options: ReadOptions): RemoteDescription {
  if (!/^v=0\r?\n/.test(sdp)) throw new SdpOfferError(400, 'the body is not an SDP description (it must start with "v=0")');
  let session: sdpTransform.SessionDescription;
  try {
    session = sdpTransform.parse(sdp);
  } catch (error) {
    throw new SdpOfferError(400, `unreadable SDP: ${(error as Error).message}`);
  }
  const media = session.media;
  if (media.length === 0) throw new SdpOfferError(400, 'the description has no m= line');
  for (const kind of ['audio', 'video'] as const) {
    if (media.filter((m) => m.type === kind).length > 1) throw new SdpOfferError(422, `at most one ${kind} track ${options.trackRule}`);
  }
  const mids = media.map((m) => checkMediaLine(m, session, options));
  if (new Set(mids).size !== mids.length) throw new SdpOfferError(400, 'two m-lines have the same a=mid');
  const bundle = session.groups?.find((g) => g.type === 'BUNDLE')?.mids.split(' ') ?? [];
  if (media.length > 1 && !mids.every((mid) => bundle.includes(mid))) {
    throw new SdpOfferError(422, 'all m-lines must be BUNDLEd on one transport (bundlePolicy max-bundle)');
  }
  const ice = sameForAll(
    media.map((m) => ({ ufrag: m.iceUfrag ?? session.iceUfrag, pwd: m.icePwd ?? session.icePwd })),
    'ICE credentials',
  );
  if (!ice.ufrag || !ice.pwd) throw new SdpOfferError(400, 'the description has no a=ice-ufrag / a=ice-pwd');
  const fingerprint = media[0]!.fingerprint ?? session.fingerprint;
  if (!fingerprint) throw new SdpOfferError(400, 'the description has no a=fingerprint (DTLS-SRTP is required)');
  const algorithm = fingerprint.type.toLowerCase();
  if (!FINGERPRINT_ALGORITHMS.has(algorithm) || !/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})+$/.test(fingerprint.hash)) {
    throw new SdpOfferError(400, `unusable a=fingerprint "${fingerprint.type} ${fingerprint.hash.slice(0, 32)}"`);
  }
  const setup = media[0]!.setup ?? session.setup ?? 'actpass';
  if (!['actpass', 'active', 'passive'].includes(setup)) throw new SdpOfferError(400, `unknown a=setup:${setup}`);
  const lipSync = session.groups?.find((g) => g.type === 'LS')?.mids.split(' ');
  return {
    session,
    media,
    mids,
    lipSync: lipSync?.every((mid) => mids.includes(mid)) ? lipSync : undefined,
    remoteIce: { usernameFragment: ice.ufrag, password: ice.pwd },
    remoteDtls: {
      // The peer's role: it said passive, so we connect to it; otherwise it connects to us.
      role: setup === 'passive' ? 'server' : 'client',
      fingerprints: [{ algorithm: algorithm as ms.FingerprintAlgorithm, value: fingerprint.hash.toUpperCase() }],
    },
    localSetup: setup === 'passive' ? 'active' : 'passive',
  };
}

/** The m-line's direction (its own, else the session's, else sendrecv). */
export function directionOf(m: MediaDescription, session: sdpTransform.SessionDescription): SdpDirection {
  return m.direction ?? session.direction ?? 'sendrecv';
}

/** Refuses m-lines this server cannot carry; returns the mid. */
function checkMediaLine(m: MediaDescription, session: sdpTransform.SessionDescription, options: ReadOptions): string {
  if (m.type !== 'audio' && m.type !== 'video') throw new SdpOfferError(422, `unsupported m-line "${m.type}" (only one audio and one video track)`);
  // Port 0 disables an m-line, unless it is bundle-only (RFC 8843: GStreamer's max-bundle offers).
  if (m.port === 0 && m.bundleOnly === undefined) throw new SdpOfferError(422, `the ${m.type} m-line is disabled (port 0)`);
  if (!/\bSAVPF?\b/.test(m.protocol)) throw new SdpOfferError(422, `the ${m.type} m-line must use DTLS-SRTP (UDP/TLS/RTP/SAVPF), not ${m.protocol}`);
  const direction = directionOf(m, session);
  if (!options.directions.includes(direction)) throw new SdpOfferError(422, `the ${m.type} m-line is ${direction}: ${options.peer}`);
  const mid = m.mid === undefined ? '' : asText(m.mid);
  if (mid.length === 0 || mid.length > 32) throw new SdpOfferError(400, `the ${m.type} m-line needs an a=mid`);
  if (!m.rtcpMux) throw new SdpOfferError(422, `the ${m.type} m-line must use a=rtcp-mux`);
  return mid;
}

function sameForAll<T extends Record<string, unknown>>(values: T[], what: string): T {
  const first = values[0]!;
  for (const value of values) {
    if (Object.keys(first).some((k) => value[k] !== first[k])) throw new SdpOfferError(422, `all m-lines must share one transport (${what} differ)`);
  }
  return first;
}
