/**
 * What an encoder sends, and what the server must do with it for WebRTC
 * viewers: ffprobe reads the first second of its stream (FLV from RTMP,
 * MPEG-TS from SRT, buffered in memory) and the plan says copy or re-encode.
 *
 * Copy H.264 when browsers decode it as it is: 8-bit 4:2:0 Constrained
 * Baseline, Baseline, Main or High without B-frames. (High decodes in Chromium,
 * Firefox and Safari even though the SDP says 42e01f, as OBS's WHIP output
 * relies on.) Re-encode when it has B-frames (browsers' WebRTC decoders show
 * them out of order), is HEVC or anything else. B-frames are seen two ways:
 * the SPS's reorder depth (has_b_frames) or a decoded frame of type B.
 * Audio always becomes Opus (WebRTC has no AAC).
 *
 * A backup whose room already has a VP8 encoder in the other slot (a browser
 * or WHIP publisher) is re-encoded to VP8, whatever it sends (programCodec.ts).
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import type { RequiredVideoCodec } from './programCodec.js';

export interface IngestProbe {
  video: {
    codec: string;
    profile: string | null;
    width: number | null;
    height: number | null;
    fps: number | null;
    pixelFormat: string | null;
    bFrames: boolean;
    /** Video frames ffprobe decoded from the head. */
    frames: number;
  };
  audio: { codec: string; sampleRate: number | null; channels: number | null } | null;
}

export interface IngestVideoPlan {
  mode: 'copy' | 'transcode';
  /** What viewers get: H.264, or VP8 when the room's other encoder sends VP8 (programCodec.ts). */
  codec: 'h264' | 'vp8';
  reason: string;
}

/** Audio is never copied: WebRTC viewers get Opus, whatever the encoder sends (AAC from RTMP and SRT). */
export interface IngestAudioPlan {
  mode: 'transcode';
  codec: 'opus';
  reason: string;
}

export class IngestProbeError extends Error {
  override name = 'IngestProbeError';
}

/** B-frames show within the first few frames after a key frame (x264: bf 2-3; NVENC: 2-4). */
const MIN_PROBED_FRAMES = 8;

const COPYABLE_H264_PROFILES = new Set(['Constrained Baseline', 'Baseline', 'Main', 'High']);

/** `required`: the video codec the room's other encoder sends (a backup must match it), if any. */
export function planVideo(probe: IngestProbe, required?: RequiredVideoCodec): IngestVideoPlan {
  const { video } = probe;
  if (required?.mimeType.toLowerCase() === 'video/vp8') {
    return { mode: 'transcode', codec: 'vp8', reason: `the room's video is VP8, from ${required.from}: re-encoded to VP8 so that viewers can be switched` };
  }
  const transcode = (reason: string): IngestVideoPlan => ({ mode: 'transcode', codec: 'h264', reason });
  if (video.codec !== 'h264') return transcode(`${video.codec.toUpperCase()}: WebRTC viewers get H.264`);
  if (video.bFrames) return transcode("B-frames: browsers' WebRTC decoders show them out of order");
  if (!video.profile || !COPYABLE_H264_PROFILES.has(video.profile))
    return transcode(`H.264 ${video.profile ?? 'of an unknown profile'}: not decodable by every browser`);
  if (video.pixelFormat && video.pixelFormat !== 'yuv420p' && video.pixelFormat !== 'yuvj420p')
    return transcode(`pixel format ${video.pixelFormat}: browsers decode 8-bit 4:2:0`);
  return { mode: 'copy', codec: 'h264', reason: `H.264 ${video.profile} without B-frames: browsers decode it as it is` };
}

/** null: the stream has no audio, so there is no audio track. */
export function planAudio(probe: IngestProbe): IngestAudioPlan | null {
  if (!probe.audio) return null;
  const from = probe.audio.codec.toUpperCase();
  return { mode: 'transcode', codec: 'opus', reason: `${from} → Opus: WebRTC viewers decode Opus` };
}

