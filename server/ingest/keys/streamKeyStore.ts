/**
 * Where stream keys live: a JSON file on a single node (FileStreamKeyStore),
 * Redis in a cluster (RedisStreamKeyStore). Both keep one key per room and
 * slot; a second key for a slot is refused ('exists': rotate or revoke it).
 *
 * `resolve` is the one question every ingest protocol asks (WHIP now, RTMP and
 * SRT later): which room and slot does this key open? It records the use.
 */
import type { SourceSlot } from '../../sources/mediaSource.js';
import type { IssuedStreamKey, StreamKeyGrant, StreamKeyInfo } from './streamKey.js';

export interface StreamKeyStore {
  /** A new key for the room's slot; StreamKeyError 'exists' when the slot has one. */
  create(room: string, slot: SourceSlot): Promise<IssuedStreamKey>;
  /** The room's keys (primary first), without secrets. */
  list(room: string): Promise<StreamKeyInfo[]>;
  /** A new secret for the key; the old one stops opening new sessions. StreamKeyError 'not-found'. */
  rotate(room: string, id: string): Promise<IssuedStreamKey>;
  /** Deletes the key. StreamKeyError 'not-found'. */
  revoke(room: string, id: string): Promise<void>;
  /** The room and slot a presented key opens, or undefined (unknown, revoked, rotated away, malformed). */
  resolve(key: string): Promise<StreamKeyGrant | undefined>;
  /** Idempotent. */
  close(): Promise<void>;
}

/** Listing order: primary before backup. */
export function bySlot(a: StreamKeyInfo, b: StreamKeyInfo): number {
  return a.slot === b.slot ? a.id.localeCompare(b.id) : a.slot === 'primary' ? -1 : 1;
}
