/**
 * Client-side parsing of what Floodlight's /hls routes serve, as a player
 * needs it: the master's variants, and a media playlist flattened into the
 * sequence of things to load (parts of the recent segments, whole segments
 * before them), each with its media duration and program-date-time.
 */

export interface Variant {
  uri: string;
  bandwidth: number;
  resolution: string | undefined;
}

export function parseMaster(text: string): Variant[] {
  if (!text.startsWith('#EXTM3U')) throw new Error('not a playlist (no #EXTM3U)');
  const lines = text.split('\n').map((l) => l.trim());
  const variants: Variant[] = [];
  lines.forEach((line, i) => {
    if (!line.startsWith('#EXT-X-STREAM-INF:')) return;
    const uri = lines.slice(i + 1).find((l) => l && !l.startsWith('#'));
    if (!uri) return;
    variants.push({
      uri,
      bandwidth: Number(/BANDWIDTH=(\d+)/.exec(line)?.[1] ?? 0),
      resolution: /RESOLUTION=(\d+x\d+)/.exec(line)?.[1],
    });
  });
  if (variants.length === 0) throw new Error('master playlist lists no variants');
  return variants;
}

/** One thing to load: a part, or a whole segment whose parts are no longer listed. */
export interface MediaEntry {
  uri: string;
  /** Media sequence number of the segment it belongs to. */
  msn: number;
  /** Part index in the segment; -1 for a whole segment. */
  part: number;
  duration: number;
  independent: boolean;
  /** Wall-clock time of its first sample (EXT-X-PROGRAM-DATE-TIME), ms; undefined without PDT. */
  programDateMs: number | undefined;
  /** The init section it needs (EXT-X-MAP). */
  map: string | undefined;
  /** The first entry after an EXT-X-DISCONTINUITY (a new timeline: another origin took over). */
  discontinuity: boolean;
}

export interface MediaPlaylist {
  targetDuration: number;
  partTarget: number | undefined;
  partHoldBack: number | undefined;
  canBlockReload: boolean;
  mediaSequence: number;
  entries: MediaEntry[];
  /** URI of EXT-X-PRELOAD-HINT TYPE=PART. */
  preloadHint: string | undefined;
  ended: boolean;
  /** Position of the last listed part (or segment, part -1) — what a blocking reload asks past. */
  last: { msn: number; part: number } | undefined;
}

/** An attribute of a tag line, quoted or not. */
function attr(line: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|[:,])${name}=(?:"([^"]*)"|([^,]*))`).exec(line);
  return match ? (match[1] ?? match[2]) : undefined;
}

export function parseMediaPlaylist(text: string): MediaPlaylist {
  if (!text.startsWith('#EXTM3U')) throw new Error('not a playlist (no #EXTM3U)');
  const lines = text.split('\n').map((l) => l.trim());
  const playlist: MediaPlaylist = {
    targetDuration: Number.NaN,
    partTarget: undefined,
    partHoldBack: undefined,
    canBlockReload: false,
    mediaSequence: 0,
    entries: [],
    preloadHint: undefined,
    ended: false,
    last: undefined,
  };
  let msn = 0;
  let map: string | undefined;
  let pdt: number | undefined;
  let discontinuity = false;
  // Parts of the segment being read; they become entries when the segment has parts.
  let parts: MediaEntry[] = [];
  let partOffset = 0;
  let segmentDuration = Number.NaN;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-TARGETDURATION:')) playlist.targetDuration = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-PART-INF:')) playlist.partTarget = Number(attr(line, 'PART-TARGET'));
    else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      playlist.canBlockReload = attr(line, 'CAN-BLOCK-RELOAD') === 'YES';
      const holdBack = attr(line, 'PART-HOLD-BACK');
      if (holdBack !== undefined) playlist.partHoldBack = Number(holdBack);
    } else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      playlist.mediaSequence = Number(line.slice(22));
      msn = playlist.mediaSequence;
    } else if (line.startsWith('#EXT-X-MAP:')) map = attr(line, 'URI');
    else if (line === '#EXT-X-DISCONTINUITY') discontinuity = true;
    else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const at = Date.parse(line.slice(25));
      pdt = Number.isFinite(at) ? at : undefined;
    } else if (line.startsWith('#EXT-X-PART:')) {
      const duration = Number(attr(line, 'DURATION'));
      const uri = attr(line, 'URI');
      if (!uri || !Number.isFinite(duration)) throw new Error(`bad EXT-X-PART line: ${line}`);
      parts.push({
        uri,
        msn,
        part: parts.length,
        duration,
        independent: attr(line, 'INDEPENDENT') === 'YES',
        programDateMs: pdt === undefined ? undefined : pdt + partOffset * 1000,
        map,
        discontinuity: discontinuity && parts.length === 0,
      });
      partOffset += duration;
    } else if (line.startsWith('#EXTINF:')) segmentDuration = Number(line.slice(8).split(',')[0]);
    else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) {
      if (attr(line, 'TYPE') === 'PART') playlist.preloadHint = attr(line, 'URI');
    } else if (line === '#EXT-X-ENDLIST') playlist.ended = true;
    else if (line && !line.startsWith('#')) {
      // A complete segment: its parts if listed, else the segment itself.
      if (parts.length > 0) playlist.entries.push(...parts);
      else playlist.entries.push({ uri: line, msn, part: -1, duration: segmentDuration, independent: true, programDateMs: pdt, map, discontinuity });
      if (pdt !== undefined) pdt += segmentDuration * 1000;
      msn++;
      discontinuity = false;
      parts = [];
      partOffset = 0;
    }
  }
  // Parts of the segment in progress.
  playlist.entries.push(...parts);
  const lastEntry = playlist.entries.at(-1);
  if (lastEntry) playlist.last = { msn: lastEntry.msn, part: lastEntry.part };
  if (!Number.isFinite(playlist.targetDuration)) throw new Error('media playlist has no EXT-X-TARGETDURATION');
  return playlist;
}

/** Where a live player starts: `holdBackSeconds` behind the live edge, on an independent entry. */
export function liveStartIndex(playlist: MediaPlaylist, holdBackSeconds: number): number {
  const entries = playlist.entries;
  if (entries.length === 0) return -1;
  let index = entries.length - 1;
  let behind = entries[index]!.duration;
  while (index > 0 && behind < holdBackSeconds) {
    index--;
    behind += entries[index]!.duration;
  }
  while (index > 0 && !entries[index]!.independent) index--;
  return index;
}
