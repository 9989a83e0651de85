// @ts-check
/**
 * Frame timestamp codec: writes a millisecond wall-clock timestamp into a
 * video frame as big black/white blocks, and reads it back from a decoded
 * frame. Built to survive lossy video coding (VP8, H.264, HLS renditions) and
 * downscaling (simulcast layers down to 320x180 from 1280x720), and to know
 * nothing about how the frame travelled: it only needs a 2D canvas to draw on
 * and a CanvasImageSource (a <video>, an ImageBitmap, a VideoFrame…) to read.
 *
 * Layout (all positions are fractions of the frame, so any scale works):
 *
 *   ┌──────────────────────────────────────────────────────────────┐ ┐
 *   │ gray  [W][d0 ][d1 ] … [d23][B]                         gray  │ │ band: top 16 %
 *   │ gray  [B][d24][d25] … [d47][W]                         gray  │ │ of the height
 *   ├──────────────────────────────────────────────────────────────┤ ┘
 *   │ free for moving content                                      │
 *
 *   - 26 columns x 2 rows of cells, each 1/28 of the width and 6.5 % of the
 *     height (46x47 px at 1280x720, 11x12 px at 320x180), on a mid-gray band;
 *   - start/end markers: column 0 is white over black, column 25 black over
 *     white. They locate nothing (positions are fixed) but prove a code is
 *     there and give the black/white levels the data cells are judged against;
 *   - 48 data cells, row-major, most significant bit first: 40 bits of the
 *     timestamp modulo 2^40 ms (~34.8 years; the decoder restores the full
 *     value from its own clock) followed by a CRC-8 (poly 0x07) of those 5 bytes.
 *
 * Decoding samples the central half of each cell (averaged), so block edges
 * smeared by the codec or by scaling never matter.
 *
 * Loaded three ways: as an ES module (Node can import the pure parts),
 * bundled as an IIFE into pages (scripts/bench/lib/browserBundle.ts puts it
 * on `window.FrameCodec`), or copied into any other harness.
 */

export const CODEC_VERSION = 1;
export const TIMESTAMP_BITS = 40;
export const CHECK_BITS = 8;
export const DATA_BITS = TIMESTAMP_BITS + CHECK_BITS; // 48
export const COLUMNS = 26; // marker + 24 data + marker
export const ROWS = 2;
const DATA_COLUMNS = COLUMNS - 2;
const MODULUS = 2 ** TIMESTAMP_BITS;

/** Geometry as fractions of the full frame. */
export const LAYOUT = Object.freeze({
  /** Height of the band (from the top) the code owns; draw other content below it. */
  bandHeight: 0.16,
  cellWidth: 1 / 28,
  cellHeight: 0.065,
  /** x of column 0 (one cell of margin on the left). */
  left: 1 / 28,
  /** y of each row. */
  rowTop: Object.freeze([0.01, 0.085]),
  /** Fraction of a cell (centered) that decoding averages. */
  sampleFraction: 0.5,
});

const BAND_GRAY = '#808080';
/** Markers must differ at least this much in luma (0..255) for a frame to count. */
const MIN_CONTRAST = 60;

/**
 * CRC-8, polynomial 0x07, init 0.
 * @param {number[]} bytes
 */
export function crc8(bytes) {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let i = 0; i < 8; i++) crc = crc & 0x80 ? ((crc << 1) ^ 0x07) & 0xff : (crc << 1) & 0xff;
  }
  return crc;
}

/** @param {number} value40 */
function bytesOf(value40) {
  const bytes = [];
  for (let k = 4; k >= 0; k--) bytes.push(Math.floor(value40 / 2 ** (8 * k)) % 256);
  return bytes;
}

/**
 * The 48 data bits for a timestamp (ms; fractions are dropped).
 * @param {number} timestampMs
 * @returns {number[]}
 */
export function timestampToBits(timestampMs) {
  const value = Math.floor(timestampMs) % MODULUS;
  const bits = [];
  for (let i = TIMESTAMP_BITS - 1; i >= 0; i--) bits.push(Math.floor(value / 2 ** i) % 2);
  const check = crc8(bytesOf(value));
  for (let i = CHECK_BITS - 1; i >= 0; i--) bits.push((check >> i) & 1);
  return bits;
}

/**
 * Inverse of timestampToBits: the 40-bit value, or null when the check fails.
 * @param {number[]} bits
 * @returns {number | null}
 */
export function bitsToValue(bits) {
  if (bits.length !== DATA_BITS) return null;
  let value = 0;
  for (let i = 0; i < TIMESTAMP_BITS; i++) value = value * 2 + (bits[i] ? 1 : 0);
  let check = 0;
  for (let i = TIMESTAMP_BITS; i < DATA_BITS; i++) check = (check << 1) | (bits[i] ? 1 : 0);
  return crc8(bytesOf(value)) === check ? value : null;
}

/**
 * The full timestamp whose low 40 bits are `value40`, nearest to `referenceMs`
 * (the decoder's own clock).
 * @param {number} value40
 * @param {number} referenceMs
 */
