/**
 * One rendition's playlist model: the init sections, the segments and parts
 * in the window (and those retired behind it, until their files go), the
 * segment being filled, target durations, discontinuities and program date
 * times, and the media playlist text rendered from them. No I/O: the
 * RenditionPackager stores the files this model names and publishes what it
 * renders.
 */
import type { CmafPart, CmafSegment, InitSection } from './cmafSegmenter.js';
import { buildMediaPlaylist, ceilMs, type PlaylistPart, type PlaylistSegment, type RenditionReport } from './llHlsPlaylist.js';

export interface RenditionInfo {
  codecs: string[];
  width?: number;
  height?: number;
  frameRate?: number;
  /** Peak segment bitrate (or declared, if higher), bits/s. */
  bandwidth: number;
  /** Mean bitrate over the recent segments; undefined before the first complete segment. */
  averageBandwidth?: number;
}

/** The segment being filled. */
interface InProgress {
  msn: number;
  mapUri: string;
  discontinuity: boolean;
  /** Discontinuity sequence number (tags up to and including this segment's). */
  dsn: number;
  programDateTime: number | undefined;
  parts: PlaylistPart[];
  partFiles: string[];
  videoSamples: number;
}

interface PublishedSegment extends InProgress {
  uri: string;
  duration: number;
  gap: boolean;
  bytes: number;
}

export interface RenditionPlaylistOptions {
  sessionId: string;
  segmentTargetSec: number;
  liveWindowSegments: number;
  dvrWindowSec: number;
  targetDuration: number;
  partTargetSec: number | undefined;
  partHoldBackSec: number | undefined;
  retainSegments: number | undefined;
  programDateTime: boolean;
  declaredBandwidth: number;
  warn: (message: string) => void;
}

/** Where the playlist ends: last part (msn, index in its segment), last complete segment. */
export interface PlaylistEdge {
  lastMsn: number;
  lastPart: number;
  lastCompleteMsn: number;
}

export class RenditionPlaylist {
  readonly #sessionId: string;
  readonly #segmentTargetSec: number;
  readonly #liveWindowSegments: number;
  readonly #dvrWindowSec: number;
  readonly #programDateTime: boolean;
  readonly #declaredBandwidth: number;
  readonly #retainSegmentsOption: number | undefined;
  readonly #partHoldBackOption: number | undefined;
  readonly #warn: (message: string) => void;

  #targetDuration: number;
  /** PART-TARGET as configured, or measured from the first segment. */
  #basePartTarget: number | undefined;
  #partTargetFixed: boolean;
  /** The longest part still listed, if longer than the base (an input gap: see #listedPartTarget). */
  #longPartTarget: number | undefined;
  #init: InitSection | undefined;
  #mapUri: string | undefined;
  #writtenInits: string[] = [];
  /** PDT anchor of the current init: wall ms at timing-track tick `ticks`. */
  #anchor: { wallMs: number; ticks: number; timescale: number } | undefined;
  #segments: PublishedSegment[] = [];
  #retired: PublishedSegment[] = [];
  /** Files of segments left out before they were ever listed: deleted at once. */
  #unlisted: string[] = [];
  /** Segments (in order) whose part files still exist. */
  #withPartFiles: PublishedSegment[] = [];
  #inProgress: InProgress | undefined;
  #dsn = 0;
  /** Typical video frame duration of the latest part (timing-track ticks). */
  #frameDurationTicks = 0;
  /** Number of the part after the last one in the model (the preload hint). */
  #nextPartNumber = 0;
  /** A playlist was published (PART-TARGET changes are then worth a warning). */
  publishedOnce = false;

  constructor(options: RenditionPlaylistOptions) {
    this.#sessionId = options.sessionId;
    this.#segmentTargetSec = options.segmentTargetSec;
    this.#liveWindowSegments = options.liveWindowSegments;
    this.#dvrWindowSec = options.dvrWindowSec;
    this.#targetDuration = options.targetDuration;
    this.#basePartTarget = options.partTargetSec;
    this.#partTargetFixed = options.partTargetSec !== undefined;
    this.#partHoldBackOption = options.partHoldBackSec;
    this.#retainSegmentsOption = options.retainSegments;
    this.#programDateTime = options.programDateTime;
    this.#declaredBandwidth = options.declaredBandwidth;
    this.#warn = options.warn;
  }

  get targetDuration(): number {
    return this.#targetDuration;
  }

