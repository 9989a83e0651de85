/**
 * Reads back the playlists our packager writes (llHlsPlaylist.ts): a media
 * playlist into segments, parts and tags, a master into its variants. The
 * mirror uses it to know which files a leader's playlist names and to
 * continue that playlist after a takeover. Only the tags the packager writes
 * are understood; anything else is ignored.
 */
import type { PlaylistPart, PlaylistSegment, RenditionReport, VariantStream } from '../llHlsPlaylist.js';

export interface ParsedSegment extends PlaylistSegment {
  msn: number;
  parts: PlaylistPart[];
}

export interface ParsedInProgress {
  msn: number;
  mapUri: string;
  discontinuity: boolean;
  programDateTime: number | undefined;
  parts: PlaylistPart[];
}

export interface ParsedMediaPlaylist {
  targetDuration: number;
  partTarget: number | undefined;
  partHoldBack: number | undefined;
  mediaSequence: number;
  discontinuitySequence: number;
  playlistType: 'EVENT' | 'VOD' | undefined;
  /** Complete segments, oldest first. */
  segments: ParsedSegment[];
  inProgress: ParsedInProgress | undefined;
  preloadHint: string | undefined;
  renditionReports: RenditionReport[];
  ended: boolean;
}

/** The attributes of a tag line (`KEY=value,KEY="quoted"`). */
export function tagAttributes(text: string): Map<string, string> {
  const attributes = new Map<string, string>();
  for (const match of text.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) {
    const value = match[2]!;
    attributes.set(match[1]!, value.startsWith('"') ? value.slice(1, -1) : value);
  }
  return attributes;
}

function numberOf(attributes: Map<string, string>, key: string): number | undefined {
  const raw = attributes.get(key);
  return raw === undefined || raw === '' || !Number.isFinite(Number(raw)) ? undefined : Number(raw);
}

/** Throws a TypeError for text that is not a media playlist. */
export function parseMediaPlaylist(text: string): ParsedMediaPlaylist {
  const lines = text.split('\n').map((line) => line.trim());
  if (lines[0] !== '#EXTM3U') throw new TypeError('not a playlist (no #EXTM3U)');
  const playlist: ParsedMediaPlaylist = {
    targetDuration: 0,
    partTarget: undefined,
    partHoldBack: undefined,
    mediaSequence: 0,
    discontinuitySequence: 0,
    playlistType: undefined,
    segments: [],
    inProgress: undefined,
    preloadHint: undefined,
    renditionReports: [],
    ended: false,
  };
  let mapUri: string | undefined;
  let discontinuity = false;
  let programDateTime: number | undefined;
  let parts: PlaylistPart[] = [];
  let duration: number | undefined;
  let gap = false;
  for (const line of lines.slice(1)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    const tag = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1);
    switch (tag) {
      case '#EXT-X-TARGETDURATION':
        playlist.targetDuration = Number(value);
        break;
      case '#EXT-X-PART-INF':
        playlist.partTarget = numberOf(tagAttributes(value), 'PART-TARGET');
        break;
      case '#EXT-X-SERVER-CONTROL':
        playlist.partHoldBack = numberOf(tagAttributes(value), 'PART-HOLD-BACK');
        break;
      case '#EXT-X-MEDIA-SEQUENCE':
        playlist.mediaSequence = Number(value);
        break;
      case '#EXT-X-DISCONTINUITY-SEQUENCE':
        playlist.discontinuitySequence = Number(value);
        break;
      case '#EXT-X-PLAYLIST-TYPE':
        if (value === 'EVENT' || value === 'VOD') playlist.playlistType = value;
        break;
      case '#EXT-X-DISCONTINUITY':
        discontinuity = true;
        break;
      case '#EXT-X-MAP':
        mapUri = tagAttributes(value).get('URI');
        break;
      case '#EXT-X-PROGRAM-DATE-TIME':
        programDateTime = Date.parse(value);
        break;
      case '#EXT-X-PART': {
        const attributes = tagAttributes(value);
        const part: PlaylistPart = { uri: attributes.get('URI') ?? '', duration: numberOf(attributes, 'DURATION') ?? 0 };
        if (attributes.get('INDEPENDENT') === 'YES') part.independent = true;
        if (attributes.get('GAP') === 'YES') part.gap = true;
        parts.push(part);
        break;
      }
      case '#EXT-X-GAP':
        gap = true;
        break;
      case '#EXTINF':
        duration = Number(value.split(',')[0]);
        break;
      case '#EXT-X-PRELOAD-HINT':
        playlist.preloadHint = tagAttributes(value).get('URI');
        break;
      case '#EXT-X-RENDITION-REPORT': {
        const attributes = tagAttributes(value);
        const report: RenditionReport = { uri: attributes.get('URI') ?? '', lastMsn: numberOf(attributes, 'LAST-MSN') ?? -1 };
        const lastPart = numberOf(attributes, 'LAST-PART');
        if (lastPart !== undefined) report.lastPart = lastPart;
        playlist.renditionReports.push(report);
        break;
      }
      case '#EXT-X-ENDLIST':
        playlist.ended = true;
        break;
      default:
        if (line.startsWith('#')) break;
        // A segment's URI line.
        if (duration === undefined || mapUri === undefined) throw new TypeError(`segment ${line} without EXTINF or EXT-X-MAP`);
        playlist.segments.push({
          msn: playlist.mediaSequence + playlist.segments.length,
          uri: line,
          duration,
          mapUri,
          discontinuity,
          programDateTime,
          parts,
          gap,
        });
        discontinuity = false;
        programDateTime = undefined;
        parts = [];
        duration = undefined;
        gap = false;
    }
  }
  if (parts.length > 0) {
    if (mapUri === undefined) throw new TypeError('parts without EXT-X-MAP');
    playlist.inProgress = { msn: playlist.mediaSequence + playlist.segments.length, mapUri, discontinuity, programDateTime, parts };
  }
  if (!(playlist.targetDuration >= 1)) throw new TypeError('playlist without EXT-X-TARGETDURATION');
  return playlist;
}

