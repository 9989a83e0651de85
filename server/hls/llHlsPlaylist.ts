/**
 * Pure builders for LL-HLS playlists (RFC 8216bis, "HTTP Live Streaming 2nd
 * Edition", with its Low-Latency extensions).
 *
 * The media playlist carries both worlds at once: classic clients read the
 * segments (EXTINF + URI) and ignore the LL tags; LL clients use the parts
 * (EXT-X-PART), the preload hint and blocking reloads (EXT-X-SERVER-CONTROL).
 *
 * Rules applied here (spec section in brackets):
 *  - EXT-X-VERSION is the lowest the features need: 6 (EXT-X-MAP in a
 *    non-I-frame playlist) [§8]. No LL tag requires a higher one, and a higher
 *    one would make older classic clients reject the playlist.
 *  - EXT-X-TARGETDURATION: an integer >= every EXTINF rounded to the nearest
 *    integer [§4.4.3.1]; see `targetDurationFor`.
 *  - HOLD-BACK >= 3 × target duration; PART-HOLD-BACK >= 2 × (SHOULD 3 ×)
 *    part target [§4.4.3.8]; defaults are exactly 3 ×.
 *  - EXT-X-DISCONTINUITY / EXT-X-MAP / EXT-X-PROGRAM-DATE-TIME of a segment go
 *    before its first EXT-X-PART [§4.4.4.9]; EXT-X-MAP is repeated whenever the
 *    init section changes (after each discontinuity).
 *  - EXT-X-PART tags are listed only for segments that end within three
 *    target durations of the end of the playlist [§6.2.2].
 *  - No EXT-X-PRELOAD-HINT with EXT-X-ENDLIST [§4.4.5.3].
 */

export interface PlaylistPart {
  uri: string;
  /** Seconds. */
  duration: number;
  independent?: boolean;
  /** The part could not be stored (e.g. disk full). */
  gap?: boolean;
}

export interface PlaylistSegment {
  uri: string;
  /** Seconds. */
  duration: number;
  /** URI of the init section (EXT-X-MAP) this segment needs. */
  mapUri: string;
  /** Preceded by EXT-X-DISCONTINUITY. */
  discontinuity?: boolean;
  /** Wall-clock time of the first sample, ms since the epoch. */
  programDateTime?: number;
  /** All parts of the segment (the builder decides whether to list them). */
  parts?: readonly PlaylistPart[];
  /** The segment could not be stored: EXT-X-GAP. */
  gap?: boolean;
}

/** The segment being filled: only parts so far. */
export interface InProgressSegment {
  mapUri: string;
  discontinuity?: boolean;
  programDateTime?: number;
  parts: readonly PlaylistPart[];
}

export interface RenditionReport {
  /** Relative to the media playlist, e.g. '../480p/index.m3u8'. */
  uri: string;
  lastMsn: number;
  lastPart?: number;
}

export interface MediaPlaylistInput {
  /** Integer seconds; see `targetDurationFor`. */
  targetDuration: number;
  /** Part target duration in seconds; omit for a playlist without parts. */
  partTarget?: number;
  /** Default 3 × partTarget. */
  partHoldBack?: number;
  /** Default 3 × targetDuration. */
  holdBack?: number;
  /** Media sequence number of the first listed segment (or of the in-progress one). */
  mediaSequence: number;
  discontinuitySequence?: number;
  /** Complete segments, oldest first. */
  segments: readonly PlaylistSegment[];
  inProgress?: InProgressSegment;
  /** URI of the next part (EXT-X-PRELOAD-HINT TYPE=PART). Ignored when ended. */
  preloadHintUri?: string;
  ended?: boolean;
  /** 'EVENT' for a DVR playlist that never drops segments; omit for sliding live. */
  playlistType?: 'EVENT' | 'VOD';
  /** Default true: every segment starts with a keyframe. */
  independentSegments?: boolean;
  /** Parts are listed for segments ending at most this far from the end. Default 3 × targetDuration. */
  partWindowSec?: number;
  renditionReports?: readonly RenditionReport[];
  /** Default 6. */
  version?: number;
}

/** Up to `decimals` decimals, trailing zeros trimmed (at least one decimal). */
export function formatDecimal(value: number, decimals = 5): string {
  const fixed = value.toFixed(decimals);
  const trimmed = fixed.replace(/(\.\d*?[1-9])0+$/, '$1').replace(/\.0+$/, '.0');
  return trimmed;
}

/** Seconds for EXTINF / part DURATION: always 5 decimals. */
const formatDuration = (seconds: number): string => seconds.toFixed(5);

/** Rounds up to the next millisecond (targets must not be below any duration). */
export function ceilMs(seconds: number): number {
  return Math.ceil(seconds * 1000 - 1e-6) / 1000;
}

/**
 * Smallest valid EXT-X-TARGETDURATION for these segment durations: every
 * EXTINF, rounded to the nearest integer, must be <= it; at least 1.
 * 1.0 s segments → 1; a 1.5 s segment → 2.
 */
export function targetDurationFor(durations: Iterable<number>): number {
  let target = 1;
  for (const d of durations) target = Math.max(target, Math.round(d));
  return target;
}

/** `_HLS_part` may run at most this many parts ahead [§6.2.5.2]. */
export function advancePartLimit(partTarget: number): number {
  return partTarget < 1 ? 3 / partTarget : 3;
}

