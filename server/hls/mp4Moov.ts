/** Parses an fMP4 init segment's `moov`: per track the id, handler, timescale, size and RFC 6381 codec string, plus the trex defaults. */
import { Mp4ParseError, children, child, childAll, boxPayload, need, type Mp4Box, type ChildBox } from './mp4Boxes.js';

export interface TrackInfo {
  trackId: number;
  /** Handler type from hdlr: 'vide', 'soun', … */
  handler: string;
  /** Media timescale (mdhd). */
  timescale: number;
  /** Sample entry four-cc: avc1, avc3, hvc1, mp4a, Opus, … */
  sampleEntry: string;
  /** RFC 6381 codec string, e.g. 'avc1.64001f', 'mp4a.40.2'. */
  codec: string;
  width?: number;
  height?: number;
  channels?: number;
  sampleRate?: number;
  /** trex defaults (used when tfhd/trun do not carry the value). */
  defaultSampleDuration: number;
  defaultSampleSize: number;
  defaultSampleFlags: number;
}

export interface MoovInfo {
  /** Movie timescale (mvhd). */
  timescale: number;
  tracks: TrackInfo[];
}

export function parseMoov(box: Mp4Box): MoovInfo {
  if (box.type !== 'moov') throw new Mp4ParseError(`expected moov, got '${box.type}'`);
  const moov = boxPayload(box);
  const mvhd = child(moov, 'mvhd');
  if (!mvhd) throw new Mp4ParseError('moov has no mvhd');
  need(mvhd, 20, 'mvhd');
  const timescale = mvhd.readUInt32BE(mvhd[0] === 1 ? 20 : 12);

  const trex = new Map<number, { duration: number; size: number; flags: number }>();
  const mvex = child(moov, 'mvex');
  if (mvex) {
    for (const body of childAll(mvex, 'trex')) {
      need(body, 24, 'trex');
      trex.set(body.readUInt32BE(4), {
        duration: body.readUInt32BE(12),
        size: body.readUInt32BE(16),
        flags: body.readUInt32BE(20),
      });
    }
  }

  const tracks: TrackInfo[] = [];
  for (const trak of childAll(moov, 'trak')) {
    const tkhd = child(trak, 'tkhd');
    const mdia = child(trak, 'mdia');
    if (!tkhd || !mdia) throw new Mp4ParseError('trak without tkhd or mdia');
    need(tkhd, 24, 'tkhd');
    const trackId = tkhd.readUInt32BE(tkhd[0] === 1 ? 20 : 12);
    const mdhd = child(mdia, 'mdhd');
    const hdlr = child(mdia, 'hdlr');
    if (!mdhd || !hdlr) throw new Mp4ParseError(`track ${trackId} has no mdhd or hdlr`);
    need(mdhd, 24, 'mdhd');
    const trackTimescale = mdhd.readUInt32BE(mdhd[0] === 1 ? 20 : 12);
    need(hdlr, 12, 'hdlr');
    const handler = hdlr.toString('latin1', 8, 12);
    const stsd = child(child(child(mdia, 'minf') ?? Buffer.alloc(0), 'stbl') ?? Buffer.alloc(0), 'stsd');
    const entry = stsd ? firstSampleEntry(stsd) : undefined;
    const defaults = trex.get(trackId) ?? { duration: 0, size: 0, flags: 0 };
    const info: TrackInfo = {
      trackId,
      handler,
      timescale: trackTimescale,
      sampleEntry: entry?.type ?? '',
      codec: entry?.type ?? '',
      defaultSampleDuration: defaults.duration,
      defaultSampleSize: defaults.size,
      defaultSampleFlags: defaults.flags,
    };
    if (entry) describeSampleEntry(entry, handler, info);
    tracks.push(info);
  }
  return { timescale, tracks };
}

function firstSampleEntry(stsd: Buffer): ChildBox | undefined {
  need(stsd, 8, 'stsd');
  // FullBox header (4) + entry_count (4), then the entries.
  for (const entry of children(stsd.subarray(8))) return entry;
  return undefined;
}

const hex2 = (n: number): string => n.toString(16).padStart(2, '0');

