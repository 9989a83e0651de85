/**
 * Real encoded media for the headless publisher: Debian's ffmpeg renders a
 * test pattern (testsrc2) and a tone (sine), encodes them in real time (VP8 or
 * H264, Opus) and sends RTP to UDP sockets on 127.0.0.1 that this process owns.
 * Each packet is handed to `onRtp` as a raw Buffer (ffmpeg's RTCP sender
 * reports arrive on the same socket and are dropped here).
 *
 * The ffmpeg process is a tracked process (see processes.ts): killed on
 * stop(), on exit of this process, and by the kernel if this process dies.
 */
import dgram from 'node:dgram';
import { describeExit, spawnTracked, type TrackedProcess } from './processes.js';

export type VideoCodecName = 'VP8' | 'H264';

export interface FfmpegVideoOptions {
  /** Default 'VP8'. */
  codec?: VideoCodecName;
  /** Default 1280. */
  width?: number;
  /** Default 720. */
  height?: number;
  /** Default 30. */
  fps?: number;
  /** Target (constant) bitrate. Default 1500 kbps. */
  bitrateKbps?: number;
  /** Keyframe interval. Default 1 s (ffmpeg cannot honour PLI, so viewers wait up to this for a first frame). */
  keyframeIntervalSec?: number;
}

export interface FfmpegAudioOptions {
  /** Default 48 kbps. */
  bitrateKbps?: number;
  /** Tone frequency. Default 440 Hz. */
  frequency?: number;
}

export interface FfmpegSourceOptions {
  /** false: no video. Default: VP8 1280x720@30, 1.5 Mbps. */
  video?: FfmpegVideoOptions | false;
  /** false: no audio. Default: Opus 48 kbps. */
  audio?: FfmpegAudioOptions | false;
  /** Default /usr/bin/ffmpeg. */
  ffmpegPath?: string;
  /** Encoder threads. Default 2. */
  threads?: number;
  /** RTP packet size limit (bytes). Default 1200, leaving room for SRTP and header extensions. */
  packetSize?: number;
  /** Print ffmpeg's output. Default false (it is kept for error messages anyway). */
  echo?: boolean;
}

export interface FfmpegSourceStats {
  videoPackets: number;
  videoBytes: number;
  audioPackets: number;
  audioBytes: number;
}

export type RtpHandler = (kind: 'audio' | 'video', packet: Buffer) => void;

// Payload types ffmpeg writes; werift rewrites them to the negotiated ones.
// Chosen so that (marker bit | PT) never falls in the RTCP type range 192..223.
const VIDEO_PT = 96;
const AUDIO_PT = 111;

export class FfmpegRtpSource {
  readonly stats: FfmpegSourceStats = { videoPackets: 0, videoBytes: 0, audioPackets: 0, audioBytes: 0 };
  readonly video: Required<FfmpegVideoOptions> | undefined;
  readonly audio: Required<FfmpegAudioOptions> | undefined;
  process: TrackedProcess | undefined;
  /** Called for every RTP packet; replace to redirect (the publisher swaps it on republish). */
  onRtp: RtpHandler = () => {};
  /** Called if ffmpeg exits while the source is running. */
  onExit: (description: string) => void = () => {};
  readonly #sockets: dgram.Socket[] = [];
  readonly #options: FfmpegSourceOptions;
  #stopped = false;

  constructor(options: FfmpegSourceOptions = {}) {
    this.#options = options;
    if (options.video !== false) {
      const v = options.video ?? {};
      this.video = {
        codec: v.codec ?? 'VP8',
        width: v.width ?? 1280,
        height: v.height ?? 720,
        fps: v.fps ?? 30,
        bitrateKbps: v.bitrateKbps ?? 1500,
        keyframeIntervalSec: v.keyframeIntervalSec ?? 1,
      };
    }
    if (options.audio !== false) {
      const a = options.audio ?? {};
      this.audio = { bitrateKbps: a.bitrateKbps ?? 48, frequency: a.frequency ?? 440 };
    }
    if (!this.video && !this.audio) throw new Error('FfmpegRtpSource needs audio or video');
  }

