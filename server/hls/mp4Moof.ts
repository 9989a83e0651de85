/** Parses an fMP4 fragment's `moof`: per track fragment the decode time, sample count, duration, size and whether it starts on a sync sample. */
import { Mp4ParseError, child, childAll, boxPayload, need, readU64, type Mp4Box } from './mp4Boxes.js';
import type { MoovInfo } from './mp4Moov.js';

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
