/**
 * ffmpeg arguments that turn the recorder SDP into one fragmented-MP4 stream
 * per rendition (H.264 + AAC muxed) plus a periodically refreshed JPEG poster.
 *
 * Two ways to make the video, both with keyframes aligned across renditions
 * so that every segment of every rendition starts with one at the same time:
 *  - **encode** (any source codec): one fps filter, split, scale per
 *    rendition; x264 with a fixed 1 s GOP on the same frames.
 *  - **H.264 passthrough** (`passthroughTop`, source already H.264): the top
 *    rendition is the publisher's bitstream copied as-is (no decode/encode
 *    cost, no generation loss); the others are encoded with a keyframe
 *    wherever the source has one (`-force_key_frames source_no_drop`: also
 *    when ffmpeg's frame-rate sync drops the flagged frame, as it does early
 *    in a stream). The recorder asks the publisher for a keyframe every
 *    GOP_SECONDS to pace segments.
 *    No fps filter here: it could drop the very frame that carries the
 *    source's keyframe flag.
 */
import type { RenditionSpec } from './recorderLadder.js';
import { SOURCE_SIZE_PROBE_OUTPUT_OPTIONS, sourceSizeProbeFilter } from './sourceSizeProbe.js';

export const GOP_SECONDS = 1;
export const OUTPUT_FPS = 30;
/** fMP4 fragment (= LL-HLS part) length. */
export const FRAGMENT_MICROSECONDS = 250_000;
export const THUMBNAIL_INTERVAL_SECONDS = 3;
/** Fragment length aimed at for a copied (variable frame rate) stream. */
export const PASSTHROUGH_FRAGMENT_MICROSECONDS = 200_000;

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

export interface LadderOptions {
  /** Copy the source H.264 into the first (highest) rendition instead of encoding it. */
  passthroughTop?: boolean;
  /** Where to write the source-size probe (sourceSizeProbe.ts), e.g. unix:/…/probe.sock. */
  sizeProbeUrl?: string;
}

export function buildLadderArgs(
  outputs: readonly LadderOutput[],
  hasAudio: boolean,
  thumbnailPath: string | undefined,
  options: LadderOptions = {},
): LadderArgs {
  const passthrough = options.passthroughTop === true && outputs.length > 0;
  const encoded = passthrough ? outputs.slice(1) : outputs;
  const probeUrl = options.sizeProbeUrl;
  const branches = encoded.length + (thumbnailPath ? 1 : 0) + (probeUrl ? 1 : 0);
  const filters: string[] = [];
  if (branches > 0) {
    const splitLabels = Array.from({ length: branches }, (_, i) => `[s${i}]`).join('');
    filters.push(`[0:v:0]${passthrough ? '' : `fps=${OUTPUT_FPS},`}split=${branches}${splitLabels}`);
  }
  encoded.forEach(({ rendition }, i) => {
    // Never upscale: min(target, source height), kept even for yuv420p.
    filters.push(`[s${i}]scale=w=-2:h='trunc(min(${rendition.height},ih)/2)*2',format=yuv420p[v${i}]`);
  });
  if (thumbnailPath) filters.push(`[s${encoded.length}]fps=1/${THUMBNAIL_INTERVAL_SECONDS},scale=w=320:h=-2,format=yuvj420p[thumb]`);
  if (probeUrl) filters.push(sourceSizeProbeFilter(`s${branches - 1}`));

  const gop = OUTPUT_FPS * GOP_SECONDS;
  const audio = hasAudio ? ['-map', '0:a:0'] : [];
  const audioCodec = (rendition: RenditionSpec) => (hasAudio ? ['-c:a', 'aac', '-b:a', String(rendition.audioBitrate), '-ac', '2', '-ar', '48000'] : []);
  const container = (fragmentMicroseconds: number) => [
    ...['-f', 'mp4', '-movflags', '+empty_moov+default_base_moof+frag_keyframe'],
    ...['-frag_duration', String(fragmentMicroseconds), '-flush_packets', '1'],
  ];
  const keyframes = passthrough
    ? // Where the source has one; x264's own GOP only as a backstop if the source stops sending them.
      // `-r`: without the fps filter the output rate would be ffmpeg's guess from the RTP input,
      // and when it cannot guess (an ffmpeg started mid-GOP, as on a re-plan) that is the 90 kHz
      // clock: x264 then gets ~3000 duplicated frames per real one and every output stalls.
      ['-r', String(OUTPUT_FPS), '-force_key_frames', 'source_no_drop', '-g', String(gop * 4), '-keyint_min', '1', '-sc_threshold', '0', '-bf', '0']
    : // Fixed GOP, no scene-cut keyframes, no B-frames: keyframes line up
      // across renditions and every segment starts with one.
      ['-g', String(gop), '-keyint_min', String(gop), '-sc_threshold', '0', '-bf', '0'];

  const ffOutputs: LadderArgs['outputs'] = [];
  if (passthrough) {
    const { rendition, url } = outputs[0]!;
    // A fragment closes at the first frame past frag_duration; the copied stream's frames
    // come as the browser sent them (not a steady 30 fps), so aim shorter to keep parts
    // under PART-TARGET when a frame comes late.
    ffOutputs.push({ url, options: ['-map', '0:v:0', ...audio, '-c:v', 'copy', ...audioCodec(rendition), ...container(PASSTHROUGH_FRAGMENT_MICROSECONDS)] });
  }
  encoded.forEach(({ rendition, url }, i) =>
    ffOutputs.push({
      url,
      options: [
        ...['-map', `[v${i}]`],
        ...audio,
        ...['-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'main'],
        ...['-b:v', String(rendition.videoBitrate), '-maxrate', String(Math.round(rendition.videoBitrate * 1.1))],
        ...['-bufsize', String(rendition.videoBitrate)],
        ...keyframes,
        ...audioCodec(rendition),
        ...container(FRAGMENT_MICROSECONDS),
      ],
    }),
  );
  if (thumbnailPath) {
    ffOutputs.push({
      url: thumbnailPath,
      options: ['-map', '[thumb]', '-q:v', '5', '-f', 'image2', '-update', '1', '-atomic_writing', '1'],
    });
  }
  if (probeUrl) ffOutputs.push({ url: probeUrl, options: [...SOURCE_SIZE_PROBE_OUTPUT_OPTIONS] });
  return {
    inputOptions: [
      ...['-protocol_whitelist', 'file,udp,rtp,unix'],
      ...['-fflags', '+genpts'],
      // A copied stream needs its dimensions (SPS) before ffmpeg writes its header: when the
      // recording starts before the publisher's video flows, 1 s of probing ends on audio alone
      // ("dimensions not set", exit). Probing stops as soon as every stream is known anyway.
      ...(passthrough ? ['-analyzeduration', '5000000', '-probesize', '5000000'] : ['-analyzeduration', '1000000', '-probesize', '1000000']),
      // RTP carries no frame rate: ffmpeg would read 20 frames (~0.7 s) to guess one. The encoded
      // renditions run through fps=30 anyway, and passthrough sets -r: no need to guess.
      ...['-fpsprobesize', '0'],
      ...['-reorder_queue_size', '0'],
    ],
    complexFilter: filters.join(';'),
    outputs: ffOutputs,
  };
}
