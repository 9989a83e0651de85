/**
 * Cuts a fragmented-MP4 box stream into LL-HLS parts and segments.
 *
 * Input: the top-level boxes of one rendition's fMP4 byte stream (`BoxReader`):
 * an init section (ftyp + moov) followed by fragments (moof + mdat, optionally
 * preceded by styp/prft/emsg). Every fragment becomes one **part**; a new
 * **segment** starts at an independent fragment (its first video sample is a
 * sync sample) once the open segment has reached the target duration (minus a
 * small tolerance, so a keyframe a frame early does not double the segment).
 * The encoder's GOP therefore decides the segment boundaries and the muxer's
 * `-frag_duration` the part boundaries; durations come from the video track's
 * timescale (the first track when there is no video).
 *
 * Numbering: media sequence numbers (msn) and a stream-wide part counter
 * (`partNumber`, used for file names so a preload hint never has to guess
 * which segment the next part will belong to) keep counting across producer
 * restarts; the part index restarts at 0 in every segment. A new init section
 * (after `restart()`, or a moov appearing mid-stream) makes the next segment a
 * discontinuity. Fragments before the first independent fragment of an init
 * are dropped: a segment must start with a keyframe.
 *
 * Pure state machine: `push(box)` returns what happened, no I/O.
 */
import { Mp4ParseError, type Mp4Box } from './mp4Boxes.js';
import { parseMoof, trackDefaults, type TrackDefaults } from './mp4Moof.js';
import { parseMoov, type MoovInfo } from './mp4Moov.js';

export interface SegmenterOptions {
  /** Segment target duration in seconds. Default 1. */
  segmentTargetSec?: number;
  /**
   * A segment may be cut this much (seconds) before the target when an
   * independent fragment arrives. Default 10 % of the target.
   */
  segmentToleranceSec?: number;
  /** First media sequence number. Default 0. */
  firstMsn?: number;
  /** Keeps media sequence numbers the same across the renditions of one stream (see MsnAligner). */
  msnAligner?: MsnAligner;
}

/**
 * Shared by the renditions of one stream (one ffmpeg writes them all, on one
 * timeline): a segment starting at the same media time gets the same media
 * sequence number everywhere, which players switching renditions and
 * EXT-X-RENDITION-REPORT rely on. Renditions can start a keyframe apart —
 * e.g. a copied stream keeps a first keyframe that the decoder feeding the
 * encoded renditions could not use — so a rendition's very first segment
 * takes the number another rendition gave that start time.
 */
export class MsnAligner {
  readonly #starts = new Map<number, number>();
  /** Half a frame at 30 fps or so: the same keyframe on different tracks. */
  readonly #toleranceSec: number;

  constructor(toleranceSec = 0.05) {
    this.#toleranceSec = toleranceSec;
  }

