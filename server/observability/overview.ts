/**
 * The operator overview (GET /api/admin/overview and the /admin socket's
 * `overview` event): workers, totals, rooms, alerts and webhook health in
 * one document. The shape is a contract with the dashboard.
 */
import type { Alert } from '../alerts/alert.js';
import type { WebhookEndpointStatus } from '../alerts/webhookDispatcher.js';
import type { RoomStats } from './roomStats.js';

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

export interface Overview {
  at: string;
  workers: WorkerOverview[];
  totals: { rooms: number; publishers: number; webrtcViewers: number; hlsViewers: number; bitrateInBps: number; bitrateOutBps: number };
  rooms: RoomStats[];
  alerts: { active: Alert[]; recent: Alert[] };
  webhooks: { endpoints: WebhookEndpointStatus[] };
}

/** Rooms listed in the overview (live first, then by audience); the rest are counted in totals. */
export const OVERVIEW_MAX_ROOMS = 50;
/** Resolved alerts in the overview, newest first. */
export const OVERVIEW_RECENT_ALERTS = 50;
