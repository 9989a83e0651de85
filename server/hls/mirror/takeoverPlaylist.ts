/**
 * The served playlist of a follower that took over from its leader (issue 12,
 * redundant origins): what was mirrored stays in the window (a segment the
 * leader had not finished is closed with the parts it has), then an
 * EXT-X-DISCONTINUITY and the follower's own packager output, renumbered to
 * continue the leader's media sequence (own segment m is served as
 * lastMirroredMsn + 1 + (m − first own msn taken)). File names are the own
 * packager's (another session id: they never collide with the leader's), so
 * the caller only links the files `absorb` returns into the served folder.
 * No I/O here.
 */
import { buildMediaPlaylist, ceilMs, type PlaylistPart, type RenditionReport } from '../llHlsPlaylist.js';
import type { ParsedMediaPlaylist } from './playlistText.js';

interface ServedSegment {
  msn: number;
  uri: string | undefined;
  duration: number;
  mapUri: string;
  discontinuity: boolean;
  programDateTime: number | undefined;
  parts: PlaylistPart[];
  gap: boolean;
}

/** A mirrored segment left unfinished by the leader: the caller writes `uri` as the concatenation of `parts`. */
export interface ClosedSegment {
  uri: string;
  parts: string[];
}

export class TakeoverPlaylist {
  /** The listed window; the last one may be unfinished (uri undefined). */
  #segments: ServedSegment[] = [];
  #discontinuitySequence: number;
  readonly #windowSegments: number;
  #targetDuration: number;
  #partTarget: number | undefined;
  #partHoldBack: number | undefined;
  readonly #playlistType: 'EVENT' | 'VOD' | undefined;
  /** The first served msn of the own output, and the own msn it maps to (set by the first absorb). */
  readonly #servedBase: number;
  #ownBase: number | undefined;
  #preloadHint: string | undefined;
  #ended = false;
  readonly #known = new Set<string>();
  readonly closedSegment: ClosedSegment | undefined;

