/**
 * The room-id rule, shared by the signaling schema, the HTTP APIs, the HLS
 * packager (room ids name its directories), the pages and scripts/token.ts.
 * Plain regex, no zod: the pages import it and their bundles stay small.
 */

/** 1-64 characters, URL- and path-safe. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** What a refused room id is told. */
export const ROOM_ID_RULE = 'room must be 1-64 characters of A-Z a-z 0-9 _ -';

/** A string checked against ROOM_ID_PATTERN (branded, so a failed check does not narrow the string away). */
export type RoomId = string & { readonly __roomId: true };

export function isValidRoomId(room: string | null | undefined): room is RoomId {
  return typeof room === 'string' && ROOM_ID_PATTERN.test(room);
}
