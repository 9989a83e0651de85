/**
 * The alerts the page knows of, merged from the overview snapshots, the
 * /admin socket's `alert` events and the alert history: one entry per alert
 * id, resolved ones capped.
 */
import type { Alert, Overview } from '../../../server/contracts/adminApi';
import { epochMs } from './format';

const MAX_RESOLVED_ALERTS = 50;

/** Most recent first: by resolution time, else by firing time. */
export function byRecency(a: Alert, b: Alert): number {
  return (epochMs(b.resolvedAt ?? b.firedAt) ?? 0) - (epochMs(a.resolvedAt ?? a.firedAt) ?? 0);
}

export class AlertBook {
  readonly #byId = new Map<string, Alert>();

  upsert(alert: Alert): void {
    const previous = this.#byId.get(alert.id);
    // A resolved alert never goes back to firing (a new firing is a new alert id).
    if (previous?.state === 'resolved' && alert.state === 'firing') return;
    this.#byId.set(alert.id, alert);
  }

  /** Takes a snapshot's alerts; what it does not list as active and fired before it has resolved. */
  settle(overview: Overview): void {
    for (const alert of [...overview.alerts.recent, ...overview.alerts.active]) this.upsert(alert);
    const active = new Set(overview.alerts.active.map((a) => a.id));
    const at = epochMs(overview.at) ?? Date.now();
    for (const alert of this.#byId.values()) {
      if (alert.state === 'firing' && !active.has(alert.id) && (epochMs(alert.firedAt) ?? 0) <= at) {
        this.#byId.set(alert.id, { ...alert, state: 'resolved' });
      }
    }
    for (const old of this.resolved().slice(MAX_RESOLVED_ALERTS)) this.#byId.delete(old.id);
  }

  /** Firing alerts, critical first, then newest first. */
  active(): Alert[] {
    return [...this.#byId.values()]
      .filter((a) => a.state === 'firing')
      .sort((a, b) => Number(b.severity === 'critical') - Number(a.severity === 'critical') || byRecency(a, b));
  }

  /** Resolved alerts, newest first. */
  resolved(): Alert[] {
    return [...this.#byId.values()].filter((a) => a.state === 'resolved').sort(byRecency);
  }

  /** 'critical' if any firing alert is, 'warning' if any fires, else 'ok'. */
  level(): 'critical' | 'warning' | 'ok' {
    const active = this.active();
    return active.some((a) => a.severity === 'critical') ? 'critical' : active.length > 0 ? 'warning' : 'ok';
  }
}
