/**
 * Who may publish into a room's slot: a stream key of that room (its slot
 * decides primary or backup), or — for WHIP, where the browser page's tokens
 * keep working — a publisher JWT for the room (primary slot).
 */
import { TokenError, type TokenService } from '../auth/tokens.js';
import type { SourceSlot } from '../sources/mediaSource.js';
import { streamKeyId } from './keys/streamKey.js';
import type { StreamKeyStore } from './keys/streamKeyStore.js';

export type IngestAuthResult =
  { ok: true; slot: SourceSlot; via: 'stream-key' | 'jwt'; keyId: string | undefined } | { ok: false; status: 401 | 403; detail: string };

export async function authorizeIngest(
  credential: string | undefined,
  room: string,
  deps: { keys: StreamKeyStore; tokens: TokenService | undefined },
): Promise<IngestAuthResult> {
  if (credential === undefined || credential === '') {
    return { ok: false, status: 401, detail: 'a stream key is required (Authorization: Bearer <stream key>)' };
  }
  if (streamKeyId(credential) !== undefined || !deps.tokens) {
    const grant = await deps.keys.resolve(credential);
    if (!grant) return { ok: false, status: 403, detail: 'unknown or revoked stream key' };
    if (grant.room !== room) return { ok: false, status: 403, detail: `this stream key is for another room, not "${room}"` };
    return { ok: true, slot: grant.slot, via: 'stream-key', keyId: grant.keyId };
  }
  try {
    const claims = await deps.tokens.verifyForRoom(credential, room);
    if (claims.role !== 'publisher') return { ok: false, status: 403, detail: `a ${claims.role} token cannot publish` };
    return { ok: true, slot: 'primary', via: 'jwt', keyId: undefined };
  } catch (error) {
    if (error instanceof TokenError) return { ok: false, status: 403, detail: `not a valid stream key or publisher token (${error.message})` };
    throw error;
  }
}
