/** One alert as a list item (the alerts panel and a room's drill-down). */
import type { Alert, AlertRule } from '../../../server/contracts/adminApi';
import { el } from '../ui/dom';
import { epochMs, formatAgo, formatClock, formatDuration } from './format';

const RULE_TITLES: Record<AlertRule, string> = {
  stream_stalled: 'Stream stalled',
  low_bitrate: 'Low bitrate',
  high_loss: 'High packet loss',
  worker_died: 'Worker died',
  hls_stale: 'HLS playlist stale',
  viewer_drop: 'Viewers dropped',
  node_gone: 'Node gone',
  room_lost_origin: 'Room lost its origin',
  ingest_failover: 'On the backup encoder',
};

function when(alert: Alert): string {
  if (alert.state === 'firing') return `since ${formatClock(alert.firedAt)} (${formatAgo(alert.firedAt).replace(' ago', '')})`;
  const fired = epochMs(alert.firedAt);
  const resolved = epochMs(alert.resolvedAt);
  const lasted = fired !== null && resolved !== null ? ` (${formatDuration((resolved - fired) / 1000)})` : '';
  return `${formatClock(alert.firedAt)} → ${formatClock(alert.resolvedAt)}${lasted}`;
}

export function alertItem(alert: Alert): HTMLLIElement {
  const scope = [alert.node ? `node ${alert.node}` : null, alert.room ? `room ${alert.room}` : null, alert.worker !== null ? `worker ${alert.worker}` : null]
    .filter(Boolean)
    .join(' · ');
  return el(
    'li',
    { className: 'alert', attrs: { 'data-state': alert.state, 'data-severity': alert.severity, 'data-rule': alert.rule, 'data-alert': alert.id } },
    [
      el('div', { className: 'alert-head' }, [
        el('span', {
          className: `badge ${alert.state === 'resolved' ? 'badge-muted' : alert.severity === 'critical' ? 'badge-critical' : 'badge-warning'}`,
          text: alert.state === 'resolved' ? 'resolved' : alert.severity,
        }),
        el('strong', { text: RULE_TITLES[alert.rule] }),
        el('span', { className: 'muted small', text: scope }),
      ]),
      el('p', { className: 'alert-message', text: alert.message }),
      el('p', { className: 'alert-time muted small', text: when(alert) }),
    ],
  );
}
