import type { ErrorCode } from '../contracts/signaling.js';

/** An error that is answered to the client as `{ ok: false, error: { code, message } }`. */
export class SignalingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}
