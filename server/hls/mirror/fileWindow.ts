/**
 * Which served files may go: each file remembers the newest segment (msn)
 * that uses it — parts and segment files their own, an init section the
 * last segment mapped to it — and is deleted once that segment is
 * `retainSegments` behind the first one the playlist lists (players holding
 * an older playlist may still fetch it for a while, as with the packager).
 */
import type { ParsedMediaPlaylist } from './playlistText.js';

export class FileWindow {
  readonly #lastUse = new Map<string, number>();

  /** Everything a published playlist names. */
  note(playlist: ParsedMediaPlaylist): void {
    for (const segment of [...playlist.segments, ...(playlist.inProgress ? [playlist.inProgress] : [])]) {
      const files = [segment.mapUri, ...segment.parts.map((p) => p.uri), ...('uri' in segment ? [segment.uri] : [])];
      for (const file of files) this.#lastUse.set(file, Math.max(segment.msn, this.#lastUse.get(file) ?? -1));
    }
  }

  /** Files now `retainSegments` behind the window, forgotten here for the caller to delete. */
  takeExpired(mediaSequence: number, retainSegments: number): string[] {
    const expired: string[] = [];
    for (const [file, msn] of this.#lastUse) {
      if (msn < mediaSequence - retainSegments) {
        expired.push(file);
        this.#lastUse.delete(file);
      }
    }
    return expired;
  }

  /** Every file remembered (to remove them all); the window is emptied. */
  takeAll(): string[] {
    const files = [...this.#lastUse.keys()];
    this.#lastUse.clear();
    return files;
  }
}
