/**
 * A minimal, streaming ISO-BMFF (MP4) reader for fragmented MP4 on a byte
 * stream, as ffmpeg writes it with
 * `-movflags +empty_moov+default_base_moof+frag_keyframe`.
 *
 * This is deliberately a focused reader, not a general MP4 parser: it splits a
 * byte stream into complete top-level boxes (`BoxReader`) and parses only what
 * the LL-HLS packager needs:
 *   - `moov`: per track the id, handler (vide/soun), media timescale (mdhd),
 *     width/height and an RFC 6381 codec string (avc1/avc3 from avcC, hvc1/hev1
 *     from hvcC, mp4a from esds, Opus), plus the trex defaults from mvex;
 *   - `moof`: per traf the track id, baseMediaDecodeTime (tfdt), sample count,
 *     total duration (trun sample durations, else tfhd/trex defaults) and
 *     whether the first sample is a sync sample (trun first-sample-flags,
 *     per-sample flags, tfhd/trex default flags).
 * 64-bit box sizes (size == 1) are handled; size == 0 ("to the end of the
 * file") cannot be delimited on an endless stream and is reported as an error.
 */

export class Mp4ParseError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Mp4ParseError';
  }
}

/** A complete box: `data` holds the whole box including its header. */
export interface Mp4Box {
  type: string;
  /** Total size in bytes (header included). */
  size: number;
  headerSize: number;
  data: Buffer;
}

/** A child box inside a parent's payload, as a view (no copy). */
interface ChildBox {
  type: string;
  /** The payload (after the header). */
  body: Buffer;
}

const DEFAULT_MAX_BOX_SIZE = 256 * 1024 * 1024;

/**
 * Splits an arbitrary-chunked byte stream into complete top-level boxes.
 * Chunks are kept in a list and copied once, when a box is complete, so large
 * `mdat`s arriving in many small chunks cost no quadratic copying.
 */
export class BoxReader {
  readonly #maxBoxSize: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #failed: Mp4ParseError | undefined;
  /** Bytes consumed as complete boxes so far (stream offset of the next box). */
  offset = 0;

  constructor(options: { maxBoxSize?: number } = {}) {
    this.#maxBoxSize = options.maxBoxSize ?? DEFAULT_MAX_BOX_SIZE;
  }

  /** Bytes received but not yet returned as part of a complete box. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /**
   * Feeds bytes; returns every box completed by them, in stream order.
   * Throws `Mp4ParseError` on a malformed stream (and from then on, on every
   * call: a byte stream cannot be resynchronised reliably).
   */
  push(chunk: Uint8Array): Mp4Box[] {
    if (this.#failed) throw this.#failed;
    if (chunk.length > 0) {
      this.#chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length));
      this.#buffered += chunk.length;
    }
    const boxes: Mp4Box[] = [];
    for (;;) {
      const header = this.#peekHeader();
      if (!header) break;
      if (this.#buffered < header.size) break;
      const data = this.#take(header.size);
      boxes.push({ type: header.type, size: header.size, headerSize: header.headerSize, data });
      this.offset += header.size;
    }
    return boxes;
  }

  /** Drops any partial box (the producer restarted mid-box). */
  reset(): void {
    this.#chunks = [];
    this.#buffered = 0;
    this.#failed = undefined;
    this.offset = 0;
  }

  #peekHeader(): { type: string; size: number; headerSize: number } | undefined {
    if (this.#buffered < 8) return undefined;
    const head = this.#peek(Math.min(16, this.#buffered));
    const size32 = head.readUInt32BE(0);
    const type = head.toString('latin1', 4, 8);
    let size: number;
    let headerSize = 8;
    if (size32 === 1) {
      if (head.length < 16) return undefined;
      const big = head.readBigUInt64BE(8);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail(`box '${printable(type)}' is too large (${big} bytes)`);
      size = Number(big);
      headerSize = 16;
    } else if (size32 === 0) {
      this.#fail(`box '${printable(type)}' extends to the end of the stream (size 0); not supported on a live stream`);
    } else {
      size = size32;
    }
    if (size < headerSize) this.#fail(`box '${printable(type)}' has an invalid size ${size}`);
    if (!/^[\x20-\x7e]{4}$/.test(type)) this.#fail(`invalid box type ${JSON.stringify(type)} at offset ${this.offset}`);
    if (size > this.#maxBoxSize) this.#fail(`box '${type}' of ${size} bytes exceeds the ${this.#maxBoxSize}-byte limit`);
    return { type, size, headerSize };
  }

  #fail(message: string): never {
    this.#failed = new Mp4ParseError(message);
    throw this.#failed;
  }

  /** Copies the first n buffered bytes without consuming them. */
  #peek(n: number): Buffer {
    const first = this.#chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (const chunk of this.#chunks) {
      const count = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (filled === n) break;
    }
    return out;
  }

