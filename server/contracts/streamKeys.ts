/**
 * The stream key admin API's wire shapes (server: server/http/streamKeyRoutes.ts,
 * server/ingest/keys/; callers: the dashboard's stream keys section, scripts/key.ts).
 * Admin JWT required on every route.
 *   POST   /api/rooms/:room/keys             { slot?: "primary" | "backup" } → 201 StreamKeyIssuedResponse
 *   GET    /api/rooms/:room/keys             → 200 StreamKeyListResponse
 *   POST   /api/rooms/:room/keys/:id/rotate  → 200 StreamKeyIssuedResponse
 *   DELETE /api/rooms/:room/keys/:id         → 204
 * Errors: `{ error: { code, message } }` — 400 BAD_REQUEST, 401/403 (admin auth),
 * 404 NOT_FOUND, 409 CONFLICT (the slot has a key), 413 PAYLOAD_TOO_LARGE.
 */
import type { ProgramSlot } from './programApi.js';

/** What listings show: the id and the key's public prefix, never the secret or its hash. */
export interface StreamKeyInfo {
  id: string;
  room: string;
  slot: ProgramSlot;
  /** `sk_<id>_…`: what the key starts with, to tell keys apart. */
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** A created or rotated key: the only time the secret is seen. */
export interface IssuedStreamKey extends StreamKeyInfo {
  key: string;
}

/** The secret (`key.key`) appears here and nowhere else, ever. */
export interface StreamKeyIssuedResponse {
  key: IssuedStreamKey;
}

export interface StreamKeyListResponse {
  room: string;
  keys: StreamKeyInfo[];
}
