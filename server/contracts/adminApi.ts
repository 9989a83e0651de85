/**
 * The operator and rooms HTTP APIs: what the server sends and the dashboard
 * and pages read, as sent (JSON: times are ISO 8601 strings unless a field
 * says otherwise). Type-only for the browser, so no zod here.
 *
 *   GET /api/rooms               (public)       → RoomsResponse
 *   GET /api/rooms/:room/stats   (public)       → RoomStats
 *   GET /api/admin/overview      (admin token)  → Overview
 *   GET /api/admin/alerts        (admin token)  → AlertsResponse
 *   POST|DELETE /api/cluster/nodes/:id/drain (admin token) → DrainAnswer
 *   GET /api/settings, PUT /api/settings/:name { value } (admin token) → the runtime settings (server/cluster/runtimeSettings.ts)
 *   GET /api/rooms/:room/join    (public)       → JoinPlacementResponse (contracts/joinApi.ts)
 *   socket.io namespace /admin   (auth: { token }) → 'overview': Overview every 2 s, 'alert': Alert on fire/resolve
 *   any error                                   → ApiErrorBody with a 4xx/5xx status
 */

import type { ProgramStatus } from './programApi.js';

export const alertRules = [
  'stream_stalled',
  'low_bitrate',
  'high_loss',
  'worker_died',
  'hls_stale',
  'viewer_drop',
  'node_gone',
  'room_lost_origin',
  'ingest_failover',
] as const;
export type AlertRule = (typeof alertRules)[number];

export type AlertSeverity = 'warning' | 'critical';

/** One alert lives from `firing` to `resolved` under one id (a new firing is a new id). */
export interface Alert {
  id: string;
  rule: AlertRule;
  severity: AlertSeverity;
  room: string | null;
  worker: number | null;
  /** The cluster node the alert is about (node_gone), else null. */
  node: string | null;
  state: 'firing' | 'resolved';
  message: string;
  /** The measurement that fired it (seconds, bits/s, percent, viewers …), if any. */
  value: number | null;
  /** ISO time. */
  firedAt: string;
  /** ISO time, null while firing. */
  resolvedAt: string | null;
}

export interface AlertsResponse {
  active: Alert[];
  /** Resolved alerts, newest first. */
  history: Alert[];
}

export interface WorkerOverview {
  index: number;
  alive: boolean;
  pid: number | null;
  /** Fraction of one core over the last ~2 s (0..1+). */
  cpu: number;
  memoryBytes: number;
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
  restarts: number;
}

export interface WebhookEndpointStatus {
  url: string;
  /** The last attempt succeeded (true before any attempt). */
  ok: boolean;
  lastError: string | null;
  /** Events delivered. */
  delivered: number;
  /** Failed attempts (each retry counts). */
  failed: number;
}

/** The watch pages' QoE reports, aggregated over the last minute. */
export interface RoomQoe {
  /** Sessions (any transport) that reported within the activity window. */
  sessions: number;
  freezesPerMinute: number;
  droppedFramesPercent: number;
  jitterBufferDelayMs: number | null;
  latencyMs: number | null;
  firstFrameMsP50: number | null;
}

export interface HistoryPoint {
  /** ms since epoch (a number: history is plotted, not read). */
  t: number;
  bitrateInBps: number;
  bitrateOutBps: number;
  viewers: number;
  lossPercent: number;
}

export interface RoomStats {
  id: string;
  live: boolean;
  /** ISO time the current broadcast started; null when offline. */
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
  qoe: RoomQoe;
  hls: { available: boolean; url: string | null; playlistAgeSeconds: number | null };
  /** Same-origin path of the latest poster frame, once the recorder wrote one. */
  thumbnail: string | null;
  /** Which encoder is on air, both slots' health, the last backup switch. */
  program: ProgramStatus;
  alerts: Alert[];
  /** Oldest first. */
  history: HistoryPoint[];
}

export interface Overview {
  /** ISO time of the snapshot. */
  at: string;
  workers: WorkerOverview[];
  totals: { rooms: number; publishers: number; webrtcViewers: number; hlsViewers: number; bitrateInBps: number; bitrateOutBps: number };
  /** The busiest rooms (live first, then by audience); all of them are counted in totals. */
  rooms: RoomStats[];
  alerts: { active: Alert[]; recent: Alert[] };
  webhooks: { endpoints: WebhookEndpointStatus[] };
}

export interface RoomListItem {
  id: string;
  live: boolean;
  /** WebRTC viewers on every node (HLS viewers are counted in the room's stats). */
  viewers: number;
  /** Indexes of the workers whose routers serve the room on the node that answered (empty elsewhere). */
  workers: number[];
  /** Routers of the room on the node that answered. */
  routers: number;
  /** ISO time the room was created. */
  createdAt: string;
  hls: { available: boolean; url: string | null };
  /** `/api/rooms/<room>/thumbnail.jpg` once the recorder wrote a poster frame. */
  thumbnail: string | null;
}

export interface RoomsResponse {
  rooms: RoomListItem[];
  /** Whether the server produces HLS at all (false: WebRTC only, `reason` says why). */
  hls: { enabled: boolean; reason: string | null };
}

/** The body of every non-2xx API answer. */
export interface ApiErrorBody {
  error: { code: string; message: string };
}

/** The answer to a drain request (or its cancellation). */
export interface DrainAnswer {
  node: string;
  draining: boolean;
}