export function restoreTimestamp(value40, referenceMs) {
  const base = referenceMs - (referenceMs % MODULUS);
  let best = base + value40;
  for (const candidate of [best - MODULUS, best + MODULUS]) {
    if (Math.abs(candidate - referenceMs) < Math.abs(best - referenceMs)) best = candidate;
  }
  return best;
}

/**
 * Pixel rectangle of a cell in a frame of the given size.
 * @param {number} column 0..25
 * @param {number} row 0..1
 * @param {number} width
 * @param {number} height
 */
export function cellRect(column, row, width, height) {
  const x0 = Math.round((LAYOUT.left + column * LAYOUT.cellWidth) * width);
  const x1 = Math.round((LAYOUT.left + (column + 1) * LAYOUT.cellWidth) * width);
  const top = LAYOUT.rowTop[row] ?? 0;
  const y0 = Math.round(top * height);
  const y1 = Math.round((top + LAYOUT.cellHeight) * height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * What each cell should be: 1 white, 0 black. Index [row][column].
 * @param {number} timestampMs
 * @returns {number[][]}
 */
export function cellPattern(timestampMs) {
  const bits = timestampToBits(timestampMs);
  /** @type {number[][]} */
  const rows = [];
  for (let row = 0; row < ROWS; row++) {
    const cells = [row === 0 ? 1 : 0];
    for (let c = 0; c < DATA_COLUMNS; c++) cells.push(bits[row * DATA_COLUMNS + c] ?? 0);
    cells.push(row === 0 ? 0 : 1);
    rows.push(cells);
  }
  return rows;
}

/**
 * Draws the code for `timestampMs` into the top band of a width x height frame.
 * @param {CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D} ctx
 * @param {number} width
 * @param {number} height
 * @param {number} timestampMs
 */
export function encode(ctx, width, height, timestampMs) {
  ctx.save();
  ctx.fillStyle = BAND_GRAY;
  ctx.fillRect(0, 0, width, Math.ceil(LAYOUT.bandHeight * height));
  const pattern = cellPattern(timestampMs);
  for (let row = 0; row < ROWS; row++) {
    for (let column = 0; column < COLUMNS; column++) {
      const rect = cellRect(column, row, width, height);
      ctx.fillStyle = pattern[row]?.[column] ? '#ffffff' : '#000000';
      ctx.fillRect(rect.x, rect.y, rect.width, rect.height);
    }
  }
  ctx.restore();
}

/**
 * @typedef {{ ok: true, value40: number, timestampMs: number, threshold: number, contrast: number, margin: number }} DecodeSuccess
 * @typedef {{ ok: false, reason: 'no-marker' | 'low-contrast' | 'check', threshold?: number, contrast?: number }} DecodeFailure
 * @typedef {DecodeSuccess | DecodeFailure} DecodeResult
 */

/**
 * Decodes from per-cell luminance (0..255). Pure: the browser and Node paths
 * both end here.
 * @param {(column: number, row: number) => number} lumaAt
 * @param {number} referenceMs the decoder's clock, to restore the high bits
 * @returns {DecodeResult}
 */
export function decodeLuma(lumaAt, referenceMs) {
  const whites = [lumaAt(0, 0), lumaAt(COLUMNS - 1, 1)];
  const blacks = [lumaAt(0, 1), lumaAt(COLUMNS - 1, 0)];
  const contrast = Math.min(...whites) - Math.max(...blacks);
  const threshold = (whites[0] + whites[1] + blacks[0] + blacks[1]) / 4;
  if (contrast <= 0) return { ok: false, reason: 'no-marker', threshold, contrast };
  if (contrast < MIN_CONTRAST) return { ok: false, reason: 'low-contrast', threshold, contrast };
  const bits = [];
  let margin = Infinity;
  for (let row = 0; row < ROWS; row++) {
    for (let c = 1; c <= DATA_COLUMNS; c++) {
      const luma = lumaAt(c, row);
      bits.push(luma > threshold ? 1 : 0);
      margin = Math.min(margin, Math.abs(luma - threshold));
    }
  }
  const value40 = bitsToValue(bits);
  if (value40 === null) return { ok: false, reason: 'check', threshold, contrast };
  return { ok: true, value40, timestampMs: restoreTimestamp(value40, referenceMs), threshold, contrast, margin };
}

/**
 * Decodes from RGBA pixels that hold the top band of a frame, stretched to
 * fill the whole buffer (what decodeFrame draws), or a whole frame when
 * `bandOnly` is false.
 * @param {{ data: ArrayLike<number>, width: number, height: number }} image
 * @param {number} referenceMs
 * @param {boolean} [bandOnly]
 * @returns {DecodeResult}
 */
export function decodeImageData(image, referenceMs, bandOnly = true) {
  const { data, width } = image;
  // Cell positions are fractions of the full frame; a band-only buffer is that frame's top bandHeight.
  const frameHeight = bandOnly ? image.height / LAYOUT.bandHeight : image.height;
  const inset = (1 - LAYOUT.sampleFraction) / 2;
  return decodeLuma((column, row) => {
    const rect = cellRect(column, row, width, frameHeight);
    const x0 = Math.floor(rect.x + rect.width * inset);
    const x1 = Math.max(x0 + 1, Math.ceil(rect.x + rect.width * (1 - inset)));
    const y0 = Math.floor(rect.y + rect.height * inset);
    const y1 = Math.max(y0 + 1, Math.ceil(rect.y + rect.height * (1 - inset)));
    let sum = 0;
    let count = 0;
    for (let y = y0; y < y1 && y < image.height; y++) {
      for (let x = x0; x < x1 && x < width; x++) {
        const i = (y * width + x) * 4;
        sum += 0.299 * (data[i] ?? 0) + 0.587 * (data[i + 1] ?? 0) + 0.114 * (data[i + 2] ?? 0);
        count++;
      }
    }
    return count ? sum / count : 0;
  }, referenceMs);
}

/** Pixels per cell in decodeFrame's scratch canvas (448 x 80: 16 px per column, ~6.5 rows of 16). */
const SCRATCH_WIDTH = 448;
const SCRATCH_HEIGHT = 80;
/** @type {{ canvas: HTMLCanvasElement | OffscreenCanvas, ctx: CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D } | null} */
let scratch = null;

function scratchContext() {
  if (scratch) return scratch.ctx;
  /** @type {HTMLCanvasElement | OffscreenCanvas} */
  const canvas =
    typeof OffscreenCanvas !== 'undefined'
      ? new OffscreenCanvas(SCRATCH_WIDTH, SCRATCH_HEIGHT)
      : Object.assign(document.createElement('canvas'), { width: SCRATCH_WIDTH, height: SCRATCH_HEIGHT });
  // willReadFrequently keeps the canvas in CPU memory: cheap getImageData every frame.
  const ctx = /** @type {CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null} */ (canvas.getContext('2d', { willReadFrequently: true }));
  if (!ctx) throw new Error('FrameCodec: no 2D context');
  scratch = { canvas, ctx };
  return ctx;
}

/**
 * Decodes the frame currently shown by `source` (e.g. a <video> inside a
 * requestVideoFrameCallback callback), whose intrinsic size is width x height.
 * @param {CanvasImageSource} source
 * @param {number} width intrinsic width (video.videoWidth, metadata.width…)
 * @param {number} height intrinsic height
 * @param {number} [referenceMs] clock for the high bits; default Date.now()
 * @returns {DecodeResult}
 */
export function decodeFrame(source, width, height, referenceMs = Date.now()) {
  if (!(width > 0 && height > 0)) return { ok: false, reason: 'no-marker' };
  const ctx = scratchContext();
  ctx.drawImage(source, 0, 0, width, height * LAYOUT.bandHeight, 0, 0, SCRATCH_WIDTH, SCRATCH_HEIGHT);
  return decodeImageData(ctx.getImageData(0, 0, SCRATCH_WIDTH, SCRATCH_HEIGHT), referenceMs, true);
}

/**
 * Round trip in this browser: encode at 1280x720, then decode from a JPEG of
 * it (quality 0.3) at full size and downscaled to 320x180. Resolves to the
 * problems found (empty = fine). For a harness's preflight.
 * @returns {Promise<string[]>}
 */
export async function selfTest() {
  const problems = [];
  const source = document.createElement('canvas');
  source.width = 1280;
  source.height = 720;
  const ctx = source.getContext('2d');
  if (!ctx) return ['no 2D context'];
  // Busy background, so the JPEG has something to smear into the band edges.
  for (let i = 0; i < 200; i++) {
    ctx.fillStyle = `hsl(${(i * 37) % 360} 80% ${30 + (i % 5) * 10}%)`;
    ctx.fillRect((i * 97) % 1280, (i * 53) % 720, 80, 60);
  }
  const now = Date.now();
  const timestamps = [now, now + 1, Math.floor(now / 1000) * 1000 + 999, 0x1234567890 + 7];
  for (const ts of timestamps) {
    encode(ctx, 1280, 720, ts);
    const blob = await new Promise((resolve) => source.toBlob(resolve, 'image/jpeg', 0.3));
    if (!(blob instanceof Blob)) return ['toBlob failed'];
    const bitmap = await createImageBitmap(blob);
    for (const [w, h] of [
      [1280, 720],
      [320, 180],
    ]) {
      const scaled = document.createElement('canvas');
      scaled.width = w;
      scaled.height = h;
      scaled.getContext('2d')?.drawImage(bitmap, 0, 0, w, h);
      const result = decodeFrame(scaled, w, h, ts + 5_000);
      const expected = restoreTimestamp(Math.floor(ts) % MODULUS, ts);
      if (!result.ok) problems.push(`ts ${ts} at ${w}x${h}: ${result.reason}`);
      else if (result.timestampMs !== expected) problems.push(`ts ${ts} at ${w}x${h}: decoded ${result.timestampMs}`);
    }
    bitmap.close();
  }
  return problems;
}