  async start(): Promise<void> {
    if (this.process) throw new Error('FfmpegRtpSource already started');
    const videoPort = this.video ? await this.#bind('video') : undefined;
    const audioPort = this.audio ? await this.#bind('audio') : undefined;
    if (this.#stopped) return;
    const args = this.#args(videoPort, audioPort);
    this.process = spawnTracked(this.#options.ffmpegPath ?? '/usr/bin/ffmpeg', args, {
      name: 'ffmpeg',
      echo: this.#options.echo ?? false,
    });
    const proc = this.process;
    void proc.exited.then((info) => {
      if (this.#stopped) return;
      this.onExit(`ffmpeg ${describeExit(info)}; last output:\n${proc.output()}`);
    });
  }

  /** Kills ffmpeg and closes the sockets. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.process?.stop({ signal: 'SIGKILL' });
    for (const socket of this.#sockets.splice(0)) {
      try {
        socket.close();
      } catch {
        /* already closed */
      }
    }
  }

  /** The ffmpeg command line, for logs. */
  get commandLine(): string {
    return this.process ? `ffmpeg ${this.#args(0, 0).join(' ')}` : '';
  }

  async #bind(kind: 'audio' | 'video'): Promise<number> {
    const socket = dgram.createSocket('udp4');
    this.#sockets.push(socket);
    // ~2 s of 1.5 Mbps video: ride out event-loop stalls without kernel drops.
    socket.on('message', (packet) => {
      if (packet.length < 12) return;
      const second = packet[1]!;
      if (second >= 192 && second <= 223) return; // RTCP (SR/SDES/BYE) from ffmpeg
      if (kind === 'video') {
        this.stats.videoPackets++;
        this.stats.videoBytes += packet.length;
      } else {
        this.stats.audioPackets++;
        this.stats.audioBytes += packet.length;
      }
      this.onRtp(kind, packet);
    });
    socket.on('error', () => {
      /* closed under us during stop */
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind({ address: '127.0.0.1', port: 0 }, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    try {
      socket.setRecvBufferSize(1 << 20);
    } catch {
      /* not permitted: keep the default */
    }
    return socket.address().port;
  }

  #args(videoPort: number | undefined, audioPort: number | undefined): string[] {
    const threads = String(this.#options.threads ?? 2);
    const pkt = this.#options.packetSize ?? 1200;
    // RTCP goes to the RTP port itself (filtered on receipt): no stray port+1
    // traffic; ffmpeg's own sending sockets bind to loopback, not 0.0.0.0.
    const url = (port: number): string => `rtp://127.0.0.1:${port}?rtcpport=${port}&localaddr=127.0.0.1&pkt_size=${pkt}`;
    const args = ['-hide_banner', '-nostdin', '-nostats', '-loglevel', 'warning'];
    let input = 0;
    let videoInput = -1;
    let audioInput = -1;
    const v = this.video;
    const a = this.audio;
    if (v) {
      args.push('-re', '-f', 'lavfi', '-i', `testsrc2=size=${v.width}x${v.height}:rate=${v.fps}`);
      videoInput = input++;
    }
    if (a) {
      args.push('-re', '-f', 'lavfi', '-i', `sine=frequency=${a.frequency}:sample_rate=48000`);
      audioInput = input++;
    }
    if (v && videoPort !== undefined) {
      const gop = String(Math.max(1, Math.round(v.fps * v.keyframeIntervalSec)));
      const rate = `${v.bitrateKbps}k`;
      args.push('-map', `${videoInput}:v`, '-pix_fmt', 'yuv420p');
      // Both encoders: a steady bitrate (half a second of buffer) and a fixed key frame interval.
      const rateAndGop = ['-threads', threads, '-b:v', rate, '-maxrate', rate, '-bufsize', `${Math.round(v.bitrateKbps / 2)}k`, '-g', gop, '-keyint_min', gop];
      if (v.codec === 'VP8') {
        args.push(
          '-c:v',
          'libvpx',
          '-deadline',
          'realtime',
          '-cpu-used',
          '8',
          ...rateAndGop,
          '-minrate',
          rate,
          '-lag-in-frames',
          '0',
          '-auto-alt-ref',
          '0',
          '-error-resilient',
          '1',
        );
      } else {
        // Constrained Baseline (profile-level-id 42e01f): what every WebRTC endpoint decodes.
        args.push(
          '-c:v',
          'libx264',
          '-preset',
          'ultrafast',
          '-tune',
          'zerolatency',
          '-profile:v',
          'baseline',
          '-level:v',
          '3.1',
          ...rateAndGop,
          '-sc_threshold',
          '0',
          '-bf',
          '0',
          '-x264-params',
          'repeat-headers=1',
        );
      }
      args.push('-payload_type', String(VIDEO_PT), '-f', 'rtp', url(videoPort));
    }
    if (a && audioPort !== undefined) {
      args.push(
        '-map',
        `${audioInput}:a`,
        '-c:a',
        'libopus',
        '-b:a',
        `${a.bitrateKbps}k`,
        '-application',
        'lowdelay',
        '-frame_duration',
        '20',
        '-payload_type',
        String(AUDIO_PT),
        '-f',
        'rtp',
        url(audioPort),
      );
    }
    return args;
  }
}
