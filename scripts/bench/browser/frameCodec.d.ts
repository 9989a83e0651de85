/** Types for frameCodec.js (see there). Node code may import the pure functions. */
export declare const CODEC_VERSION: number;
export declare const TIMESTAMP_BITS: number;
export declare const CHECK_BITS: number;
export declare const DATA_BITS: number;
export declare const COLUMNS: number;
export declare const ROWS: number;
export declare const LAYOUT: Readonly<{
  bandHeight: number;
  cellWidth: number;
  cellHeight: number;
  left: number;
  rowTop: readonly number[];
  sampleFraction: number;
}>;
export type DecodeResult =
  | { ok: true; value40: number; timestampMs: number; threshold: number; contrast: number; margin: number }
  | { ok: false; reason: 'no-marker' | 'low-contrast' | 'check'; threshold?: number; contrast?: number };
export declare function crc8(bytes: number[]): number;
export declare function timestampToBits(timestampMs: number): number[];
export declare function bitsToValue(bits: number[]): number | null;
export declare function restoreTimestamp(value40: number, referenceMs: number): number;
export declare function cellRect(column: number, row: number, width: number, height: number): { x: number; y: number; width: number; height: number };
export declare function cellPattern(timestampMs: number): number[][];
/** ctx: a CanvasRenderingContext2D / OffscreenCanvasRenderingContext2D (typed loosely: Node has no DOM types). */
export declare function encode(ctx: unknown, width: number, height: number, timestampMs: number): void;
export declare function decodeLuma(lumaAt: (column: number, row: number) => number, referenceMs: number): DecodeResult;
export declare function decodeImageData(
  image: { data: ArrayLike<number>; width: number; height: number },
  referenceMs: number,
  bandOnly?: boolean,
): DecodeResult;
/** source: a CanvasImageSource (browser only). */
export declare function decodeFrame(source: unknown, width: number, height: number, referenceMs?: number): DecodeResult;
export declare function selfTest(): Promise<string[]>;