  /** A segment `msn` opened at `startSec` (media time of the first sample). */
  opened(msn: number, startSec: number): void {
    this.#starts.set(msn, startSec);
    if (this.#starts.size > 64) this.#starts.delete(this.#starts.keys().next().value!);
  }

  /** The number another rendition gave a segment starting at `startSec`, if any. */
  numberFor(startSec: number): number | undefined {
    for (const [msn, start] of this.#starts) if (Math.abs(start - startSec) <= this.#toleranceSec) return msn;
    return undefined;
  }
}

export interface InitSection {
  /** ftyp + moov bytes, ready to serve as the EXT-X-MAP. */
  data: Buffer;
  moov: MoovInfo;
  /** Discontinuity number: 0 for the first init, +1 per restart. */
  discontinuity: number;
  /** Track whose timescale measures durations (video if any). */
  timingTrackId: number;
  timescale: number;
}

export interface CmafPart {
  msn: number;
  /** Index within its segment (0 = first). */
  index: number;
  /** Stream-wide part counter. */
  partNumber: number;
  data: Buffer;
  /** In the timing track's timescale. */
  startTicks: number;
  durationTicks: number;
  /** Seconds. */
  duration: number;
  independent: boolean;
  /** Discontinuity number of the init this part belongs to. */
  discontinuity: number;
  /** Video samples in the part; 0 without video. */
  videoSamples: number;
  /** Most common video frame duration in ticks (frame-rate measurement); 0 without video. */
  frameDurationTicks: number;
}

export interface CmafSegment {
  msn: number;
  parts: CmafPart[];
  durationTicks: number;
  duration: number;
  discontinuity: number;
  /** First segment after a new init (not for the very first one). */
  startsDiscontinuity: boolean;
  bytes: number;
}

export type SegmenterEvent =
  | { type: 'init'; init: InitSection }
  /** A segment was closed (by the next segment, `flush()` or a new init). */
  | { type: 'segment'; segment: CmafSegment }
  | { type: 'part'; part: CmafPart; segmentStart: boolean; startsDiscontinuity: boolean }
  /** Something was dropped or ignored; informational. */
  | { type: 'warning'; message: string };

interface OpenSegment {
  msn: number;
  timescale: number;
  parts: CmafPart[];
  durationTicks: number;
  discontinuity: number;
  startsDiscontinuity: boolean;
  bytes: number;
}

/** Boxes that may precede a moof and belong to its fragment. */
const FRAGMENT_PREFIX_BOXES = new Set(['styp', 'prft', 'emsg', 'sidx']);
/** Boxes that carry nothing a live packager needs. */
const IGNORED_BOXES = new Set(['free', 'skip', 'mfra', 'meta', 'uuid', 'udta', 'pdin']);

export class CmafSegmenter {
  readonly segmentTargetSec: number;
  readonly segmentToleranceSec: number;
  #init: InitSection | undefined;
  #defaults: Map<number, TrackDefaults> = new Map();
  #videoTrackId: number | undefined;
  #pendingFtyp: Buffer | undefined;
  #prefix: Buffer[] = [];
  #moof: { box: Mp4Box; prefix: Buffer[] } | undefined;
  #open: OpenSegment | undefined;
  #nextMsn: number;
  #nextPartNumber = 0;
  #discontinuity = -1;
  /** The next segment starts after a new init (not the first). */
  #discontinuityPending = false;
  /** Waiting for the first independent fragment of the current init. */
  #awaitingKeyframe = true;
  /** Fragments without timing-track samples, waiting for the next part. */
  #carry: { data: Buffer[]; seconds: number } = { data: [], seconds: 0 };
  /** End of the last part, timing-track ticks. */
  #endTicks = 0;
  /** `restart()` was called: the next init is new even if byte-identical. */
  #restartPending = false;
  /** Segments opened since any init was seen (a discontinuity needs a predecessor). */
  #segmentsOpened = 0;
  readonly #aligner: MsnAligner | undefined;

  constructor(options: SegmenterOptions = {}) {
    this.#aligner = options.msnAligner;
    this.segmentTargetSec = options.segmentTargetSec ?? 1;
    if (!(this.segmentTargetSec > 0)) throw new RangeError('segmentTargetSec must be > 0');
    this.segmentToleranceSec = options.segmentToleranceSec ?? this.segmentTargetSec * 0.1;
    this.#nextMsn = options.firstMsn ?? 0;
  }

  get init(): InitSection | undefined {
    return this.#init;
  }

  /** msn of the segment being filled, or of the next one if none is open. */
  get currentMsn(): number {
    return this.#open?.msn ?? this.#nextMsn;
  }

  /** Number the next part will get. */
  get nextPartNumber(): number {
    return this.#nextPartNumber;
  }

  /** Feeds one top-level box. */
  push(box: Mp4Box): SegmenterEvent[] {
    switch (box.type) {
      case 'ftyp':
        this.#pendingFtyp = box.data;
        return [];
      case 'moov':
        return this.#onMoov(box);
      case 'moof':
        if (this.#moof) {
          const dropped = this.#moof;
          this.#moof = { box, prefix: this.#takePrefix() };
          return [{ type: 'warning', message: `moof (${dropped.box.size} bytes) without mdat dropped` }];
        }
        this.#moof = { box, prefix: this.#takePrefix() };
        return [];
      case 'mdat':
        return this.#onMdat(box);
      default:
        if (FRAGMENT_PREFIX_BOXES.has(box.type)) {
          this.#prefix.push(box.data);
          return [];
        }
        if (IGNORED_BOXES.has(box.type)) return [];
        return [{ type: 'warning', message: `ignored top-level box '${box.type}'` }];
    }
  }

  /**
   * The producer restarted: closes the open segment and drops any half
   * fragment. The next init section starts a discontinuity.
   */
  restart(): SegmenterEvent[] {
    const events = this.flush();
    this.#moof = undefined;
    this.#prefix = [];
    this.#pendingFtyp = undefined;
    this.#awaitingKeyframe = true;
    this.#restartPending = true;
    return events;
  }

  /** Closes the open segment (end of stream). */
  flush(): SegmenterEvent[] {
    const events = this.#emitCarry();
    const open = this.#open;
    if (!open || open.parts.length === 0) return events;
    this.#open = undefined;
    events.push({ type: 'segment', segment: this.#close(open) });
    return events;
  }

  #takePrefix(): Buffer[] {
    const prefix = this.#prefix;
    this.#prefix = [];
    return prefix;
  }

  #onMoov(box: Mp4Box): SegmenterEvent[] {
    const events: SegmenterEvent[] = [];
    const moov = parseMoov(box);
    if (moov.tracks.length === 0) throw new Mp4ParseError('moov has no tracks');
    const ftyp = this.#pendingFtyp;
    this.#pendingFtyp = undefined;
    const data = ftyp ? Buffer.concat([ftyp, box.data]) : box.data;
    if (this.#init) {
      if (!this.#restartPending && this.#init.data.equals(data)) {
        // The same init repeated within one stream (some muxers do): nothing changes.
        return [];
      }
      // A new init mid-stream: treat like a restart.
      events.push(...this.flush());
      this.#moof = undefined;
    }
    const video = moov.tracks.find((t) => t.handler === 'vide');
    const timing = video ?? moov.tracks[0]!;
    if (!(timing.timescale > 0)) throw new Mp4ParseError(`track ${timing.trackId} has timescale 0`);
    this.#discontinuity += 1;
    // A discontinuity separates two segments: only if a segment came before.
    this.#discontinuityPending = this.#segmentsOpened > 0;
    this.#restartPending = false;
    this.#awaitingKeyframe = true;
    this.#defaults = trackDefaults(moov);
    this.#videoTrackId = video?.trackId;
    this.#init = { data, moov, discontinuity: this.#discontinuity, timingTrackId: timing.trackId, timescale: timing.timescale };
    events.push({ type: 'init', init: this.#init });
    return events;
  }

  #onMdat(box: Mp4Box): SegmenterEvent[] {
    const moof = this.#moof;
    this.#moof = undefined;
    if (!moof) return [{ type: 'warning', message: 'mdat without moof ignored' }];
    const init = this.#init;
    if (!init) return [{ type: 'warning', message: 'fragment before the init section dropped' }];

    const info = parseMoof(moof.box, this.#defaults);
    const timing = info.trafs.find((t) => t.trackId === init.timingTrackId);
    if (!timing || timing.sampleCount === 0) {
      // No samples of the timing track (an audio-only fragment: trailing
      // audio at the end, or video stalled): carry the bytes with the next
      // fragment; flush() or a long stall publishes them as a part of their own.
      if (this.#awaitingKeyframe) return [{ type: 'warning', message: 'fragment before the first keyframe dropped' }];
      let seconds = 0;
      for (const traf of info.trafs) {
        const track = init.moov.tracks.find((t) => t.trackId === traf.trackId);
        if (track && track.timescale > 0) seconds = Math.max(seconds, traf.duration / track.timescale);
      }
      this.#carry.data.push(...moof.prefix, moof.box.data, box.data);
      this.#carry.seconds += seconds;
      return this.#carry.seconds >= this.segmentTargetSec ? this.#emitCarry() : [];
    }
    const video = this.#videoTrackId === undefined ? undefined : info.trafs.find((t) => t.trackId === this.#videoTrackId);
    const independent = video ? video.firstSampleIsSync : true;

    const events: SegmenterEvent[] = [];
    if (this.#awaitingKeyframe) {
      if (!independent) {
        return [{ type: 'warning', message: 'fragment before the first keyframe dropped' }];
      }
      this.#awaitingKeyframe = false;
    }

    const timescale = init.timescale;
    const open = this.#open;
    let segmentStart = false;
    const targetTicks = (this.segmentTargetSec - this.segmentToleranceSec) * timescale;
    if (!open || this.#discontinuityPending || (independent && open.durationTicks >= targetTicks)) {
      if (open) {
        this.#open = undefined;
        events.push({ type: 'segment', segment: this.#close(open) });
      }
      const startSec = timing.baseMediaDecodeTime / timescale;
      // Only the very first segment may take another rendition's number: later
      // on, numbers must stay consecutive within this rendition's playlist.
      const aligned = this.#segmentsOpened === 0 ? this.#aligner?.numberFor(startSec) : undefined;
      if (aligned !== undefined && aligned > this.#nextMsn) this.#nextMsn = aligned;
      this.#aligner?.opened(this.#nextMsn, startSec);
      this.#segmentsOpened += 1;
      this.#open = {
        msn: this.#nextMsn++,
        timescale,
        parts: [],
        durationTicks: 0,
        discontinuity: init.discontinuity,
        startsDiscontinuity: this.#discontinuityPending,
        bytes: 0,
      };
      this.#discontinuityPending = false;
      segmentStart = true;
    }
    const carried = this.#carry.data;
    this.#carry = { data: [], seconds: 0 };
    const data = Buffer.concat([...carried, ...moof.prefix, moof.box.data, box.data]);
    events.push(
      this.#addPart(data, timing.baseMediaDecodeTime, timing.duration, independent, video?.sampleCount ?? 0, segmentStart, video?.typicalSampleDuration ?? 0),
    );
    return events;
  }

  #addPart(
    data: Buffer,
    startTicks: number,
    durationTicks: number,
    independent: boolean,
    videoSamples: number,
    segmentStart: boolean,
    frameDurationTicks = 0,
  ): SegmenterEvent {
    const segment = this.#open!;
    const part: CmafPart = {
      msn: segment.msn,
      index: segment.parts.length,
      partNumber: this.#nextPartNumber++,
      data,
      startTicks,
      durationTicks,
      duration: durationTicks / segment.timescale,
      independent,
      discontinuity: segment.discontinuity,
      videoSamples,
      frameDurationTicks,
    };
    segment.parts.push(part);
    segment.durationTicks += durationTicks;
    segment.bytes += data.length;
    this.#endTicks = startTicks + durationTicks;
    return { type: 'part', part, segmentStart, startsDiscontinuity: segmentStart && segment.startsDiscontinuity };
  }

  /** Publishes carried timing-track-less fragments as a part of the open segment. */
  #emitCarry(): SegmenterEvent[] {
    const carry = this.#carry;
    this.#carry = { data: [], seconds: 0 };
    if (carry.data.length === 0 || !this.#open) return [];
    const ticks = Math.round(carry.seconds * this.#open.timescale);
    return [this.#addPart(Buffer.concat(carry.data), this.#endTicks, ticks, false, 0, false)];
  }

  #close(open: OpenSegment): CmafSegment {
    const timescale = open.timescale;
    return {
      msn: open.msn,
      parts: open.parts,
      durationTicks: open.durationTicks,
      duration: open.durationTicks / timescale,
      discontinuity: open.discontinuity,
      startsDiscontinuity: open.startsDiscontinuity,
      bytes: open.bytes,
    };
  }
}
