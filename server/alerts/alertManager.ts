/**
 * Alert state: which alerts fire now, and a bounded history of resolved ones.
 * Rules (alertRules.ts, alertMonitor.ts) decide when to fire and resolve; this
 * class keeps one alert per (rule, room, worker), logs every transition as a
 * structured log line ("alert fired" / "alert resolved") and emits `alert`
 * (the webhook dispatcher and the admin socket listen).
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { Alert, AlertRule } from '../contracts/adminApi.js';
import { ruleSeverity } from './alert.js';

export interface AlertSpec {
  rule: AlertRule;
  room?: string | null;
  worker?: number | null;
  /** A cluster node (node_gone). */
  node?: string | null;
  message: string;
  value?: number | null;
}

export interface AlertManagerOptions {
  logger: Logger;
  /** Resolved alerts kept (newest first). Default 200. */
  historySize?: number;
  now?: () => number;
}

/** Read-only view (FloodlightServer.alerts, drills and tests). */
export interface AlertsView {
  active(): Alert[];
  history(): Alert[];
}

type AlertEvents = { alert: [alert: Alert] };

export function alertKey(rule: AlertRule, room: string | null | undefined, worker: number | null | undefined, node?: string | null): string {
  return `${rule}|${room ?? ''}|${worker ?? ''}|${node ?? ''}`;
}

export class AlertManager extends EventEmitter<AlertEvents> implements AlertsView {
  readonly #log: Logger;
  readonly #historySize: number;
  readonly #now: () => number;
  readonly #active = new Map<string, Alert>();
  /** Resolved alerts, newest first. */
  #history: Alert[] = [];
  readonly #fired = new Map<AlertRule, number>();

  constructor(options: AlertManagerOptions) {
    super();
    this.#log = options.logger.child({ component: 'alerts' });
    this.#historySize = options.historySize ?? 200;
    this.#now = options.now ?? Date.now;
  }

  /** Fires an alert unless the same one is already firing (then only its value is refreshed). */
  fire(spec: AlertSpec): Alert | undefined {
    const key = alertKey(spec.rule, spec.room, spec.worker, spec.node);
    const existing = this.#active.get(key);
    if (existing) {
      if (spec.value !== undefined) existing.value = spec.value;
      return undefined;
    }
    const alert: Alert = {
      id: randomUUID(),
      rule: spec.rule,
      severity: ruleSeverity[spec.rule],
      room: spec.room ?? null,
      worker: spec.worker ?? null,
      node: spec.node ?? null,
      state: 'firing',
      message: spec.message,
      value: spec.value ?? null,
      firedAt: new Date(this.#now()).toISOString(),
      resolvedAt: null,
    };
    this.#active.set(key, alert);
    this.#fired.set(alert.rule, (this.#fired.get(alert.rule) ?? 0) + 1);
    const level = alert.severity === 'critical' ? 'error' : 'warn';
    this.#log[level]({ alert }, 'alert fired');
    this.emit('alert', { ...alert });
    return { ...alert };
  }

  /** Resolves the alert with this identity, if it fires. `message` says why it is over. */
  resolve(rule: AlertRule, room: string | null | undefined, worker: number | null | undefined, message?: string, node?: string | null): Alert | undefined {
    const key = alertKey(rule, room, worker, node);
    const alert = this.#active.get(key);
    if (!alert) return undefined;
    this.#active.delete(key);
    alert.state = 'resolved';
    alert.resolvedAt = new Date(this.#now()).toISOString();
    if (message) alert.message = message;
    this.#history.unshift(alert);
    if (this.#history.length > this.#historySize) this.#history.length = this.#historySize;
    this.#log.info({ alert, durationMs: Date.parse(alert.resolvedAt) - Date.parse(alert.firedAt) }, 'alert resolved');
    this.emit('alert', { ...alert });
    return { ...alert };
  }

  isFiring(rule: AlertRule, room: string | null | undefined, worker: number | null | undefined): boolean {
    return this.#active.has(alertKey(rule, room, worker));
  }

  /** Resolves every firing alert of a room (it closed). */
  resolveRoom(room: string, message: string): void {
    for (const alert of [...this.#active.values()]) {
      if (alert.room === room) this.resolve(alert.rule, alert.room, alert.worker, message);
    }
  }

  /** Firing alerts, newest first (copies). */
  active(): Alert[] {
    return [...this.#active.values()].reverse().map((a) => ({ ...a }));
  }

  /** Resolved alerts, newest first (copies). */
  history(limit = this.#historySize): Alert[] {
    return this.#history.slice(0, limit).map((a) => ({ ...a }));
  }

  /** A room's alerts: firing ones first, then its most recent resolved ones. */
  forRoom(room: string, recentLimit = 20): Alert[] {
    const active = this.active().filter((a) => a.room === room);
    const recent: Alert[] = [];
    for (const alert of this.#history) {
      if (recent.length >= recentLimit) break;
      if (alert.room === room) recent.push({ ...alert });
    }
    return [...active, ...recent];
  }

  /** Alerts fired so far, per rule (metrics). */
  firedCounts(): ReadonlyMap<AlertRule, number> {
    return this.#fired;
  }

  close(): void {
    this.removeAllListeners();
  }
}
