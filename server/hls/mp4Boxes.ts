/**
 * A minimal, streaming ISO-BMFF (MP4) reader for fragmented MP4 on a byte
 * stream, as ffmpeg writes it with
 * `-movflags +empty_moov+default_base_moof+frag_keyframe`.
 *
 * This is deliberately a focused reader, not a general MP4 parser: this file
 * splits a byte stream into complete top-level boxes (`BoxReader`) and walks
 * their children; mp4Moov.ts and mp4Moof.ts parse only what the LL-HLS
 * packager needs:
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
export interface ChildBox {
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
export function* children(payload: Buffer): Generator<ChildBox> {
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

export function child(payload: Buffer, type: string): Buffer | undefined {
  for (const box of children(payload)) if (box.type === type) return box.body;
  return undefined;
}

export function childAll(payload: Buffer, type: string): Buffer[] {
  const out: Buffer[] = [];
  for (const box of children(payload)) if (box.type === type) out.push(box.body);
  return out;
}

/** Payload of a top-level box. */
export function boxPayload(box: Mp4Box): Buffer {
  return box.data.subarray(box.headerSize);
}

export function need(body: Buffer, bytes: number, what: string): void {
  if (body.length < bytes) throw new Mp4ParseError(`'${what}' is truncated (${body.length} < ${bytes} bytes)`);
}

export function readU64(body: Buffer, pos: number): number {
  const big = body.readBigUInt64BE(pos);
  if (big > BigInt(Number.MAX_SAFE_INTEGER)) throw new Mp4ParseError(`64-bit value ${big} is too large`);
  return Number(big);
}
