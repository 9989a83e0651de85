/**
 * Which ffmpeg run (feed generation) a rendition's sink takes its bytes from.
 *
 * On a re-plan the new ffmpeg starts beside the old one. Its bytes for a
 * rendition are held until they contain its first media fragment (`moof`,
 * after the init section; x264 and stream copy both start it on a key frame);
 * then the sink is restarted (a discontinuity, same URLs) and fed the new
 * bytes, and the old ffmpeg's bytes for that rendition are dropped from then
 * on. Until that moment the old ffmpeg keeps the rendition going: no gap
 * waiting for the new one to probe, encode and fill its first fragment.
 */
import type { RenditionSink } from './recorder.js';

/** Held bytes without a fragment beyond this are not an fMP4 stream starting: dropped. */
const MAX_HELD_BYTES = 16 * 1024 * 1024;

export class RenditionSwitch {
  readonly #sink: RenditionSink;
  /** The generation whose bytes go to the sink. */
  #live: number | undefined;
  #held: { generation: number; chunks: Buffer[]; bytes: number } | undefined;

  constructor(sink: RenditionSink) {
    this.#sink = sink;
  }

  get liveGeneration(): number | undefined {
    return this.#live;
  }

  /**
   * Bytes from feed `generation`; `newest` is the generation being switched
   * to. True when this write switched the sink over.
   */
  write(generation: number, chunk: Buffer, newest: number): boolean {
    if (generation === this.#live) {
      this.#sink.write(chunk);
      return false;
    }
    // An older feed's bytes after the switch, or a feed already replaced by a newer one.
    if (generation !== newest) return false;
    if (this.#held?.generation !== generation) this.#held = { generation, chunks: [], bytes: 0 };
    const held = this.#held;
    held.chunks.push(chunk);
    held.bytes += chunk.length;
    const bytes = Buffer.concat(held.chunks);
    held.chunks = [bytes];
    if (!hasTopLevelBox(bytes, 'moof')) {
      if (held.bytes > MAX_HELD_BYTES) this.#held = undefined;
      return false;
    }
    this.#held = undefined;
    if (this.#live !== undefined) this.#sink.restart();
    this.#live = generation;
    this.#sink.write(bytes);
    return true;
  }

  /** ffmpeg of `generation` died (its supervisor restarts it): its next bytes start a new stream. */
  restart(generation: number): void {
    if (this.#held?.generation === generation) this.#held = undefined;
    if (this.#live === generation) this.#sink.restart();
  }
}

/** Whether a complete top-level box header of `type` is in `bytes` (which start at a box). */
export function hasTopLevelBox(bytes: Buffer, type: string): boolean {
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    if (bytes.toString('latin1', offset + 4, offset + 8) === type) return true;
    let size = bytes.readUInt32BE(offset);
    if (size === 1) {
      if (offset + 16 > bytes.length) return false;
      size = Number(bytes.readBigUInt64BE(offset + 8));
    }
    // 0 = "to the end of the file": nothing follows it.
    if (size < 8) return false;
    offset += size;
  }
  return false;
}
