/**
 * An encoder publishing over RTMP or SRT: its stream (FLV or MPEG-TS) is
 * written into an ffmpeg's stdin, and ffmpeg sends RTP to two mediasoup
 * PlainTransports (comedia: mediasoup learns ffmpeg's ports from its first
 * packets) where producers with fixed SSRCs and payload types take it.
 *
 * Video is copied (with h264_mp4toannexb, so that SPS/PPS reach viewers before
 * every IDR) or re-encoded (libx264 ultrafast/zerolatency, no B-frames, a key
 * frame every second; libvpx VP8 in real time when the room's other encoder
 * sends VP8) as the probe's plan says; audio always becomes Opus.
 *
 * ffmpeg runs through fluent-ffmpeg but not through FfmpegSupervisor: a
 * restart cannot resume a live stdin stream mid-GOP, so an ffmpeg that dies
 * ends the source (the encoder reconnects). It reads stdin, so it also ends by
 * itself (EOF) if this server dies: it cannot be orphaned.
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { PassThrough } from 'node:stream';
import ffmpeg from 'fluent-ffmpeg';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import { MAX_GOOD_KEY_FRAME_INTERVAL_MS, type IngestHealth } from '../contracts/ingestHealth.js';
import { planAudio, type IngestProbe, type IngestVideoPlan } from '../ingest/ingestProbe.js';
import type { MediaSource, MediaSourceEvents, SourceEndReason, SourceSlot, SourceTrack } from './mediaSource.js';
import { SourceTrackSet } from './sourceTrackSet.js';
import { SourceHealthTracker, type SourceHealth } from './sourceHealth.js';

const VIDEO_PT = 102;
const AUDIO_PT = 101;
const VIDEO_SSRC = 0x2222_0001;
const AUDIO_SSRC = 0x2222_0002;
/** Input ffmpeg has not read yet; beyond this it cannot keep up (a transcode too slow for the CPU). */
const MAX_BACKLOG_BYTES = 32 * 1024 * 1024;
/** Input bitrate samples kept for spike detection (one a second). */
const BITRATE_WINDOW = 10;
/** A second this much above the window's mean (and ≥ 1 Mbit/s above it) is a spike. */
const SPIKE_RATIO = 2;
/** A spike stays in the warnings this long. */
const SPIKE_SHOWN_MS = 30_000;
/** What the re-encode aims for when the encoder's own bitrate is not known yet. */
const DEFAULT_TRANSCODE_KBPS = 2500;

export interface FfmpegIngestSourceOptions {
  protocol: 'rtmp' | 'srt';
  slot: SourceSlot;
  router: ms.Router;
  /** What the input is: FLV (RTMP) or MPEG-TS (SRT). */
  format: 'flv' | 'mpegts';
  probe: IngestProbe;
  plan: IngestVideoPlan;
  rtcPortRange: { min: number; max: number };
  ffmpegPath: string;
  remoteAddress: string | null;
  /** The transport's own loss measurement (SRT), percent; RTMP runs over TCP and has none. */
  inputLossPercent?: () => number | null;
  logger: Logger;
}

interface Output {
  kind: ms.MediaKind;
  transport: ms.PlainTransport;
  url: string;
  options: string[];
  rtpParameters: ms.RtpParameters;
}

export class FfmpegIngestSource extends SafeEmitter<MediaSourceEvents> implements MediaSource {
  readonly id = randomUUID();
  readonly protocol: 'rtmp' | 'srt';
  readonly slot: SourceSlot;
  readonly router: ms.Router;
  readonly #options: FfmpegIngestSourceOptions;
  readonly #log: Logger;
  readonly #since = new Date();
  readonly #transports: ms.PlainTransport[] = [];
  readonly #health = new SourceHealthTracker({ traceKeyFrames: true });
  readonly #tracks = new SourceTrackSet(this.#health, (track) => this.safeEmit('trackRemoved', track));
  readonly #input = new PassThrough({ highWaterMark: 1024 * 1024 });
  readonly #timer: NodeJS.Timeout;
  #command: ffmpeg.FfmpegCommand | undefined;
  #pid: number | undefined;
  #ended = false;
  #bytesIn = 0;
  #bitrateBps = 0;
  readonly #bitrates: number[] = [];
  #lastSpike: { at: number; bps: number; ratio: number } | undefined;
  #cpu: { ticks: number; at: number; percent: number | null } = { ticks: 0, at: 0, percent: null };