function quoted(value: string): string {
  if (/["\r\n]/.test(value)) throw new Error(`invalid quoted-string ${JSON.stringify(value)}`);
  return `"${value}"`;
}

function partLine(part: PlaylistPart): string {
  let line = `#EXT-X-PART:DURATION=${formatDuration(part.duration)},URI=${quoted(part.uri)}`;
  if (part.independent) line += ',INDEPENDENT=YES';
  if (part.gap) line += ',GAP=YES';
  return line;
}

export function buildMediaPlaylist(input: MediaPlaylistInput): string {
  const td = input.targetDuration;
  if (!Number.isInteger(td) || td < 1) throw new RangeError(`targetDuration must be an integer >= 1, got ${td}`);
  const lines: string[] = ['#EXTM3U', `#EXT-X-VERSION:${input.version ?? 6}`, `#EXT-X-TARGETDURATION:${td}`];
  const lowLatency = input.partTarget !== undefined;
  if (lowLatency) {
    const partTarget = input.partTarget!;
    if (!(partTarget > 0)) throw new RangeError('partTarget must be > 0');
    const partHoldBack = input.partHoldBack ?? ceilMs(3 * partTarget);
    const holdBack = input.holdBack ?? 3 * td;
    lines.push(`#EXT-X-PART-INF:PART-TARGET=${formatDecimal(partTarget)}`);
    lines.push(`#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${formatDecimal(partHoldBack)},HOLD-BACK=${formatDecimal(holdBack)}`);
  }
  lines.push(`#EXT-X-MEDIA-SEQUENCE:${input.mediaSequence}`);
  lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${input.discontinuitySequence ?? 0}`);
  if (input.playlistType) lines.push(`#EXT-X-PLAYLIST-TYPE:${input.playlistType}`);
  if (input.independentSegments ?? true) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');

  // Which segments still list their parts: those ending within the part window.
  const partWindow = input.partWindowSec ?? 3 * td;
  const segments = input.segments;
  let firstWithParts = segments.length;
  if (lowLatency) {
    let distance = input.inProgress ? input.inProgress.parts.reduce((sum, p) => sum + p.duration, 0) : 0;
    for (let i = segments.length - 1; i >= 0; i--) {
      if (distance > partWindow + 1e-9) break;
      firstWithParts = i;
      distance += segments[i]!.duration;
    }
  }

  let currentMap: string | undefined;
  const segmentHeader = (seg: { mapUri: string; discontinuity?: boolean; programDateTime?: number }): void => {
    if (seg.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (seg.mapUri !== currentMap) {
      lines.push(`#EXT-X-MAP:URI=${quoted(seg.mapUri)}`);
      currentMap = seg.mapUri;
    }
    if (seg.programDateTime !== undefined) {
      lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(seg.programDateTime).toISOString()}`);
    }
  };

  segments.forEach((seg, i) => {
    segmentHeader(seg);
    if (i >= firstWithParts && seg.parts) for (const part of seg.parts) lines.push(partLine(part));
    if (seg.gap) lines.push('#EXT-X-GAP');
    lines.push(`#EXTINF:${formatDuration(seg.duration)},`);
    lines.push(seg.uri);
  });

  const ended = input.ended ?? false;
  if (lowLatency && input.inProgress && input.inProgress.parts.length > 0) {
    segmentHeader(input.inProgress);
    for (const part of input.inProgress.parts) lines.push(partLine(part));
  }
  if (lowLatency && !ended && input.preloadHintUri) {
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI=${quoted(input.preloadHintUri)}`);
  }
  if (lowLatency && !ended) {
    for (const report of input.renditionReports ?? []) {
      let line = `#EXT-X-RENDITION-REPORT:URI=${quoted(report.uri)},LAST-MSN=${report.lastMsn}`;
      if (report.lastPart !== undefined) line += `,LAST-PART=${report.lastPart}`;
      lines.push(line);
    }
  }
  if (ended) lines.push('#EXT-X-ENDLIST');
  return lines.join('\n') + '\n';
}

export interface VariantStream {
  /** Media playlist URI, relative to the master, e.g. '720p/index.m3u8'. */
  uri: string;
  /** Peak bits per second. */
  bandwidth: number;
  averageBandwidth?: number;
  width?: number;
  height?: number;
  /** RFC 6381 codec strings, e.g. ['avc1.64001f', 'mp4a.40.2']. */
  codecs: readonly string[];
  frameRate?: number;
  /** Optional NAME-less label for logs; not written. */
  name?: string;
}

export interface MasterPlaylistInput {
  variants: readonly VariantStream[];
  /** Default true. */
  independentSegments?: boolean;
  /** Default 6. */
  version?: number;
}

/** Multivariant ("master") playlist, variants sorted by bandwidth, highest first. */
export function buildMasterPlaylist(input: MasterPlaylistInput): string {
  const lines = ['#EXTM3U', `#EXT-X-VERSION:${input.version ?? 6}`];
  if (input.independentSegments ?? true) lines.push('#EXT-X-INDEPENDENT-SEGMENTS');
  const variants = [...input.variants].sort((a, b) => b.bandwidth - a.bandwidth);
  for (const v of variants) {
    const attrs = [`BANDWIDTH=${Math.max(1, Math.round(v.bandwidth))}`];
    if (v.averageBandwidth !== undefined) attrs.push(`AVERAGE-BANDWIDTH=${Math.max(1, Math.round(v.averageBandwidth))}`);
    if (v.width !== undefined && v.height !== undefined && v.width > 0 && v.height > 0) {
      attrs.push(`RESOLUTION=${v.width}x${v.height}`);
    }
    if (v.codecs.length > 0) attrs.push(`CODECS=${quoted(v.codecs.join(','))}`);
    if (v.frameRate !== undefined && v.frameRate > 0) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`);
    lines.push(v.uri);
  }
  return lines.join('\n') + '\n';
}
