/**
 * Connects the alert rules to their inputs: the stats sampler's per-room
 * signals (stream_stalled, low_bitrate, high_loss, hls_stale, viewer_drop),
 * the worker pool's death and replacement events (worker_died), and room
 * closure (a closed room's alerts resolve).
 */
import type { AlertThresholds } from '../config/config.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { RoomEvent } from '../cluster/roomEvents.js';
import type { AlertManager } from './alertManager.js';
import { RoomRules, type RoomSignal } from './alertRules.js';

export interface AlertMonitorOptions {
  manager: AlertManager;
  pool: WorkerPool;
  rooms: RoomRegistry;
  /** Room events (a closed room's alerts resolve). */
  bus: MessageBus;
  thresholds: AlertThresholds;
}

export class AlertMonitor {
  readonly #options: AlertMonitorOptions;
  readonly #rules = new Map<string, RoomRules>();
  readonly #onWorkerDied = (index: number, error: Error) => {
    const pid = this.#lastPids.get(index);
    this.#options.manager.fire({
      rule: 'worker_died',
      worker: index,
      value: this.#options.pool.details()[index]?.restarts ?? null,
      message: `media worker ${index}${pid ? ` (pid ${pid})` : ''} died: ${error.message}; rooms on it are being rebuilt`,
    });
  };
  readonly #onWorkerReplaced = (index: number) => {
    const pid = this.#options.pool.pid(index);
    if (pid) this.#lastPids.set(index, pid);
    this.#options.manager.resolve('worker_died', null, index, `media worker ${index} replaced${pid ? ` (new pid ${pid})` : ''}`);
  };
  #unsubscribe: () => void = () => undefined;
  /** Worker pids, so a death can name the process that died. */
  readonly #lastPids = new Map<number, number>();
  #closed = false;

  constructor(options: AlertMonitorOptions) {
    this.#options = options;
    for (const w of options.pool.details()) if (w.pid) this.#lastPids.set(w.index, w.pid);
    options.pool.on('workerDied', this.#onWorkerDied);
    options.pool.on('workerReplaced', this.#onWorkerReplaced);
    this.#unsubscribe = options.bus.subscribe((event) => this.#onRoomEvent(event));
  }

  /** Applies the rules to one sampling pass. */
  evaluate(signals: readonly RoomSignal[]): void {
    if (this.#closed) return;
    const { manager, thresholds } = this.#options;
    for (const signal of signals) {
      const room = this.#options.rooms.get(signal.room);
      if (!room || room.closed) continue;
      let rules = this.#rules.get(signal.room);
      if (!rules) {
        rules = new RoomRules(signal.room, thresholds);
        this.#rules.set(signal.room, rules);
      }
      for (const action of rules.evaluate(signal, (rule) => manager.isFiring(rule, signal.room, null))) {
        if (action.type === 'fire') manager.fire(action.spec);
        else manager.resolve(action.rule, action.room, null, action.message);
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#options.pool.off('workerDied', this.#onWorkerDied);
    this.#options.pool.off('workerReplaced', this.#onWorkerReplaced);
    this.#unsubscribe();
    this.#rules.clear();
  }

  #onRoomEvent(event: RoomEvent): void {
    if (this.#closed || event.type !== 'closed' || event.node !== this.#options.bus.nodeId) return;
    // A room reopened meanwhile keeps its alerts.
    if (this.#options.rooms.get(event.room)) return;
    this.#rules.delete(event.room);
    this.#options.manager.resolveRoom(event.room, `room "${event.room}" closed`);
  }
}
