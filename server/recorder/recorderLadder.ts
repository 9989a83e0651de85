/**
 * The HLS ABR ladder. Renditions are named by height ("720p"); a rendition
 * never goes above the source (ffmpeg scales to min(height, source height),
 * and the master playlist drops renditions that end up duplicating a higher one).
 */
export interface RenditionSpec {
  name: string;
  height: number;
  videoBitrate: number;
  audioBitrate: number;
}

/** Bitrates for 30 fps H.264 main profile, a little generous for live encoding at veryfast. */
const bitrateForHeight = (height: number): number => {
  if (height >= 1080) return 4_500_000;
  if (height >= 720) return 2_500_000;
  if (height >= 480) return 1_200_000;
  if (height >= 360) return 800_000;
  return 400_000;
};

/** "720,480,240" → specs, highest first. Throws with a readable message. */
export function parseLadder(value: string): RenditionSpec[] {
  const heights = value.split(',').map((part) => part.trim().replace(/p$/i, ''));
  if (heights.length === 0 || heights.length > 5) throw new Error('between 1 and 5 renditions');
  const specs = heights.map((text) => {
    const height = Number(text);
    if (!Number.isInteger(height) || height < 144 || height > 2160 || height % 2 !== 0) {
      throw new Error(`"${text}" is not an even height between 144 and 2160`);
    }
    return { name: `${height}p`, height, videoBitrate: bitrateForHeight(height), audioBitrate: height >= 480 ? 128_000 : 64_000 };
  });
  if (new Set(specs.map((s) => s.height)).size !== specs.length) throw new Error('heights must be different');
  return specs.sort((a, b) => b.height - a.height);
}