  /** `seed`: the last mirrored playlist (undefined when nothing was mirrored yet). */
  constructor(seed: ParsedMediaPlaylist | undefined, options: { windowSegments?: number } = {}) {
    this.#discontinuitySequence = seed?.discontinuitySequence ?? 0;
    this.#targetDuration = seed?.targetDuration ?? 1;
    this.#partTarget = seed?.partTarget;
    this.#partHoldBack = seed?.partHoldBack;
    this.#playlistType = seed?.playlistType;
    for (const segment of seed?.segments ?? [])
      this.#segments.push({ ...segment, gap: segment.gap ?? false, discontinuity: segment.discontinuity ?? false, programDateTime: segment.programDateTime });
    const open = seed?.inProgress;
    if (open && open.parts.length > 0) {
      // Named like the leader's segments (its session id is in its part names); the leader is gone, so no collision.
      const sid = /^part-([a-z0-9]{1,16})-\d+\.m4s$/.exec(open.parts[0]!.uri)?.[1] ?? 'mirror';
      const uri = `seg-${sid}-${open.msn}.m4s`;
      this.closedSegment = { uri, parts: open.parts.map((p) => p.uri) };
      this.#segments.push({
        msn: open.msn,
        uri,
        duration: open.parts.reduce((sum, p) => sum + p.duration, 0),
        mapUri: open.mapUri,
        discontinuity: open.discontinuity,
        programDateTime: open.programDateTime,
        parts: [...open.parts],
        gap: open.parts.some((p) => p.gap === true),
      });
    }
    const last = this.#segments[this.#segments.length - 1];
    this.#servedBase = last ? last.msn + 1 : (seed?.mediaSequence ?? 0);
    this.#windowSegments = options.windowSegments ?? Math.max(3, seed?.segments.length ?? 0);
  }

  /**
   * Takes in the own packager's latest playlist; returns the files it names
   * that are new to the served playlist (to link into the served folder
   * before render() names them).
   */
  absorb(own: ParsedMediaPlaylist): string[] {
    const entries = [...own.segments, ...(own.inProgress ? [own.inProgress] : [])];
    // Start with the segment being filled (its parts answer the players' held reloads at once), else the next one.
    this.#ownBase ??= own.inProgress?.msn ?? (own.segments[own.segments.length - 1]?.msn ?? own.mediaSequence - 1) + 1;
    const ownBase = this.#ownBase;
    const files: string[] = [];
    const add = (file: string): void => {
      if (this.#known.has(file)) return;
      this.#known.add(file);
      files.push(file);
    };
    for (const entry of entries) {
      if (entry.msn < ownBase) continue;
      const msn = this.#servedBase + entry.msn - ownBase;
      let segment = this.#find(msn);
      if (!segment) {
        if (this.#segments.some((s) => s.msn > msn)) continue; // already left the window
        segment = {
          msn,
          uri: undefined,
          duration: 0,
          mapUri: entry.mapUri,
          discontinuity: entry.msn === ownBase || entry.discontinuity === true,
          programDateTime: entry.programDateTime,
          parts: [],
          gap: false,
        };
        this.#segments.push(segment);
      }
      add(entry.mapUri);
      // Old segments are listed without their parts: keep the ones seen before.
      if (entry.parts.length > segment.parts.length) segment.parts = [...entry.parts];
      for (const part of segment.parts) if (!part.gap) add(part.uri);
      if ('uri' in entry) {
        segment.uri = entry.uri;
        segment.duration = entry.duration;
        segment.gap = entry.gap ?? false;
        if (!segment.gap) add(entry.uri);
      }
    }
    this.#targetDuration = Math.max(this.#targetDuration, own.targetDuration);
    if (own.partTarget !== undefined) this.#partTarget = ceilMs(Math.max(this.#partTarget ?? 0, own.partTarget));
    if (own.partHoldBack !== undefined) this.#partHoldBack = Math.max(this.#partHoldBack ?? 0, own.partHoldBack);
    this.#preloadHint = own.preloadHint;
    this.#ended = own.ended;
    this.#trim();
    return files;
  }

  /** Where the served playlist ends. */
  edge(): { lastMsn: number; lastPart: number; lastCompleteMsn: number } {
    const last = this.#segments[this.#segments.length - 1];
    const complete = this.#segments.filter((s) => s.uri !== undefined);
    const lastCompleteMsn = complete[complete.length - 1]?.msn ?? -1;
    if (!last) return { lastMsn: -1, lastPart: -1, lastCompleteMsn };
    return { lastMsn: last.msn, lastPart: last.parts.length - 1, lastCompleteMsn };
  }

  render(renditionReports: readonly RenditionReport[] | undefined): string {
    const complete = this.#segments.filter((s): s is ServedSegment & { uri: string } => s.uri !== undefined);
    const open = this.#segments.find((s) => s.uri === undefined);
    const first = this.#segments[0];
    return buildMediaPlaylist({
      targetDuration: this.#targetDuration,
      ...(this.#partTarget !== undefined ? { partTarget: this.#partTarget } : {}),
      ...(this.#partHoldBack !== undefined ? { partHoldBack: this.#partHoldBack } : {}),
      mediaSequence: first?.msn ?? this.#servedBase,
      discontinuitySequence: this.#discontinuitySequence,
      segments: complete,
      inProgress: open && open.parts.length > 0 ? open : undefined,
      ...(this.#preloadHint !== undefined ? { preloadHintUri: this.#preloadHint } : {}),
      ended: this.#ended,
      ...(this.#playlistType !== undefined ? { playlistType: this.#playlistType } : {}),
      ...(renditionReports ? { renditionReports } : {}),
    });
  }

  #find(msn: number): ServedSegment | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) if (this.#segments[i]!.msn === msn) return this.#segments[i];
    return undefined;
  }

  /** Keeps `windowSegments` complete segments (an EVENT playlist keeps all); what leaves counts its discontinuity. */
  #trim(): void {
    if (this.#playlistType === 'EVENT') return;
    while (this.#segments.filter((s) => s.uri !== undefined).length > this.#windowSegments) {
      const gone = this.#segments.shift()!;
      if (gone.discontinuity) this.#discontinuitySequence += 1;
    }
  }
}