  /**
   * PART-TARGET now: the base, or the longest part the playlist still lists if
   * that is longer. A gap in the input (the publisher froze, a backup switch)
   * ends up as one long part; every listed part must fit PART-TARGET, but
   * keeping it raised for the rest of the stream would raise PART-HOLD-BACK
   * (3 × PART-TARGET) and every later player's latency with it, so it comes
   * back down once that part has left the playlist.
   */
  get partTarget(): number | undefined {
    if (this.#basePartTarget === undefined) return undefined;
    return Math.max(this.#basePartTarget, this.#longPartTarget ?? 0);
  }

  /** Recomputes #longPartTarget from the parts the playlist lists. */
  #listedPartTarget(): void {
    const base = this.#basePartTarget;
    if (base === undefined) return;
    let longest = 0;
    for (const segment of this.#segments) for (const part of segment.parts) longest = Math.max(longest, part.duration);
    for (const part of this.#inProgress?.parts ?? []) longest = Math.max(longest, part.duration);
    this.#longPartTarget = longest > base + 1e-9 ? ceilMs(longest) : undefined;
  }

  get mediaSequence(): number {
    return (this.#segments[0] ?? this.#inProgress)?.msn ?? 0;
  }

  get nextPartNumber(): number {
    return this.#nextPartNumber;
  }

  /** Something can be rendered: an init, a part target, and a segment or part (or the end of a published stream). */
  renderable(ended: boolean, published: boolean): boolean {
    if (this.#basePartTarget === undefined || !this.#init) return false;
    if (this.#segments.length === 0 && !this.#inProgress) return ended && published;
    return true;
  }

  /** The edge the rendered playlist shows (fields are -1 where there is none yet). */
  edge(previous: PlaylistEdge): PlaylistEdge {
    const edge = { ...previous };
    const open = this.#inProgress;
    const last = this.#segments[this.#segments.length - 1];
    if (open && open.parts.length > 0) {
      edge.lastMsn = open.msn;
      edge.lastPart = open.parts.length - 1;
    } else if (last) {
      edge.lastMsn = last.msn;
      edge.lastPart = last.parts.length - 1;
    }
    if (last) edge.lastCompleteMsn = last.msn;
    return edge;
  }

  initFile(discontinuity: number): string {
    return `init-${this.#sessionId}-${discontinuity}.mp4`;
  }

  /** An init section's file was stored (it is deleted once no segment needs it). */
  initWritten(file: string): void {
    this.#writtenInits.push(file);
  }

  /** Every file the model names (to remove them all); the model is emptied. */
  takeAllFiles(): string[] {
    const files = new Set<string>(this.#writtenInits);
    for (const s of [...this.#retired, ...this.#segments]) {
      files.add(s.uri);
      for (const f of s.partFiles) files.add(f);
    }
    for (const f of [...(this.#inProgress?.partFiles ?? []), ...this.#unlisted.splice(0)]) files.add(f);
    this.#retired = [];
    this.#segments = [];
    this.#withPartFiles = [];
    this.#inProgress = undefined;
    this.#writtenInits = [];
    this.#longPartTarget = undefined;
    return [...files];
  }

  /** What the master playlist needs (see RenditionPackager.info). */
  info(playlistWritten: boolean): RenditionInfo | undefined {
    const init = this.#init;
    const segments = [...this.#retired.slice(-6), ...this.#segments].filter((s) => !s.gap && s.duration > 0);
    if (!init || !playlistWritten) return undefined;
    if (segments.length === 0 && !(this.#declaredBandwidth > 0)) return undefined;
    const codecs = init.moov.tracks.filter((t) => t.handler === 'vide' || t.handler === 'soun').map((t) => t.codec);
    const video = init.moov.tracks.find((t) => t.handler === 'vide');
    let peak = 0;
    let bits = 0;
    let seconds = 0;
    for (const s of segments) {
      peak = Math.max(peak, (s.bytes * 8) / s.duration);
      bits += s.bytes * 8;
      seconds += s.duration;
    }
    const info: RenditionInfo = { codecs, bandwidth: Math.max(peak, this.#declaredBandwidth) };
    if (seconds > 0) info.averageBandwidth = bits / seconds;
    if (video?.width) info.width = video.width;
    if (video?.height) info.height = video.height;
    if (video && this.#frameDurationTicks > 0) {
      info.frameRate = Math.round((init.timescale / this.#frameDurationTicks) * 1000) / 1000;
    }
    return info;
  }

  onInit(init: InitSection): void {
    this.#init = init;
    this.#mapUri = this.initFile(init.discontinuity);
    this.#anchor = undefined;
  }

  onPart(part: CmafPart, segmentStart: boolean, startsDiscontinuity: boolean, failed: boolean, arrivalMs: number): void {
    const init = this.#init!;
    if (!this.#anchor) {
      // The fragment is complete now, so its first sample is about one part
      // old; after a restart, never before the end of what came earlier.
      const wallMs = Math.max(arrivalMs - part.duration * 1000, this.#programDateTimeEnd() ?? -Infinity);
      this.#anchor = { wallMs, ticks: part.startTicks, timescale: init.timescale };
    }
    if (segmentStart || !this.#inProgress) {
      if (startsDiscontinuity) this.#dsn += 1;
      const anchor = this.#anchor;
      this.#inProgress = {
        msn: part.msn,
        mapUri: this.#mapUri!,
        discontinuity: startsDiscontinuity,
        dsn: this.#dsn,
        programDateTime: this.#programDateTime ? Math.round(anchor.wallMs + ((part.startTicks - anchor.ticks) / anchor.timescale) * 1000) : undefined,
        parts: [],
        partFiles: [],
        videoSamples: 0,
      };
    }
    const open = this.#inProgress;
    const file = this.partFile(part);
    open.parts.push({ uri: file, duration: part.duration, independent: part.independent, gap: failed });
    open.partFiles.push(file);
    open.videoSamples += part.videoSamples;
    if (part.frameDurationTicks > 0) this.#frameDurationTicks = part.frameDurationTicks;
    this.#nextPartNumber = part.partNumber + 1;

    const before = this.partTarget;
    if (before !== undefined && part.duration > before + 1e-9) {
      const raised = ceilMs(part.duration);
      if (this.#partTargetFixed || this.publishedOnce) {
        this.#warn(`part of ${part.duration.toFixed(3)} s exceeds PART-TARGET ${before}; raising it to ${raised} while that part is listed`);
      }
      this.#longPartTarget = raised;
    }
  }

  /** Wall-clock end of the media published so far (ms), if known. */
  #programDateTimeEnd(): number | undefined {
    const open = this.#inProgress;
    if (open?.programDateTime !== undefined) {
      return open.programDateTime + open.parts.reduce((sum, p) => sum + p.duration, 0) * 1000;
    }
    const last = this.#segments[this.#segments.length - 1];
    return last?.programDateTime !== undefined ? last.programDateTime + last.duration * 1000 : undefined;
  }

  /** False if the segment's parts were not tracked (a warning says so). */
  onSegment(segment: CmafSegment, failed: boolean): boolean {
    const open = this.#inProgress;
    if (!open || open.msn !== segment.msn) {
      this.#warn(`segment ${segment.msn} closed without its parts being tracked`);
      return false;
    }
    this.#inProgress = undefined;
    const published: PublishedSegment = {
      msn: segment.msn,
      uri: this.segmentFile(segment.msn),
      duration: segment.duration,
      mapUri: open.mapUri,
      discontinuity: open.discontinuity,
      dsn: open.dsn,
      programDateTime: open.programDateTime,
      parts: open.parts,
      partFiles: open.partFiles,
      gap: failed,
      bytes: segment.bytes,
      videoSamples: open.videoSamples,
    };
    if (this.#isStartupHiccup(published)) {
      this.#warn(
        `first segment ${segment.msn} lasts ${segment.duration.toFixed(3)} s although key frames came sooner; left out so that EXT-X-TARGETDURATION stays ${this.#targetDuration}`,
      );
      this.#unlisted.push(published.uri, ...published.partFiles);
      return true;
    }
    this.#segments.push(published);
    this.#withPartFiles.push(published);

    if (this.#basePartTarget === undefined) {
      // Auto part target: the longest part of the first complete segment.
      this.#basePartTarget = ceilMs(Math.max(...segment.parts.map((p) => p.duration)));
    }
    const rounded = Math.round(segment.duration);
    if (rounded > this.#targetDuration) {
      this.#warn(
        `segment ${segment.msn} lasts ${segment.duration.toFixed(3)} s; raising EXT-X-TARGETDURATION from ${this.#targetDuration} to ${rounded} (check the encoder's GOP)`,
      );
      this.#targetDuration = rounded;
    }
    return true;
  }

  /**
   * A browser sends key frames only when asked, and right after it goes live
   * it may swallow a request (Chromium ignores requests < 300 ms after the
   * previous one; mediasoup then waits 1 s before asking again): the first
   * copied segment can run 2 s with its key frames bunched at its start.
   * Listing it would raise EXT-X-TARGETDURATION (and HOLD-BACK) for the whole
   * stream, so a first segment that is too long (over the target duration and
   * 1.5 segment targets) and holds more than one key frame is left out. An
   * encoder whose GOP really is longer has one key frame per segment and
   * raises the target as before.
   */
  #isStartupHiccup(segment: PublishedSegment): boolean {
    // No player has seen it: playlist requests are held until the first complete segment (hlsRoutes.ts).
    if (this.#segments.length > 0 || this.#retired.length > 0) return false;
    if (Math.round(segment.duration) <= this.#targetDuration || segment.duration < 1.5 * this.#segmentTargetSec) return false;
    return segment.parts.slice(1).some((part) => part.independent);
  }

  /** Moves segments that left the playlist window to the retired list. */
  trimWindow(): void {
    if (this.#dvrWindowSec === Infinity) return;
    const minDuration = 3 * this.#targetDuration;
    let total = this.#segments.reduce((sum, s) => sum + s.duration, 0);
    while (this.#segments.length > this.#liveWindowSegments) {
      const first = this.#segments[0]!;
      if (this.#dvrWindowSec > 0 && total - first.duration < this.#dvrWindowSec) break;
      // Never shrink a live playlist below three target durations (RFC 8216bis §6.2.2).
      if (total - first.duration < minDuration) break;
      this.#segments.shift();
      this.#retired.push(first);
      total -= first.duration;
    }
    if (this.#longPartTarget !== undefined) this.#listedPartTarget();
  }

  #retainSegments(): number {
    return this.#retainSegmentsOption ?? Math.max(2, Math.ceil((3 * this.#targetDuration) / this.#segmentTargetSec));
  }

  /** Files no playlist names any more, past their grace period: forgotten here, for the caller to delete. */
  takeExpired(): string[] {
    // Files of a segment that was never listed (see #isStartupHiccup).
    const doomed: string[] = this.#unlisted.splice(0);
    // Segment files: `retain` segments after they left the playlist.
    const retain = this.#retainSegments();
    while (this.#retired.length > retain) {
      const seg = this.#retired.shift()!;
      doomed.push(seg.uri, ...seg.partFiles);
      seg.partFiles = [];
    }
    // Part files: the part window (3 target durations) plus as long again, plus one.
    const partSegments = 2 * Math.ceil((3 * this.#targetDuration) / this.#segmentTargetSec) + 1;
    while (this.#withPartFiles.length > partSegments) {
      const seg = this.#withPartFiles.shift()!;
      doomed.push(...seg.partFiles);
      seg.partFiles = [];
      // Far outside the part window: never listed again (keeps long DVR windows light).
      seg.parts = [];
    }
    // Init sections no segment needs any more.
    if (doomed.length > 0) {
      const used = new Set<string>([...this.#retired, ...this.#segments].map((s) => s.mapUri));
      if (this.#inProgress) used.add(this.#inProgress.mapUri);
      if (this.#mapUri) used.add(this.#mapUri);
      const unused = this.#writtenInits.filter((f) => !used.has(f));
      this.#writtenInits = this.#writtenInits.filter((f) => used.has(f));
      doomed.push(...unused);
    }
    return doomed;
  }

  render(ended: boolean, renditionReports: readonly RenditionReport[] | undefined): string {
    const segments: PlaylistSegment[] = this.#segments.map((s) => ({
      uri: s.uri,
      duration: s.duration,
      mapUri: s.mapUri,
      discontinuity: s.discontinuity,
      programDateTime: s.programDateTime,
      parts: s.parts,
      gap: s.gap,
    }));
    const first = this.#segments[0] ?? this.#inProgress;
    const discontinuitySequence = first ? first.dsn - (first.discontinuity ? 1 : 0) : this.#dsn;
    const open = this.#inProgress;
    return buildMediaPlaylist({
      targetDuration: this.#targetDuration,
      partTarget: this.partTarget,
      partHoldBack: Math.max(this.#partHoldBackOption ?? 0, ceilMs(3 * this.partTarget!)),
      mediaSequence: first?.msn ?? 0,
      discontinuitySequence,
      segments,
      inProgress: open ? { mapUri: open.mapUri, discontinuity: open.discontinuity, programDateTime: open.programDateTime, parts: open.parts } : undefined,
      preloadHintUri: ended ? undefined : `part-${this.#sessionId}-${this.#nextPartNumber}.m4s`,
      ended: ended,
      playlistType: this.#dvrWindowSec === Infinity ? 'EVENT' : undefined,
      renditionReports: ended ? undefined : renditionReports,
    });
  }

  partFile(part: CmafPart): string {
    return `part-${this.#sessionId}-${part.partNumber}.m4s`;
  }

  segmentFile(msn: number): string {
    return `seg-${this.#sessionId}-${msn}.m4s`;
  }
}
