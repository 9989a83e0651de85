/**
 * The per-room stats document (GET /api/rooms/:room/stats, the admin overview
 * and the /admin socket), assembled from the sampler's series, the QoE
 * aggregates, the HLS status and the room's alerts. The shape is a contract
 * with the dashboard (docs/operations.md).
 */
import type { Alert } from '../alerts/alert.js';
import type { QoeAggregate } from './qoeStore.js';

export interface HistoryPoint {
  /** ms since epoch */
  t: number;
  bitrateInBps: number;
  bitrateOutBps: number;
  viewers: number;
  lossPercent: number;
}

export interface RoomStats {
  id: string;
  live: boolean;
  since: string | null;
  video: { bitrateBps: number; fps: number | null; width: number | null; height: number | null; codec: string | null; score: number | null };
  audio: { bitrateBps: number };
  lossPercent: number;
  rttMs: number | null;
  jitterMs: number | null;
  viewers: { webrtc: number; hls: number };
  joins: number;
  leaves: number;
  watchTimeSeconds: number;
  qoe: QoeAggregate;
  hls: { available: boolean; url: string | null; playlistAgeSeconds: number | null };
  thumbnail: string | null;
  alerts: Alert[];
  history: HistoryPoint[];
}

/** At most this many history points (5 min at the default 2 s interval). */
export const HISTORY_POINTS = 150;
