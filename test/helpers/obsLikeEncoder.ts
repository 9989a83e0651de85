/**
 * An encoder shaped like OBS's RTMP/SRT outputs, for the RTMP and SRT ingest
 * tests: Debian's ffmpeg renders a test pattern and a tone in real time,
 * encodes x264 (profile and B-frames as asked, a 2 s key-frame interval, CBR)
 * and AAC, and publishes FLV to an rtmp:// URL or MPEG-TS to an srt:// URL.
 * Plus what the bad-input tests need: the ffmpegs an ingest left running, and
 * free ports.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import { spawnTracked, type TrackedProcess } from './processes.js';

export interface ObsLikeEncoderOptions {
  /** 'high' (OBS's x264 default), 'main' or 'baseline'. */
  profile: 'high' | 'main' | 'baseline';
  /** B-frames between references: OBS's x264 default is 2. */
  bFrames: number;
  /** Default 640x360. */
  size?: string;
  /** Default 30. */
  fps?: number;
}

/** Starts publishing to `url` (rtmp://… as FLV, srt://… as MPEG-TS); stop() kills it. */
export function startObsLikeEncoder(url: string, options: ObsLikeEncoderOptions): TrackedProcess {
  const fps = options.fps ?? 30;
  const format = url.startsWith('srt:') ? 'mpegts' : 'flv';
  const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning'];
  args.push('-re', '-f', 'lavfi', '-i', `testsrc2=size=${options.size ?? '640x360'}:rate=${fps}`);
  args.push('-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100');
  args.push('-map', '0:v', '-map', '1:a', '-pix_fmt', 'yuv420p');
  args.push('-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', options.profile, '-bf', String(options.bFrames));
  args.push(
    '-g',
    String(fps * 2),
    '-keyint_min',
    String(fps * 2),
    '-sc_threshold',
    '0',
    '-b:v',
    '1000k',
    '-maxrate',
    '1000k',
    '-bufsize',
    '1000k',
    '-threads',
    '1',
  );
  args.push('-c:a', 'aac', '-b:a', '128k', '-f', format, url);
  return spawnTracked('/usr/bin/ffmpeg', args, { name: `encoder ${format}` });
}

/** ffmpeg processes of this test process that send RTP to loopback: the ingests' own, never the test's encoders. */
export function ingestFfmpegPids(): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && cmdline[0]?.endsWith('ffmpeg') && cmdline.some((arg) => arg.startsWith('rtp://127.0.0.1'))) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export async function freeTcpPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function freeUdpPort(): Promise<number> {
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const { port } = socket.address();
  socket.close();
  return port;
}
