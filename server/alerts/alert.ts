/**
 * The shape of an alert as the API, the admin socket, logs and webhooks carry
 * it (docs/operations.md). One alert object lives from `firing` to `resolved`.
 */

export const alertRules = ['stream_stalled', 'low_bitrate', 'high_loss', 'worker_died', 'hls_stale', 'viewer_drop'] as const;
export type AlertRule = (typeof alertRules)[number];

export type AlertSeverity = 'warning' | 'critical';

export interface Alert {
  id: string;
  rule: AlertRule;
  severity: AlertSeverity;
  room: string | null;
  worker: number | null;
  state: 'firing' | 'resolved';
  message: string;
  /** The measurement that fired it (seconds, bits/s, percent, viewers …), if any. */
  value: number | null;
  firedAt: string;
  resolvedAt: string | null;
}

export const ruleSeverity: Record<AlertRule, AlertSeverity> = {
  stream_stalled: 'critical',
  low_bitrate: 'warning',
  high_loss: 'warning',
  worker_died: 'critical',
  hls_stale: 'warning',
  viewer_drop: 'warning',
};
