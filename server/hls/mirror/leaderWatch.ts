/**
 * Notices a leader that stops delivering while this follower's own recorder
 * (the hot standby) goes on: a hung leader (SIGSTOP, a stuck disk or VM), a
 * stalled ffmpeg or pipe there. Its sockets stay open, so the mirror's pulls
 * would only give up after their timeouts (two of 10 s), or never.
 *
 * Checked every CHECK_MS: the leader is silent once no mirrored rendition has
 * published for 3 target durations (the longest the leader may hold a
 * blocking reload, so a healthy leader is never silent that long), while the
 * own recorder published within the last target duration — if it is quiet
 * too, the input stopped (a paused publisher), and taking over would not help.
 * Only after the mirror published once (until then the pulls decide alone)
 * and while no mirrored playlist has ended.
 */
import type { OwnRendition } from './mirroredRendition.js';

const CHECK_MS = 250;

export interface WatchedMirror {
  on(event: 'published', listener: () => void): unknown;
  off(event: 'published', listener: () => void): unknown;
  /** The leader's target duration (s), from its playlist. */
  status(): { targetDuration: number };
  /** The leader's playlist ended (the room closed there): silence is expected. */
  readonly ended: boolean;
}

export interface LeaderWatchOptions {
  mirrored: readonly WatchedMirror[];
  own: readonly OwnRendition[];
  /** Called once, with how long the leader has been silent. */
  onSilent: (silentMs: number) => void;
  now?: () => number;
}

export class LeaderWatch {
  readonly #options: LeaderWatchOptions;
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  #mirroredAt: number | undefined;
  #ownAt: number | undefined;
  #closed = false;
  readonly #onMirrored = (): void => {
    this.#mirroredAt = this.#now();
  };
  readonly #onOwn = (): void => {
    this.#ownAt = this.#now();
  };

  constructor(options: LeaderWatchOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    for (const rendition of options.mirrored) rendition.on('published', this.#onMirrored);
    for (const rendition of options.own) rendition.on('published', this.#onOwn);
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
    this.#timer.unref();
  }

  /** Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const rendition of this.#options.mirrored) rendition.off('published', this.#onMirrored);
    for (const rendition of this.#options.own) rendition.off('published', this.#onOwn);
  }

  #check(): void {
    if (this.#closed || this.#mirroredAt === undefined || this.#ownAt === undefined) return;
    if (this.#options.mirrored.some((r) => r.ended)) return;
    const targetMs = Math.max(1, ...this.#options.mirrored.map((r) => r.status().targetDuration)) * 1000;
    const now = this.#now();
    const silentMs = now - this.#mirroredAt;
    if (silentMs < 3 * targetMs || now - this.#ownAt > targetMs) return;
    this.close();
    this.#options.onSilent(silentMs);
  }
}
