/**
 * Requests held until the packager publishes what they ask for: blocking
 * playlist reloads (`_HLS_msn` / `_HLS_part`) and requests for the hinted
 * next part file. Each resolves true when satisfied, false on timeout or close.
 */
import { PART_FILE } from './packagerFiles.js';

/** Where a published playlist ends: last part (msn, index in its segment), last complete segment (-1 where none). */
export interface PublishedEdge {
  lastMsn: number;
  lastPart: number;
  lastCompleteMsn: number;
}

/**
 * The blocking-reload rule (RFC 8216bis §6.2.5.2): the playlist has part
 * `part` of segment `msn` or a later one (a part index past the end of that
 * segment means part 0 of the next one), or without `part`, the complete
 * segment `msn` or later.
 */
export function edgeSatisfies(edge: PublishedEdge, msn: number, part: number | undefined): boolean {
  if (part === undefined) return edge.lastCompleteMsn >= msn;
  return edge.lastMsn > msn || (edge.lastMsn === msn && edge.lastPart >= part);
}

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

  /** A blocking reload against `edge` (edgeSatisfies): true at once when satisfied or `ended`, false when `closed`, else held. */
  waitForEdge(edge: PublishedEdge, state: { ended: boolean; closed: boolean }, msn: number, part: number | undefined, timeoutMs: number): Promise<boolean> {
    if (state.ended || edgeSatisfies(edge, msn, part)) return Promise.resolve(true);
    if (state.closed) return Promise.resolve(false);
    return this.waitForPlaylist(msn, part, timeoutMs);
  }

  /**
   * For a request of a part file that does not exist yet: if it is the
   * hinted next part of this stream (or the one after), waits until it is
   * published. True when the file should now exist, false if it is not an
   * upcoming part of the stream (`hint` undefined: none is), on timeout or close.
   */
  waitForHintedPart(fileName: string, hint: { sessionId: string; nextPartNumber: number } | undefined, timeoutMs: number): Promise<boolean> {
    const match = PART_FILE.exec(fileName);
    if (!match || !hint || match[1] !== hint.sessionId) return Promise.resolve(false);
    // (A publisher that ended or closed passes no hint.)
    const partNumber = Number(match[2]);
    if (partNumber < hint.nextPartNumber) return Promise.resolve(true);
    if (partNumber > hint.nextPartNumber + 1) return Promise.resolve(false);
    return this.waitForPart(partNumber, timeoutMs);
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

  /** The hinted parts changed stream (a mirror took over): held part requests resolve false (the player reloads the playlist). */
  dropParts(): void {
    for (const waiter of this.#parts) {
      clearTimeout(waiter.timer);
      waiter.resolve(false);
    }
    this.#parts.clear();
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

/** What waitForMaster needs of a rendition's packager. */
export interface PublishingRendition {
  on(event: 'published', listener: () => void): unknown;
  off(event: 'published', listener: () => void): unknown;
}

/** Renditions come and go while a room starts (a re-plan replaces them): look again this often. */
const MASTER_RECHECK_MS = 250;

/**
 * Holds a master playlist request while a live room's renditions start, so a
 * player opened at go-live gets the master the moment it exists instead of a
 * 503 and a retry a second later. `master()` is asked again on every publish
 * of any rendition (`renditions()` gives the current ones) and every
 * MASTER_RECHECK_MS; resolves its text, or undefined on timeout, once
 * `renditions()` is empty (the room stopped), or when `signal` aborts (the
 * client went away).
 */
export function waitForMaster(
  master: () => string | undefined,
  renditions: () => readonly PublishingRendition[],
  timeoutMs: number,
  signal: AbortSignal,
): Promise<string | undefined> {
  return new Promise((resolve) => {
    let watched: ReturnType<typeof renditions> = [];
    const finish = (text: string | undefined) => {
      clearTimeout(deadline);
      clearInterval(recheck);
      signal.removeEventListener('abort', onAbort);
      for (const rendition of watched) rendition.off('published', check);
      watched = [];
      resolve(text);
    };
    const check = () => {
      const text = master();
      const current = renditions();
      if (text !== undefined || current.length === 0) {
        finish(text);
        return;
      }
      for (const rendition of watched) if (!current.includes(rendition)) rendition.off('published', check);
      for (const rendition of current) if (!watched.includes(rendition)) rendition.on('published', check);
      watched = current;
    };
    const onAbort = () => finish(undefined);
    const deadline = setTimeout(() => finish(undefined), timeoutMs);
    const recheck = setInterval(check, MASTER_RECHECK_MS);
    signal.addEventListener('abort', onAbort, { once: true });
    if (signal.aborted) finish(undefined);
    else check();
  });
}