/** Every media file the playlist names (init sections, parts, segments; not the hinted part). */
export function filesNamed(playlist: ParsedMediaPlaylist): string[] {
  const files = new Set<string>();
  for (const segment of [...playlist.segments, ...(playlist.inProgress ? [playlist.inProgress] : [])]) {
    files.add(segment.mapUri);
    for (const part of segment.parts) if (!part.gap) files.add(part.uri);
    if ('uri' in segment && !segment.gap) files.add(segment.uri);
  }
  return [...files];
}

/** Where the playlist ends: the last part (msn and index in its segment), the last complete segment. */
export function playlistEdge(playlist: ParsedMediaPlaylist): { lastMsn: number; lastPart: number; lastCompleteMsn: number } {
  const last = playlist.segments[playlist.segments.length - 1];
  const lastCompleteMsn = last?.msn ?? -1;
  if (playlist.inProgress) return { lastMsn: playlist.inProgress.msn, lastPart: playlist.inProgress.parts.length - 1, lastCompleteMsn };
  return { lastMsn: lastCompleteMsn, lastPart: last ? Math.max(0, last.parts.length - 1) : -1, lastCompleteMsn };
}

/** The variants of a master playlist by URI (`<rendition>/index.m3u8`). */
export function parseMasterPlaylist(text: string): Map<string, VariantStream> {
  const variants = new Map<string, VariantStream>();
  let pending: VariantStream | undefined;
  for (const line of text.split('\n').map((l) => l.trim())) {
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      const attributes = tagAttributes(line.slice('#EXT-X-STREAM-INF:'.length));
      const resolution = /^(\d+)x(\d+)$/.exec(attributes.get('RESOLUTION') ?? '');
      pending = { uri: '', bandwidth: numberOf(attributes, 'BANDWIDTH') ?? 0, codecs: (attributes.get('CODECS') ?? '').split(',').filter(Boolean) };
      const average = numberOf(attributes, 'AVERAGE-BANDWIDTH');
      if (average !== undefined) pending.averageBandwidth = average;
      if (resolution) {
        pending.width = Number(resolution[1]);
        pending.height = Number(resolution[2]);
      }
      const frameRate = numberOf(attributes, 'FRAME-RATE');
      if (frameRate !== undefined) pending.frameRate = frameRate;
    } else if (pending && line !== '' && !line.startsWith('#')) {
      pending.uri = line;
      variants.set(line, pending);
      pending = undefined;
    }
  }
  return variants;
}
