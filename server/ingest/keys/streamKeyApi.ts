/**
 * The stream key admin API's wire contract (server: streamKeyRoutes.ts;
 * callers: scripts, the dashboard). Admin JWT required on every route.
 *   POST   /api/rooms/:room/keys             { slot?: "primary" | "backup" } → 201 StreamKeyIssuedResponse
 *   GET    /api/rooms/:room/keys             → 200 StreamKeyListResponse
 *   POST   /api/rooms/:room/keys/:id/rotate  → 200 StreamKeyIssuedResponse
 *   DELETE /api/rooms/:room/keys/:id         → 204
 * Errors: `{ error: { code, message } }` — 400 BAD_REQUEST, 401/403 (admin auth),
 * 404 NOT_FOUND, 409 CONFLICT (the slot has a key), 413 PAYLOAD_TOO_LARGE.
 */
import { z } from 'zod';
import type { IssuedStreamKey, StreamKeyInfo } from './streamKey.js';
import { slotSchema } from './streamKey.js';

export const STREAM_KEY_MAX_BODY_BYTES = 1024;

export const createStreamKeyRequestSchema = z.strictObject({ slot: slotSchema.default('primary') });
export type CreateStreamKeyRequest = z.input<typeof createStreamKeyRequestSchema>;

/** The secret (`key.key`) appears here and nowhere else, ever. */
export interface StreamKeyIssuedResponse {
  key: IssuedStreamKey;
}

export interface StreamKeyListResponse {
  room: string;
  keys: StreamKeyInfo[];
}