  /** Removes and returns the first n buffered bytes (n <= buffered). */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length === n) {
      this.#chunks.shift();
      this.#buffered -= n;
      return first;
    }
    if (first.length > n) {
      // Copy so the returned box does not pin the rest of a big chunk.
      const out = Buffer.from(first.subarray(0, n));
      this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    let used = 0;
    while (filled < n) {
      const chunk = this.#chunks[used]!;
      const count = Math.min(chunk.length, n - filled);
      chunk.copy(out, filled, 0, count);
      filled += count;
      if (count === chunk.length) used += 1;
      else this.#chunks[used] = chunk.subarray(count);
    }
    // One splice, not a shift per chunk: tiny chunks must not cost O(n²).
    this.#chunks.splice(0, used);
    this.#buffered -= n;
    return out;
  }
}

function printable(type: string): string {
  return type.replace(/[^\x20-\x7e]/g, '?');
}

/** Iterates the child boxes of a payload. Throws on a truncated child. */
function* children(payload: Buffer): Generator<ChildBox> {
  let pos = 0;
  while (pos + 8 <= payload.length) {
    let size = payload.readUInt32BE(pos);
    const type = payload.toString('latin1', pos + 4, pos + 8);
    let headerSize = 8;
    if (size === 1) {
      if (pos + 16 > payload.length) throw new Mp4ParseError(`truncated 64-bit header of '${printable(type)}'`);
      const big = payload.readBigUInt64BE(pos + 8);
      if (big > BigInt(payload.length)) throw new Mp4ParseError(`box '${printable(type)}' overruns its parent`);
      size = Number(big);
      headerSize = 16;
    } else if (size === 0) {
      size = payload.length - pos;
    }
    if (size < headerSize || pos + size > payload.length) {
      throw new Mp4ParseError(`box '${printable(type)}' (${size} bytes) overruns its parent`);
    }
    yield { type, body: payload.subarray(pos + headerSize, pos + size) };
    pos += size;
  }
}

function child(payload: Buffer, type: string): Buffer | undefined {
  for (const box of children(payload)) if (box.type === type) return box.body;
  return undefined;
}

function childAll(payload: Buffer, type: string): Buffer[] {
  const out: Buffer[] = [];
  for (const box of children(payload)) if (box.type === type) out.push(box.body);
  return out;
}

/** Payload of a top-level box. */
export function boxPayload(box: Mp4Box): Buffer {
  return box.data.subarray(box.headerSize);
}

function need(body: Buffer, bytes: number, what: string): void {
  if (body.length < bytes) throw new Mp4ParseError(`'${what}' is truncated (${body.length} < ${bytes} bytes)`);
}

function readU64(body: Buffer, pos: number): number {
  const big = body.readBigUInt64BE(pos);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Mp4ParseError(`64-bit value ${big} is too large`);
  return Number(big);
}

// ---------------------------------------------------------------------------
// moov

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

// ---------------------------------------------------------------------------
// moof

export interface TrafInfo {
  trackId: number;
  baseMediaDecodeTime: number;
  sampleCount: number;
  /** Sum of the sample durations, in the track's timescale. */
  duration: number;
  /** Whether the first sample is a sync sample (sample_is_non_sync_sample == 0). */
  firstSampleIsSync: boolean;
  /** Sum of the sample sizes in bytes. */
  bytes: number;
  /** The most common sample duration (a video track's frame duration). */
  typicalSampleDuration: number;
}

export interface MoofInfo {
  sequenceNumber: number;
  trafs: TrafInfo[];
}

const TFHD_BASE_DATA_OFFSET = 0x000001;
const TFHD_SAMPLE_DESCRIPTION_INDEX = 0x000002;
const TFHD_DEFAULT_DURATION = 0x000008;
const TFHD_DEFAULT_SIZE = 0x000010;
const TFHD_DEFAULT_FLAGS = 0x000020;

const TRUN_DATA_OFFSET = 0x000001;
const TRUN_FIRST_SAMPLE_FLAGS = 0x000004;
const TRUN_SAMPLE_DURATION = 0x000100;
const TRUN_SAMPLE_SIZE = 0x000200;
const TRUN_SAMPLE_FLAGS = 0x000400;
const TRUN_SAMPLE_CTO = 0x000800;

/** sample_is_non_sync_sample bit of the ISO-BMFF sample flags. */
export const SAMPLE_IS_NON_SYNC = 0x00010000;

export interface TrackDefaults {
  defaultSampleDuration: number;
  defaultSampleSize: number;
  defaultSampleFlags: number;
}

/**
 * Parses a moof. `defaults` gives the trex defaults per track id (from
 * `parseMoov`); without them missing values count as 0 / sync.
 */
