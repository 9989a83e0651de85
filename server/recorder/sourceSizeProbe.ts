/**
 * The real size of the frames the source sends, as the recorder's own ffmpeg
 * decodes them. ffmpeg sizes every rendition from its first frames and keeps
 * those sizes when the source changes resolution (it scales later frames
 * back), so the recorder needs to see the change itself to re-plan.
 *
 * How: a branch of ffmpeg's filter graph takes SOURCE_SIZE_PROBE_FPS frames a
 * second and scales each to two one-row gray images, `width`×1 and `height`×1,
 * written as rawvideo with `-autoscale 0` (so they follow the source) into a
 * `framecrc` output, whose text lines give each packet's byte size: the
 * source's width and height. Codec-agnostic (VP8, H.264, anything ffmpeg
 * decodes) and cheap (a one-row scale twice a second).
 */

export const SOURCE_SIZE_PROBE_FPS = 2;

export interface FrameSize {
  width: number;
  height: number;
}

/** Filter graph fragment: `[input]` → `[probew]` and `[probeh]`. */
export function sourceSizeProbeFilter(input: string): string {
  return [
    `[${input}]fps=${SOURCE_SIZE_PROBE_FPS},split=2[probe_w][probe_h]`,
    '[probe_w]scale=w=iw:h=1:flags=neighbor,format=gray[probew]',
    '[probe_h]scale=w=ih:h=1:flags=neighbor,format=gray[probeh]',
  ].join(';');
}

/** Output options for the probe (the url follows them). */
export const SOURCE_SIZE_PROBE_OUTPUT_OPTIONS: readonly string[] = [
  ...['-map', '[probew]', '-map', '[probeh]'],
  // Frames keep the size the source has now, not the size of the first frame.
  ...['-autoscale', '0', '-c:v', 'rawvideo', '-f', 'framecrc', '-flush_packets', '1'],
];

/** framecrc data line: stream index, dts, pts, duration, size, crc. */
const FRAMECRC_LINE = /^(\d+),\s*-?\d+,\s*(-?\d+),\s*-?\d+,\s*(\d+),/;

/** Turns the probe's framecrc text (any chunking) into frame sizes. */
export class SourceSizeReader {
  #pending = '';
  /** Widths waiting for the height of the same frame (by pts). */
  readonly #widths = new Map<string, number>();
  readonly #heights = new Map<string, number>();

  push(chunk: Buffer): FrameSize[] {
    const text = this.#pending + chunk.toString('latin1');
    const lines = text.split('\n');
    this.#pending = lines.pop() ?? '';
    // A line without an end for this long is not framecrc: drop it rather than grow.
    if (this.#pending.length > 1024) this.#pending = '';
    const sizes: FrameSize[] = [];
    for (const line of lines) {
      const match = FRAMECRC_LINE.exec(line);
      if (!match) continue;
      const [, stream, pts = '', bytes] = match;
      const value = Number(bytes);
      const [mine, other] = stream === '0' ? [this.#widths, this.#heights] : [this.#heights, this.#widths];
      const counterpart = other.get(pts);
      if (counterpart === undefined) {
        mine.set(pts, value);
        // Only the newest frame or two can still be waiting for their other half.
        for (const key of [...mine.keys()].slice(0, -4)) mine.delete(key);
        continue;
      }
      other.delete(pts);
      sizes.push(stream === '0' ? { width: value, height: counterpart } : { width: counterpart, height: value });
    }
    return sizes;
  }
}
