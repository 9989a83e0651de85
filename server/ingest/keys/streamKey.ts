/**
 * Stream keys: what an encoder (OBS, ffmpeg, a hardware box) presents on any
 * ingest protocol — a WHIP bearer token, an RTMP stream name, an SRT streamid.
 * A key names its room and slot (primary or backup).
 *
 * The secret is shown once, at creation or rotation; only its SHA-256 is kept.
 * A key reads `sk_<id>_<secret>`: the id (public, 12 hex digits) finds the
 * record, the hash of the whole key is compared in constant time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { ROOM_ID_PATTERN } from '../../contracts/roomId.js';
import type { SourceSlot } from '../../sources/mediaSource.js';
import type { StreamKeyInfo } from '../../contracts/streamKeys.js';

export const STREAM_KEY_ID_PATTERN = /^[0-9a-f]{12}$/;
/** `sk_` + 12 hex id + `_` + 43 base64url characters (32 random bytes). */
const STREAM_KEY_PATTERN = /^sk_([0-9a-f]{12})_[A-Za-z0-9_-]{43}$/;

export const slotSchema = z.enum(['primary', 'backup']);

/** What is stored: never the secret. */
export const streamKeyRecordSchema = z.strictObject({
  id: z.string().regex(STREAM_KEY_ID_PATTERN),
  room: z.string().regex(ROOM_ID_PATTERN),
  slot: slotSchema,
  /** SHA-256 of the whole key, hex. */
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  createdAt: z.string(),
  /** Last time an ingest presented it (ISO time), or null. */
  lastUsedAt: z.string().nullable(),
});
export type StreamKeyRecord = z.infer<typeof streamKeyRecordSchema>;

export type { IssuedStreamKey, StreamKeyInfo } from '../../contracts/streamKeys.js';

/** Where a presented key leads (every ingest protocol asks the same question). */
export interface StreamKeyGrant {
  keyId: string;
  room: string;
  slot: SourceSlot;
}

export function hashStreamKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The id a key claims, or undefined when it is not shaped like a key at all. */
export function streamKeyId(key: string): string | undefined {
  return STREAM_KEY_PATTERN.exec(key)?.[1];
}

export function newStreamKeyId(): string {
  return randomBytes(6).toString('hex');
}

/** A fresh key for `id` and the record that stores its hash. */
export function mintStreamKey(id: string, room: string, slot: SourceSlot, now = new Date()): { key: string; record: StreamKeyRecord } {
  const key = `sk_${id}_${randomBytes(32).toString('base64url')}`;
  return { key, record: { id, room, slot, hash: hashStreamKey(key), createdAt: now.toISOString(), lastUsedAt: null } };
}

/** Constant-time comparison of a presented key with a stored record. */
export function keyMatches(key: string, record: StreamKeyRecord): boolean {
  const presented = Buffer.from(hashStreamKey(key), 'hex');
  const stored = Buffer.from(record.hash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

export function keyInfo(record: StreamKeyRecord): StreamKeyInfo {
  return { id: record.id, room: record.room, slot: record.slot, prefix: `sk_${record.id}_…`, createdAt: record.createdAt, lastUsedAt: record.lastUsedAt };
}

export type StreamKeyErrorKind = 'exists' | 'not-found' | 'invalid';

export class StreamKeyError extends Error {
  constructor(
    readonly kind: StreamKeyErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'StreamKeyError';
  }
}
