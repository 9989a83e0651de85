/**
 * Requests held until the packager publishes what they ask for: blocking
 * playlist reloads (`_HLS_msn` / `_HLS_part`) and requests for the hinted
 * next part file. Each resolves true when satisfied, false on timeout or close.
 */

interface PlaylistWaiter {
  msn: number;
  /** undefined: the whole segment. */
  part: number | undefined;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

interface PartWaiter {
  partNumber: number;
  resolve: (ok: boolean) => void;
  timer: NodeJS.Timeout;
}

export class PublishWaits {
  readonly #playlist = new Set<PlaylistWaiter>();
  readonly #parts = new Set<PartWaiter>();

  waitForPlaylist(msn: number, part: number | undefined, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter: PlaylistWaiter = {
        msn,
        part,
        resolve,
        timer: setTimeout(() => {
          this.#playlist.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.#playlist.add(waiter);
    });
  }

  waitForPart(partNumber: number, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const waiter: PartWaiter = {
        partNumber,
        resolve,
        timer: setTimeout(() => {
          this.#parts.delete(waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.#parts.add(waiter);
    });
  }

  /** After a publish: releases the waits now satisfied. */
  wake(satisfies: (msn: number, part: number | undefined) => boolean, nextPartNumber: number): void {
    for (const waiter of this.#playlist) {
      if (satisfies(waiter.msn, waiter.part)) {
        clearTimeout(waiter.timer);
        this.#playlist.delete(waiter);
        waiter.resolve(true);
      }
    }
    for (const waiter of this.#parts) {
      if (waiter.partNumber < nextPartNumber) {
        clearTimeout(waiter.timer);
        this.#parts.delete(waiter);
        waiter.resolve(true);
      }
    }
  }

  /** Ended (playlist waits resolve `playlistResult`) or closed (false); part waits always resolve false. */
  wakeAll(playlistResult: boolean): void {
    for (const waiter of this.#playlist) {
      clearTimeout(waiter.timer);
      waiter.resolve(playlistResult);
    }
    this.#playlist.clear();
    for (const waiter of this.#parts) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.#parts.clear();
  }
}
