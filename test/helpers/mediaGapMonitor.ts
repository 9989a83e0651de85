/**
 * Measures how long a viewer's video stopped around an event (an encoder
 * switch): samples a growing packet counter every few ms and remembers when
 * it grew. `resumedAfter(t0)` is the first growth after a silence of at least
 * `minGapMs` that began after t0 — the first packet of the new source — and
 * `interruptionMs(t0)` the time from t0 (the old source's last packet) to it.
 */
export interface MediaGapMonitorOptions {
  /** Sampling period, ms. Default 10. */
  intervalMs?: number;
  /** A pause shorter than this is jitter, not the interruption. Default 150. */
  minGapMs?: number;
}

export class MediaGapMonitor {
  readonly #read: () => number;
  readonly #minGapMs: number;
  readonly #timer: NodeJS.Timeout;
  /** Times (Date.now()) at which the counter grew. */
  readonly #growth: number[] = [];
  #last: number;

  constructor(read: () => number, options: MediaGapMonitorOptions = {}) {
    this.#read = read;
    this.#minGapMs = options.minGapMs ?? 150;
    this.#last = read();
    this.#timer = setInterval(() => {
      const value = this.#read();
      if (value > this.#last) this.#growth.push(Date.now());
      this.#last = value;
    }, options.intervalMs ?? 10);
  }

  /** How many samples saw the counter grow: the stream has been seen flowing once this is > 0. */
  get growths(): number {
    return this.#growth.length;
  }

  /** When the counter grew again after a silence that started after `t0` (undefined: not yet). */
  resumedAfter(t0: number): number | undefined {
    let previous = this.#growth.filter((t) => t <= t0).at(-1) ?? t0;
    for (const t of this.#growth) {
      if (t <= t0) continue;
      if (t - previous >= this.#minGapMs) return t;
      previous = t;
    }
    return undefined;
  }

  /** ms from `t0` until the counter resumed; undefined while it has not. */
  interruptionMs(t0: number): number | undefined {
    const resumed = this.resumedAfter(t0);
    return resumed === undefined ? undefined : resumed - t0;
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
