/**
 * ffmpeg arguments that turn the recorder SDP into one fragmented-MP4 stream
 * per rendition (H.264 + AAC muxed, 1 s GOP aligned across renditions because
 * every rendition encodes the same frames after one fps filter and split),
 * plus a periodically refreshed JPEG poster.
 */
import type { RenditionSpec } from './recorderLadder.js';

export const GOP_SECONDS = 1;
export const OUTPUT_FPS = 30;
/** fMP4 fragment (= LL-HLS part) length. */
export const FRAGMENT_MICROSECONDS = 250_000;
export const THUMBNAIL_INTERVAL_SECONDS = 3;

export interface LadderOutput {
  rendition: RenditionSpec;
  /** Where ffmpeg writes this rendition's fMP4 bytes (e.g. unix:/…/720p.sock). */
  url: string;
}

export interface LadderArgs {
  inputOptions: string[];
  complexFilter: string;
  outputs: Array<{ url: string; options: string[] }>;
}

export function buildLadderArgs(outputs: readonly LadderOutput[], hasAudio: boolean, thumbnailPath: string | undefined): LadderArgs {
  const branches = outputs.length + (thumbnailPath ? 1 : 0);
  const splitLabels = Array.from({ length: branches }, (_, i) => `[s${i}]`).join('');
  const filters = [`[0:v:0]fps=${OUTPUT_FPS},split=${branches}${splitLabels}`];
  outputs.forEach(({ rendition }, i) => {
    // Never upscale: min(target, source height), kept even for yuv420p.
    filters.push(`[s${i}]scale=w=-2:h='trunc(min(${rendition.height},ih)/2)*2',format=yuv420p[v${i}]`);
  });
  if (thumbnailPath) filters.push(`[s${outputs.length}]fps=1/${THUMBNAIL_INTERVAL_SECONDS},scale=w=320:h=-2,format=yuvj420p[thumb]`);

  const gop = OUTPUT_FPS * GOP_SECONDS;
  const ffOutputs = outputs.map(({ rendition, url }, i) => ({
    url,
    options: [
      ...['-map', `[v${i}]`],
      ...(hasAudio ? ['-map', '0:a:0'] : []),
      ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'main'],
      ...['-b:v', String(rendition.videoBitrate), '-maxrate', String(Math.round(rendition.videoBitrate * 1.1))],
      ...['-bufsize', String(rendition.videoBitrate)],
      // Fixed GOP, no scene-cut keyframes, no B-frames: keyframes line up
      // across renditions and every segment starts with one.
      ...['-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0'],
      ...(hasAudio ? ['-c:a', 'aac', '-b:a', String(rendition.audioBitrate), '-ac', '2', '-ar', '48000'] : []),
      ...['-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe'],
      ...['-frag_duration', String(FRAGMENT_MICROSECONDS), '-flush_packets', '1'],
    ],
  }));
  if (thumbnailPath) {
    ffOutputs.push({
      url: thumbnailPath,
      options: ['-map', '[thumb]', '-q:v', '5', '-f', 'image2', '-update', '1', '-atomic_writing', '1'],
    });
  }
  return {
    inputOptions: [
      ...['-protocol_whitelist', 'file,udp,rtp,unix'],
      ...['-fflags', '+genpts'],
      ...['-analyzeduration', '1000000', '-probesize', '1000000'],
      ...['-reorder_queue_size', '0'],
    ],
    complexFilter: filters.join(';'),
    outputs: ffOutputs,
  };
}