function describeSampleEntry(entry: ChildBox, handler: string, info: TrackInfo): void {
  const body = entry.body;
  if (handler === 'vide') {
    // SampleEntry (8) + VisualSampleEntry fields; width/height at 24/26; children at 78.
    need(body, 78, entry.type);
    info.width = body.readUInt16BE(24);
    info.height = body.readUInt16BE(26);
    const boxes = body.subarray(78);
    if (entry.type === 'avc1' || entry.type === 'avc3') {
      const avcC = child(boxes, 'avcC');
      if (avcC && avcC.length >= 4) {
        info.codec = `${entry.type}.${hex2(avcC[1]!)}${hex2(avcC[2]!)}${hex2(avcC[3]!)}`;
      }
    } else if (entry.type === 'hvc1' || entry.type === 'hev1') {
      const hvcC = child(boxes, 'hvcC');
      if (hvcC && hvcC.length >= 13) info.codec = hevcCodecString(entry.type, hvcC);
    }
  } else if (handler === 'soun') {
    // SampleEntry (8) + AudioSampleEntry: channelcount at 16, samplerate (16.16) at 24; children at 28.
    need(body, 28, entry.type);
    info.channels = body.readUInt16BE(16);
    info.sampleRate = body.readUInt32BE(24) >>> 16;
    const boxes = body.subarray(28);
    if (entry.type === 'mp4a') {
      const esds = child(boxes, 'esds');
      const codec = esds ? mp4aCodecString(esds) : undefined;
      info.codec = codec ?? 'mp4a.40.2';
    } else if (entry.type === 'Opus') {
      info.codec = 'opus';
    }
  }
}

function hevcCodecString(type: string, hvcC: Buffer): string {
  const b1 = hvcC[1]!;
  const profileSpace = ['', 'A', 'B', 'C'][b1 >> 6] ?? '';
  const tier = (b1 & 0x20) !== 0 ? 'H' : 'L';
  const profileIdc = b1 & 0x1f;
  // general_profile_compatibility_flags, bit-reversed.
  let compat = hvcC.readUInt32BE(2);
  let reversed = 0;
  for (let i = 0; i < 32; i++) {
    reversed = (reversed << 1) | (compat & 1);
    compat >>>= 1;
  }
  const level = hvcC[12]!;
  const constraints: string[] = [];
  for (let i = 6; i < 12; i++) constraints.push(hvcC[i]!.toString(16).toUpperCase());
  while (constraints.length > 0 && constraints[constraints.length - 1] === '0') constraints.pop();
  return [`${type}.${profileSpace}${profileIdc}`, (reversed >>> 0).toString(16).toUpperCase(), `${tier}${level}`, ...constraints].join('.');
}

/** 'mp4a.40.<audioObjectType>' from an esds box (MPEG-4 descriptors). */
function mp4aCodecString(esds: Buffer): string | undefined {
  // FullBox header, then descriptors: ES_Descriptor (0x03) > DecoderConfigDescriptor (0x04) > DecSpecificInfo (0x05).
  let pos = 4;
  const readDescriptor = (at: number): { tag: number; start: number; end: number } | undefined => {
    if (at + 2 > esds.length) return undefined;
    const tag = esds[at]!;
    let len = 0;
    let p = at + 1;
    for (let i = 0; i < 4 && p < esds.length; i++) {
      const b = esds[p++]!;
      len = (len << 7) | (b & 0x7f);
      if ((b & 0x80) === 0) break;
    }
    return { tag, start: p, end: Math.min(esds.length, p + len) };
  };
  const es = readDescriptor(pos);
  if (!es || es.tag !== 0x03) return undefined;
  pos = es.start;
  if (pos + 3 > es.end) return undefined;
  const flags = esds[pos + 2]!;
  pos += 3;
  if (flags & 0x80) pos += 2; // dependsOn_ES_ID
  if (flags & 0x40) pos += 1 + (esds[pos] ?? 0); // URL
  if (flags & 0x20) pos += 2; // OCR_ES_Id
  const dcd = readDescriptor(pos);
  if (!dcd || dcd.tag !== 0x04 || dcd.start + 13 > dcd.end) return undefined;
  const objectType = esds[dcd.start]!;
  if (objectType !== 0x40) return `mp4a.${hex2(objectType)}`;
  const dsi = readDescriptor(dcd.start + 13);
  if (!dsi || dsi.tag !== 0x05 || dsi.start >= dsi.end) return 'mp4a.40.2';
  let aot = esds[dsi.start]! >> 3;
  if (aot === 31 && dsi.start + 1 < dsi.end) {
    aot = 32 + (((esds[dsi.start]! & 0x07) << 3) | (esds[dsi.start + 1]! >> 5));
  }
  return `mp4a.40.${aot}`;
}
