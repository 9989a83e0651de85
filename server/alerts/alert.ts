/**
 * Alert severities per rule. The alert shape itself is a wire contract
 * (server/contracts/adminApi.ts): the API, the admin socket, logs and
 * webhooks carry it (docs/operations.md).
 */
import type { AlertRule, AlertSeverity } from '../contracts/adminApi.js';

export const ruleSeverity: Record<AlertRule, AlertSeverity> = {
  stream_stalled: 'critical',
  low_bitrate: 'warning',
  high_loss: 'warning',
  worker_died: 'critical',
  hls_stale: 'warning',
  viewer_drop: 'warning',
  node_gone: 'critical',
  room_lost_origin: 'critical',
  // On the backup encoder: viewers are fine, the primary needs a look.
  ingest_failover: 'warning',
};
