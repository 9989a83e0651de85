/**
 * Which of a room's two slots is on air: the switching policy of backup
 * ingest (active-passive), as a small state machine over what the room tells
 * it about each slot. No mediasoup here: the room applies the decisions.
 *
 *  - Nothing on air: the primary if present, else the backup ('initial').
 *  - The slot on air went away: the other one ('disconnect').
 *  - The slot on air delivered no video (audio for an audio-only source) for
 *    `stallMs` while the other slot is healthy: the other one ('stall').
 *  - On the backup while the primary has been healthy for `failbackMs`:
 *    back to the primary ('failback') — unless an operator pinned the backup.
 *  - An operator's choice ('manual'): a present and healthy slot only; a
 *    manual switch to the backup pins it (no fail-back) until the operator
 *    switches back or the backup itself fails.
 *
 * Healthy = present and media arrived within `stallMs` (a source that has not
 * delivered anything yet is judged from when it arrived).
 *
 * Halfway to a stall (on air quiet for `stallMs / 2`, the other slot healthy)
 * it says `prearm` once, so the relay can get the other encoder's key frame
 * ready before the switch is decided.
 */
import { SafeEmitter } from '../lib/safeEmitter.js';
import type { SourceSlot } from '../sources/mediaSource.js';
import type { ProgramSwitchReason } from '../contracts/programApi.js';

export interface SlotProbe {
  /** When the source in this slot arrived (ms). */
  since: number;
  /** When its last video packet arrived (its last packet of any kind if it has no video); null before any. */
  lastMediaAt: number | null;
}

export interface BackupSwitchOptions {
  stallMs: number;
  failbackMs: number;
  /** What the room knows about a slot now; undefined = empty. */
  probe: (slot: SourceSlot) => SlotProbe | undefined;
  /** How often `evaluate` runs by itself, ms (0: only when called). Default 100. */
  checkIntervalMs?: number;
  now?: () => number;
}

export interface SwitchDecision {
  from: SourceSlot | undefined;
  to: SourceSlot | undefined;
  reason: ProgramSwitchReason;
  at: number;
}

export class BackupSwitchError extends Error {
  override name = 'BackupSwitchError';
  constructor(
    readonly kind: 'empty' | 'unhealthy',
    message: string,
  ) {
    super(message);
  }
}

type BackupSwitchEvents = {
  switched: [decision: SwitchDecision];
  /** The slot on air is halfway to a stall: `slot` is likely next. */
  prearm: [slot: SourceSlot];
};

const other = (slot: SourceSlot): SourceSlot => (slot === 'primary' ? 'backup' : 'primary');

export class BackupSwitch extends SafeEmitter<BackupSwitchEvents> {
  readonly #options: BackupSwitchOptions;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout | undefined;
  #active: SourceSlot | undefined;
  #pinned: SourceSlot | undefined;
  #primaryHealthySince: number | undefined;
  #prearmed = false;
  #lastSwitch: SwitchDecision | undefined;
  #switches = 0;
  #closed = false;

  constructor(options: BackupSwitchOptions) {
    super();
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const interval = options.checkIntervalMs ?? 100;
    if (interval > 0) {
      this.#timer = setInterval(() => this.evaluate(), interval);
      this.#timer.unref();
    }
  }

  get active(): SourceSlot | undefined {
    return this.#active;
  }

  /** The slot an operator pinned (no fail-back while pinned). */
  get pinned(): SourceSlot | undefined {
    return this.#pinned;
  }

  get lastSwitch(): SwitchDecision | undefined {
    return this.#lastSwitch;
  }

  /** Switches between two slots so far (going on or off air is not one). */
  get switches(): number {
    return this.#switches;
  }

  healthy(slot: SourceSlot, now = this.#now()): boolean {
    const probe = this.#options.probe(slot);
    if (!probe) return false;
    return probe.lastMediaAt !== null && now - probe.lastMediaAt < this.#options.stallMs;
  }

  /** Applies the rules once (the timer calls this; so does the room when a source comes or goes). */
  evaluate(now = this.#now()): SwitchDecision | undefined {
    if (this.#closed) return undefined;
    const { probe, stallMs, failbackMs } = this.#options;
    const primary = probe('primary');
    this.#primaryHealthySince = this.healthy('primary', now) ? (this.#primaryHealthySince ?? now) : undefined;
    const active = this.#active;
    if (active === undefined || !probe(active)) {
      const next = primary ? 'primary' : probe('backup') ? 'backup' : undefined;
      if (next === active) return undefined;
      return this.#switch(next, active === undefined ? 'initial' : 'disconnect', now);
    }
    const current = probe(active)!;
    const quietMs = now - (current.lastMediaAt ?? current.since);
    const stalled = quietMs >= stallMs;
    const otherHealthy = this.healthy(other(active), now);
    if (stalled && otherHealthy) return this.#switch(other(active), 'stall', now);
    const halfway = !stalled && quietMs >= stallMs / 2 && otherHealthy;
    if (halfway && !this.#prearmed) this.safeEmit('prearm', other(active));
    if (!stalled) this.#prearmed = halfway;
    if (active === 'backup' && this.#pinned !== 'backup' && this.#primaryHealthySince !== undefined && now - this.#primaryHealthySince >= failbackMs) {
      return this.#switch('primary', 'failback', now);
    }
    return undefined;
  }

  /** An operator's switch. Throws BackupSwitchError for an empty or stalled slot. */
  manual(slot: SourceSlot, now = this.#now()): SwitchDecision | undefined {
    if (!this.#options.probe(slot)) throw new BackupSwitchError('empty', `the ${slot} slot has no encoder`);
    if (slot !== this.#active && !this.healthy(slot, now)) throw new BackupSwitchError('unhealthy', `the ${slot} encoder is not delivering media`);
    this.#pinned = slot === 'backup' ? 'backup' : undefined;
    if (slot === this.#active) return undefined;
    return this.#switch(slot, 'manual', now);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.removeAllListeners();
  }

  #switch(to: SourceSlot | undefined, reason: ProgramSwitchReason, now: number): SwitchDecision {
    const decision: SwitchDecision = { from: this.#active, to, reason, at: now };
    this.#active = to;
    this.#prearmed = false;
    // A pin ends when its slot is left for any reason but the operator's.
    if (this.#pinned !== undefined && to !== this.#pinned && reason !== 'manual') this.#pinned = undefined;
    if (decision.from !== undefined && to !== undefined) {
      this.#switches++;
      this.#lastSwitch = decision;
    }
    this.safeEmit('switched', decision);
    return decision;
  }
}
