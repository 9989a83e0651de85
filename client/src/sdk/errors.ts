import type { ErrorCode } from '../../../server/contracts/signaling.js';

/** Codes produced by the SDK itself, on top of the server's ErrorCode list. */
export type ClientErrorCode =
  | 'TIMEOUT' // the server did not acknowledge a request in time
  | 'DISCONNECTED' // the socket is not connected (or dropped mid-request)
  | 'CLOSED' // the SDK object was closed or stopped by the user
  | 'KICKED' // another connection took over this publisher seat
  | 'ROOM_CLOSED' // the server closed the room
  | 'CONNECT_REFUSED' // the socket.io handshake was refused by the server
  | 'UNSUPPORTED' // this browser cannot do WebRTC with mediasoup
  | 'CODEC_UNSUPPORTED' // the requested video codec is not available
  | 'NO_MEDIA' // publish() got a stream without live tracks
  | 'BAD_RESPONSE'; // the server answered with something off-contract

export type FloodlightErrorCode = ErrorCode | ClientErrorCode;

/** Every error the SDK raises or emits carries a machine-readable code. */
export class FloodlightError extends Error {
  override readonly name: string = 'FloodlightError';
  constructor(
    readonly code: FloodlightErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A failed signaling request: `code` is the server's code or a transport-level one. */
export class SignalingError extends FloodlightError {
  override readonly name = 'SignalingError';
  constructor(
    code: FloodlightErrorCode,
    message: string,
    /** The request that failed, e.g. 'join'. */
    readonly request: string,
  ) {
    super(code, message);
  }
}

/**
 * Errors that retrying cannot fix: the user (or the server's policy) must act.
 * Everything else (UNAVAILABLE, TIMEOUT, NOT_JOINED, …) is retried with backoff.
 */
const FATAL_CODES: ReadonlySet<FloodlightErrorCode> = new Set<FloodlightErrorCode>([
  'UNAUTHORIZED',
  'TOKEN_INVALID',
  'TOKEN_EXPIRED',
  'TOKEN_WRONG_ROOM',
  'FORBIDDEN',
  'ROOM_FULL',
  'BAD_REQUEST',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_MESSAGE',
  'CLOSED',
  'KICKED',
  'ROOM_CLOSED',
  'CONNECT_REFUSED',
  'UNSUPPORTED',
  'CODEC_UNSUPPORTED',
  'NO_MEDIA',
]);

export function isFatal(error: FloodlightError): boolean {
  return FATAL_CODES.has(error.code);
}

/** Normalise anything thrown (mediasoup-client errors, DOMExceptions…) to a FloodlightError. */
export function toFloodlightError(error: unknown, fallbackCode: FloodlightErrorCode = 'INTERNAL'): FloodlightError {
  if (error instanceof FloodlightError) return error;
  if (error instanceof Error) {
    // mediasoup-client throws UnsupportedError for browsers/kinds it cannot handle.
    const code = error.name === 'UnsupportedError' ? 'UNSUPPORTED' : fallbackCode;
    return new FloodlightError(code, error.message);
  }
  return new FloodlightError(fallbackCode, String(error));
}
