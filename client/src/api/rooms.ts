/** GET /api/rooms (shape: server/contracts/adminApi.ts). */
import type { RoomListItem, RoomsResponse } from '../../../server/contracts/adminApi';
import { getJson } from './http';

const REQUEST_TIMEOUT_MS = 4_000;

export interface RoomsListing {
  rooms: RoomListItem[];
  /** Whether the server produces HLS at all (false: WebRTC only). */
  hlsEnabled: boolean;
}

export async function fetchRooms(signal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<RoomsListing> {
  const body = await getJson<RoomsResponse>('/api/rooms', { signal });
  return { rooms: body.rooms, hlsEnabled: body.hls.enabled };
}

/** The master playlist of a room (the server's own URL when it gives one). */
export function hlsMasterUrl(room: string): string {
  return `/hls/${encodeURIComponent(room)}/index.m3u8`;
}
