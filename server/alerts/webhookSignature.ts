/**
 * Webhook signatures. Every delivery carries
 *
 *   X-Floodlight-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * Receivers recompute the HMAC over the exact bytes they received, compare in
 * constant time and reject old timestamps (replays). `verifyWebhookSignature`
 * does all three; docs/operations.md shows it in use.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Floodlight-Signature';
export const EVENT_ID_HEADER = 'X-Floodlight-Event-Id';

function hmacHex(secret: string, timestamp: number, rawBody: string | Uint8Array): string {
  const hmac = createHmac('sha256', secret);
  hmac.update(`${timestamp}.`);
  hmac.update(rawBody);
  return hmac.digest('hex');
}

/** The header value for a body sent at `timestampSec`. */
export function signWebhook(secret: string, rawBody: string | Uint8Array, timestampSec = Math.floor(Date.now() / 1000)): string {
  return `t=${timestampSec},v1=${hmacHex(secret, timestampSec, rawBody)}`;
}

/**
 * True when `header` is a valid signature of `rawBody` (the bytes as
 * received, before any JSON parsing) made with `secret` no more than
 * `toleranceSec` seconds from now. Never throws on malformed input.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string | null | undefined,
  rawBody: string | Uint8Array,
  toleranceSec = 300,
  nowSec = Date.now() / 1000,
): boolean {
  if (typeof header !== 'string' || header.length > 1024) return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (!(toleranceSec >= 0) || Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, rawBody), 'hex');
  // Several v1 values are allowed (secret rotation on the sender's side).
  return signatures.some((signature) => timingSafeEqual(Buffer.from(signature, 'hex'), expected));
}