/** ffprobe next to the configured ffmpeg (FFMPEG_PATH=/opt/ff/bin/ffmpeg → /opt/ff/bin/ffprobe). */
export function ffprobePathFor(ffmpegPath: string): string {
  const base = path.basename(ffmpegPath);
  const probe = base.replace(/ffmpeg/, 'ffprobe');
  return ffmpegPath.slice(0, ffmpegPath.length - base.length) + (probe === base ? 'ffprobe' : probe);
}

interface ProbeJson {
  streams?: {
    codec_type?: string;
    codec_name?: string;
    profile?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    has_b_frames?: number;
    pix_fmt?: string;
    sample_rate?: string;
    channels?: number;
  }[];
  frames?: { media_type?: string; pict_type?: string }[];
}

/** Probes `head` (the stream's first bytes, `format` 'flv' or 'mpegts'); rejects without video. */
export async function probeIngest(head: Buffer, format: 'flv' | 'mpegts', options: { ffprobePath: string; timeoutMs: number }): Promise<IngestProbe> {
  const args = ['-v', 'error', '-f', format, '-i', 'pipe:0', '-show_entries'];
  args.push(
    'stream=codec_type,codec_name,profile,width,height,avg_frame_rate,r_frame_rate,has_b_frames,pix_fmt,sample_rate,channels:frame=media_type,pict_type',
  );
  args.push('-of', 'json');
  const output = await run(options.ffprobePath, args, head, options.timeoutMs);
  let json: ProbeJson;
  try {
    json = JSON.parse(output) as ProbeJson;
  } catch {
    throw new IngestProbeError('ffprobe could not read the stream');
  }
  const video = json.streams?.find((s) => s.codec_type === 'video' && s.codec_name);
  // ffprobe reports 0 for a size it has not seen yet.
  if (!video?.codec_name) throw new IngestProbeError('the stream has no video (or it did not start within the probe window)');
  const audio = json.streams?.find((s) => s.codec_type === 'audio' && s.codec_name);
  const videoFrames = (json.frames ?? []).filter((f) => f.media_type === 'video');
  const bFrameSeen = videoFrames.some((f) => f.pict_type === 'B');
  return {
    video: {
      codec: video.codec_name,
      profile: video.profile ?? null,
      width: video.width || null,
      height: video.height || null,
      fps: frameRate(video.avg_frame_rate) ?? frameRate(video.r_frame_rate),
      pixelFormat: video.pix_fmt ?? null,
      bFrames: bFrameSeen || (video.has_b_frames ?? 0) > 0,
      frames: videoFrames.length,
    },
    audio: audio?.codec_name
      ? { codec: audio.codec_name, sampleRate: audio.sample_rate ? Number(audio.sample_rate) : null, channels: audio.channels ?? null }
      : null,
  };
}

/** Enough video frames seen to trust the B-frame verdict, with a size and profile known. */
export function probeIsConclusive(probe: IngestProbe): boolean {
  return probe.video.frames >= MIN_PROBED_FRAMES && Boolean(probe.video.width);
}

function frameRate(text: string | undefined): number | null {
  const [num, den] = (text ?? '').split('/').map(Number);
  if (!num || !den || !Number.isFinite(num / den)) return null;
  const fps = num / den;
  // FLV's millisecond time base reads as "1000 fps" when the rate is not known.
  return fps > 240 ? null : Math.round(fps * 100) / 100;
}

function run(binary: string, args: string[], input: Buffer, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new IngestProbeError(`ffprobe took longer than ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => {
      if (err.length < 2000) err += chunk.toString();
    });
    // ffprobe stops reading once it has seen enough: EPIPE on its stdin is normal.
    child.stdin.on('error', () => undefined);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new IngestProbeError(`cannot run ffprobe (${error.message})`));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(Buffer.concat(out).toString());
      else reject(new IngestProbeError(`ffprobe could not read the stream (${err.trim().split('\n')[0] ?? `exit ${code}`})`));
    });
    child.stdin.end(input);
  });
}