  private constructor(options: FfmpegIngestSourceOptions) {
    super();
    this.#options = options;
    this.protocol = options.protocol;
    this.slot = options.slot;
    this.router = options.router;
    this.#log = options.logger.child({ source: this.id, protocol: options.protocol });
    this.#timer = setInterval(() => this.#sample(), 1000);
    this.#timer.unref();
    // A failing pipe into a dead ffmpeg is reported by its exit, not here.
    this.#input.on('error', () => undefined);
    options.router.observer.once('close', () => this.end('media-lost'));
  }

  /** Transports and producers made, ffmpeg started and fed `head` (the probed bytes). Frees everything if a step fails. */
  static async create(options: FfmpegIngestSourceOptions, head: Buffer): Promise<FfmpegIngestSource> {
    const source = new FfmpegIngestSource(options);
    try {
      await source.#open(head);
    } catch (error) {
      source.end('failed');
      throw error;
    }
    return source;
  }

  get ended(): boolean {
    return this.#ended;
  }

  tracks(): readonly SourceTrack[] {
    return this.#tracks.list();
  }

  health(): SourceHealth {
    return this.#health.health();
  }

  /** The encoder's next bytes. */
  write(chunk: Buffer): void {
    if (this.#ended) return;
    this.#bytesIn += chunk.length;
    if (this.#input.writableLength > MAX_BACKLOG_BYTES) {
      this.#log.warn({ backlogBytes: this.#input.writableLength }, 'ffmpeg cannot keep up with the encoder');
      this.end('failed');
      return;
    }
    this.#input.write(chunk);
  }

  ingestHealth(): IngestHealth {
    const { probe, plan } = this.#options;
    const health = this.#health.health();
    const transcoding = plan.mode === 'transcode';
    const warnings: string[] = [];
    const interval = health.keyFrameIntervalMs;
    if (interval !== null && interval > MAX_GOOD_KEY_FRAME_INTERVAL_MS)
      warnings.push(
        `key frames every ${(interval / 1000).toFixed(1)} s: joining viewers wait that long for a picture; set the encoder's key-frame interval to 1–2 s`,
      );
    if (probe.video.bFrames)
      warnings.push(
        `B-frames are being re-encoded (${this.#cpu.percent === null ? 'CPU' : `${Math.round(this.#cpu.percent)} % of a core`}); turn B-frames off in the encoder to have the video copied`,
      );
    else if (transcoding) warnings.push(`the video is re-encoded (${plan.reason})`);
    const spike = this.#lastSpike;
    if (spike && Date.now() - spike.at < SPIKE_SHOWN_MS)
      warnings.push(`bitrate spike: ${(spike.bps / 1e6).toFixed(1)} Mbit/s, ${spike.ratio.toFixed(1)}× the average; use CBR with a bounded buffer`);
    const loss = this.#options.inputLossPercent?.() ?? null;
    if (loss !== null && loss > 2) warnings.push(`${loss.toFixed(1)} % packet loss on the way in; raise SRT latency or lower the bitrate`);
    return {
      sourceId: this.id,
      protocol: this.protocol,
      slot: this.slot,
      remoteAddress: this.#options.remoteAddress,
      since: this.#since.toISOString(),
      video: {
        codec: probe.video.codec === 'h264' ? 'H.264' : probe.video.codec.toUpperCase(),
        profile: probe.video.profile,
        width: probe.video.width,
        height: probe.video.height,
        fps: probe.video.fps,
        bFrames: probe.video.bFrames,
        handling: plan.mode,
        reason: plan.reason,
      },
      audio: probe.audio ? { codec: probe.audio.codec.toUpperCase(), handling: 'transcode' } : null,
      bitrateBps: this.#bitrateBps,
      keyFrameIntervalMs: interval,
      packetLossPercent: loss,
      cpuPercent: this.#cpu.percent,
      warnings,
    };
  }

  end(reason: SourceEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearInterval(this.#timer);
    try {
      this.#command?.kill('SIGKILL');
    } catch {
      // already gone
    }
    this.#input.destroy();
    for (const transport of this.#transports) transport.close();
    this.#tracks.removeAll();
    this.#health.close();
    this.#log.info({ reason }, 'source ended');
    this.safeEmit('ended', reason);
    this.removeAllListeners();
  }

  async #open(head: Buffer): Promise<void> {
    const outputs: Output[] = [await this.#output('video')];
    if (planAudio(this.#options.probe)) outputs.push(await this.#output('audio'));
    for (const output of outputs) {
      const producer = await output.transport.produce({ kind: output.kind, rtpParameters: output.rtpParameters, appData: { source: this.id } });
      if (this.#ended) {
        producer.close();
        throw new Error(`the ${this.protocol} ingest ended while producing`);
      }
      const track: SourceTrack = { kind: output.kind, producer, label: `${this.protocol}-${output.kind}` };
      this.#tracks.add(track);
    }
    this.#start(outputs);
    this.write(head);
    for (const track of this.#tracks.list()) this.safeEmit('trackAdded', track);
    this.#log.info(
      {
        video: `${this.#options.probe.video.codec} ${this.#options.probe.video.profile ?? ''}`.trim(),
        mode: this.#options.plan.mode,
        reason: this.#options.plan.reason,
      },
      'ingest producing',
    );
  }

  async #output(kind: ms.MediaKind): Promise<Output> {
    const transport = await this.router.createPlainTransport({
      listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: this.#options.rtcPortRange },
      rtcpMux: false,
      comedia: true,
    });
    this.#transports.push(transport);
    if (this.#ended) throw new Error(`the ${this.protocol} ingest ended while opening`);
    const rtcpPort = transport.rtcpTuple?.localPort ?? transport.tuple.localPort + 1;
    const url = `rtp://127.0.0.1:${transport.tuple.localPort}?rtcpport=${rtcpPort}&localaddr=127.0.0.1&pkt_size=1200`;
    const cname = `floodlight-${this.id}`;
    if (kind === 'video') {
      return {
        kind,
        transport,
        url,
        options: ['-map', '0:v:0', ...this.#videoCodecOptions(), '-f', 'rtp', '-ssrc', String(VIDEO_SSRC), '-payload_type', String(VIDEO_PT)],
        rtpParameters: {
          codecs: [
            this.#options.plan.codec === 'vp8'
              ? { mimeType: 'video/VP8', payloadType: VIDEO_PT, clockRate: 90000, parameters: {}, rtcpFeedback: [] }
              : {
                  mimeType: 'video/H264',
                  payloadType: VIDEO_PT,
                  clockRate: 90000,
                  // Declared Constrained Baseline whatever the profile, as OBS's WHIP output does:
                  // the routers offer 42e01f, and browsers decode Main and High under it.
                  parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f', 'level-asymmetry-allowed': 1 },
                  rtcpFeedback: [],
                },
          ],
          encodings: [{ ssrc: VIDEO_SSRC }],
          rtcp: { cname, reducedSize: false },
        },
      };
    }
    return {
      kind,
      transport,
      url,
      options: [
        '-map',
        '0:a:0',
        '-c:a',
        'libopus',
        '-ar',
        '48000',
        '-ac',
        '2',
        '-b:a',
        '128k',
        '-application',
        'audio',
        '-frame_duration',
        '20',
        '-f',
        'rtp',
        '-ssrc',
        String(AUDIO_SSRC),
        '-payload_type',
        String(AUDIO_PT),
      ],
      rtpParameters: {
        codecs: [{ mimeType: 'audio/opus', payloadType: AUDIO_PT, clockRate: 48000, channels: 2, parameters: { 'sprop-stereo': 1 }, rtcpFeedback: [] }],
        encodings: [{ ssrc: AUDIO_SSRC }],
        rtcp: { cname, reducedSize: false },
      },
    };
  }

  #videoCodecOptions(): string[] {
    if (this.#options.plan.mode === 'copy') {
      // FLV carries SPS/PPS once, out of band: put them before every IDR. TS has them in-band already.
      return ['-c:v', 'copy', ...(this.#options.format === 'flv' ? ['-bsf:v', 'h264_mp4toannexb'] : [])];
    }
    const fps = this.#options.probe.video.fps ?? 30;
    // A key frame every second: ffmpeg cannot answer viewers' key frame requests.
    const gop = String(Math.max(1, Math.round(fps)));
    const kbps = DEFAULT_TRANSCODE_KBPS;
    if (this.#options.plan.codec === 'vp8') {
      // libvpx in real time, as browsers encode VP8 for WebRTC: no look-ahead, no alt-ref frames.
      const vp8 = ['-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-lag-in-frames', '0', '-auto-alt-ref', '0', '-error-resilient', '1'];
      return [
        ...vp8,
        '-pix_fmt',
        'yuv420p',
        '-g',
        gop,
        '-keyint_min',
        gop,
        '-b:v',
        `${kbps}k`,
        '-maxrate',
        `${kbps}k`,
        '-bufsize',
        `${kbps}k`,
        '-threads',
        '2',
      ];
    }
    return [
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-tune',
      'zerolatency',
      '-profile:v',
      'baseline',
      '-pix_fmt',
      'yuv420p',
      '-bf',
      '0',
      '-g',
      gop,
      '-keyint_min',
      gop,
      '-sc_threshold',
      '0',
      '-b:v',
      `${kbps}k`,
      '-maxrate',
      `${kbps}k`,
      '-bufsize',
      `${Math.round(kbps / 2)}k`,
      '-threads',
      '2',
      '-x264-params',
      'repeat-headers=1',
    ];
  }

  #start(outputs: readonly Output[]): void {
    const command = ffmpeg(this.#input)
      // -f here rather than inputFormat(): no capability probe of ffmpeg before the spawn.
      .inputOptions(['-hide_banner', '-nostdin', '-f', this.#options.format, '-probesize', '1000000', '-analyzeduration', '1000000', '-fflags', '+genpts']);
    command.setFfmpegPath(this.#options.ffmpegPath);
    for (const output of outputs) command.output(output.url).outputOptions(output.options);
    const stderr: string[] = [];
    command.on('stderr', (line: string) => {
      stderr.push(line);
      if (stderr.length > 20) stderr.shift();
    });
    command.on('start', () => {
      this.#pid = (command as unknown as { ffmpegProc?: { pid?: number } }).ffmpegProc?.pid;
      this.#log.debug({ pid: this.#pid }, 'ingest ffmpeg started');
    });
    const onExit = (message: string): void => {
      if (this.#ended) return;
      this.#log.warn({ reason: message.split('\n')[0], stderr: stderr.slice(-5) }, 'ingest ffmpeg exited');
      this.end('failed');
    };
    command.on('error', (error: Error) => onExit(error.message));
    command.on('end', () => onExit('ffmpeg ended'));
    this.#command = command;
    command.run();
  }

  /** Once a second: the encoder's bitrate (and spikes in it), and ffmpeg's CPU. */
  #sample(): void {
    const bps = this.#bytesIn * 8;
    this.#bytesIn = 0;
    this.#bitrateBps = bps;
    if (this.#bitrates.length >= 3) {
      const mean = this.#bitrates.reduce((a, b) => a + b, 0) / this.#bitrates.length;
      if (mean > 0 && bps > mean * SPIKE_RATIO && bps - mean > 1_000_000) this.#lastSpike = { at: Date.now(), bps, ratio: bps / mean };
    }
    this.#bitrates.push(bps);
    if (this.#bitrates.length > BITRATE_WINDOW) this.#bitrates.shift();
    this.#sampleCpu();
  }

  #sampleCpu(): void {
    if (this.#pid === undefined) return;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${this.#pid}/stat`, 'utf8');
    } catch {
      return; // not Linux, or already gone
    }
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const now = Date.now();
    if (this.#cpu.at > 0 && now > this.#cpu.at) {
      // Linux reports USER_HZ = 100 ticks per second.
      this.#cpu.percent = Math.round(((ticks - this.#cpu.ticks) / 100 / ((now - this.#cpu.at) / 1000)) * 1000) / 10;
    }
    this.#cpu = { ...this.#cpu, ticks, at: now };
  }
}
