/**
 * What the /hls routes need of a rendition they serve live: its published
 * playlist, where it ends, what the master playlist lists for it, and the
 * requests it holds (blocking reloads, the hinted next part). Implemented by
 * the packager (this node's own output) and by the mirror of another
 * origin's output (mirror/mirroredRendition.ts), so both are served alike.
 */
import type { RenditionInfo } from './renditionPlaylist.js';

export interface ServedRenditionStatus {
  /** Last published part: msn and index within its segment (-1 / -1 before any). */
  lastMsn: number;
  lastPart: number;
  /** msn of the last complete segment (-1 before any). */
  lastCompleteMsn: number;
  targetDuration: number;
  partTarget: number | undefined;
  /** msn of the first listed segment. */
  mediaSequence: number;
}

export interface ServedRendition {
  readonly closed: boolean;
  readonly ended: boolean;
  /** The media playlist text last published. */
  readonly playlist: string | undefined;
  /** When the first playlist was published (ms since epoch), if it was. */
  readonly readySince: number | undefined;
  status(): ServedRenditionStatus;
  /** What the master playlist lists for it; undefined until known. */
  info(): RenditionInfo | undefined;
  /** Blocking reload: true once part `part` of segment `msn` (or, without part, the whole segment) is published, or on end. */
  waitFor(msn: number, part: number | undefined, timeoutMs: number): Promise<boolean>;
  /** For a file not there yet: true once it should exist (it is the hinted next part and was published), false otherwise. */
  waitForFile(fileName: string, timeoutMs: number): Promise<boolean>;
  on(event: 'published', listener: () => void): unknown;
  off(event: 'published', listener: () => void): unknown;
}

export type ServedRenditions = Readonly<Record<string, ServedRendition>>;