export function parseMoof(box: Mp4Box, defaults?: ReadonlyMap<number, TrackDefaults>): MoofInfo {
  if (box.type !== 'moof') throw new Mp4ParseError(`expected moof, got '${box.type}'`);
  const moof = boxPayload(box);
  const mfhd = child(moof, 'mfhd');
  const sequenceNumber = mfhd && mfhd.length >= 8 ? mfhd.readUInt32BE(4) : 0;
  const trafs: TrafInfo[] = [];
  for (const traf of childAll(moof, 'traf')) {
    const tfhd = child(traf, 'tfhd');
    if (!tfhd) throw new Mp4ParseError('traf without tfhd');
    need(tfhd, 8, 'tfhd');
    const tfFlags = tfhd.readUInt32BE(0) & 0xffffff;
    const trackId = tfhd.readUInt32BE(4);
    const trex = defaults?.get(trackId);
    let pos = 8;
    if (tfFlags & TFHD_BASE_DATA_OFFSET) pos += 8;
    if (tfFlags & TFHD_SAMPLE_DESCRIPTION_INDEX) pos += 4;
    let defaultDuration = trex?.defaultSampleDuration ?? 0;
    let defaultSize = trex?.defaultSampleSize ?? 0;
    let defaultFlags = trex?.defaultSampleFlags ?? 0;
    if (tfFlags & TFHD_DEFAULT_DURATION) {
      need(tfhd, pos + 4, 'tfhd');
      defaultDuration = tfhd.readUInt32BE(pos);
      pos += 4;
    }
    if (tfFlags & TFHD_DEFAULT_SIZE) {
      need(tfhd, pos + 4, 'tfhd');
      defaultSize = tfhd.readUInt32BE(pos);
      pos += 4;
    }
    if (tfFlags & TFHD_DEFAULT_FLAGS) {
      need(tfhd, pos + 4, 'tfhd');
      defaultFlags = tfhd.readUInt32BE(pos);
      pos += 4;
    }

    let baseMediaDecodeTime = 0;
    const tfdt = child(traf, 'tfdt');
    if (tfdt) {
      need(tfdt, 8, 'tfdt');
      baseMediaDecodeTime = tfdt[0] === 1 ? (need(tfdt, 12, 'tfdt'), readU64(tfdt, 4)) : tfdt.readUInt32BE(4);
    }

    let sampleCount = 0;
    let duration = 0;
    let bytes = 0;
    let firstSampleFlags: number | undefined;
    const durations = new Map<number, number>();
    const countDuration = (d: number, n: number): void => void durations.set(d, (durations.get(d) ?? 0) + n);
    for (const trun of childAll(traf, 'trun')) {
      need(trun, 8, 'trun');
      const trFlags = trun.readUInt32BE(0) & 0xffffff;
      const count = trun.readUInt32BE(4);
      let p = 8;
      if (trFlags & TRUN_DATA_OFFSET) p += 4;
      let firstFlags: number | undefined;
      if (trFlags & TRUN_FIRST_SAMPLE_FLAGS) {
        need(trun, p + 4, 'trun');
        firstFlags = trun.readUInt32BE(p);
        p += 4;
      }
      const perSample =
        (trFlags & TRUN_SAMPLE_DURATION ? 4 : 0) +
        (trFlags & TRUN_SAMPLE_SIZE ? 4 : 0) +
        (trFlags & TRUN_SAMPLE_FLAGS ? 4 : 0) +
        (trFlags & TRUN_SAMPLE_CTO ? 4 : 0);
      need(trun, p + perSample * count, 'trun');
      for (let i = 0; i < count; i++) {
        let q = p + i * perSample;
        if (trFlags & TRUN_SAMPLE_DURATION) {
          const d = trun.readUInt32BE(q);
          duration += d;
          countDuration(d, 1);
          q += 4;
        } else {
          duration += defaultDuration;
        }
        if (trFlags & TRUN_SAMPLE_SIZE) {
          bytes += trun.readUInt32BE(q);
          q += 4;
        } else {
          bytes += defaultSize;
        }
        if (sampleCount === 0 && i === 0) {
          if (firstFlags !== undefined) firstSampleFlags = firstFlags;
          else if (trFlags & TRUN_SAMPLE_FLAGS) firstSampleFlags = trun.readUInt32BE(q);
          else firstSampleFlags = defaultFlags;
        }
      }
      if (!(trFlags & TRUN_SAMPLE_DURATION) && count > 0) countDuration(defaultDuration, count);
      sampleCount += count;
    }
    let typicalSampleDuration = 0;
    let best = 0;
    for (const [d, n] of durations) {
      if (n > best) {
        best = n;
        typicalSampleDuration = d;
      }
    }
    trafs.push({
      trackId,
      baseMediaDecodeTime,
      sampleCount,
      duration,
      firstSampleIsSync: sampleCount > 0 && ((firstSampleFlags ?? defaultFlags) & SAMPLE_IS_NON_SYNC) === 0,
      bytes,
      typicalSampleDuration,
    });
  }
  return { sequenceNumber, trafs };
}

/** trex defaults per track id, for `parseMoof`. */
export function trackDefaults(moov: MoovInfo): Map<number, TrackDefaults> {
  return new Map(moov.tracks.map((t) => [t.trackId, t]));
}
