/** GET /api/rooms, parsed defensively (the pages must not break on an odd answer). */
import { isValidRoomId } from '../ui/dom';

export interface RoomSummary {
  id: string;
  live: boolean;
  /** WebRTC viewers (HLS viewers are not counted by the server). */
  viewers: number;
  hls: { available: boolean; url: string | null };
  /** `/api/rooms/<room>/thumbnail.jpg` once the recorder wrote a poster frame. */
  thumbnail: string | null;
}

export interface RoomsResponse {
  rooms: RoomSummary[];
  /** Whether the server produces HLS at all (false: WebRTC only). */
  hlsEnabled: boolean;
}

const REQUEST_TIMEOUT_MS = 4_000;

function parseRoom(value: unknown): RoomSummary | null {
  if (!value || typeof value !== 'object') return null;
  const room = value as Record<string, unknown>;
  const id = room['id'];
  if (typeof id !== 'string' || !isValidRoomId(id) || typeof room['live'] !== 'boolean' || typeof room['viewers'] !== 'number') return null;
  const hls = room['hls'] && typeof room['hls'] === 'object' ? (room['hls'] as Record<string, unknown>) : {};
  const thumbnail = room['thumbnail'];
  return {
    id,
    live: room['live'],
    viewers: room['viewers'],
    hls: { available: hls['available'] === true, url: typeof hls['url'] === 'string' ? hls['url'] : null },
    // Only same-origin paths: the CSP allows nothing else anyway.
    thumbnail: typeof thumbnail === 'string' && thumbnail.startsWith('/') && !thumbnail.startsWith('//') ? thumbnail : null,
  };
}

export async function fetchRooms(signal: AbortSignal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<RoomsResponse> {
  const response = await fetch('/api/rooms', { cache: 'no-store', headers: { accept: 'application/json' }, signal });
  if (!response.ok) throw new Error(`server answered ${response.status}`);
  const body: unknown = await response.json();
  const record = body && typeof body === 'object' ? (body as Record<string, unknown>) : {};
  if (!Array.isArray(record['rooms'])) throw new Error('unexpected answer from /api/rooms');
  const hls = record['hls'] && typeof record['hls'] === 'object' ? (record['hls'] as Record<string, unknown>) : {};
  return {
    rooms: record['rooms'].map(parseRoom).filter((room): room is RoomSummary => room !== null),
    // Older servers without the field: assume HLS is there and let the player find out.
    hlsEnabled: hls['enabled'] !== false,
  };
}

/** The master playlist of a room (the server's own URL when it gives one). */
export function hlsMasterUrl(room: string): string {
  return `/hls/${encodeURIComponent(room)}/index.m3u8`;
}
