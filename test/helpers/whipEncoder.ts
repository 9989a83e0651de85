/**
 * An OBS-like WHIP encoder for tests, drills and benches: a libdatachannel
 * peer (node-datachannel, the library inside OBS's WHIP output) with OBS's
 * offer shape — Opus mid 0, H.264 42e01f mid 1, tracks declared with a=ssrc,
 * no MID extension, no trickle — sending ffmpeg's H.264/Opus RTP.
 *
 * The ffmpeg process is reachable (`signalMedia`) so a test can stall the
 * encoder (SIGSTOP), let it go on (SIGCONT) or kill it (SIGKILL) while its
 * WebRTC connection stays up, like a frozen or crashed encoder.
 *
 * Call `nodeDataChannel.cleanup()` once the process' last peer closed.
 */
import nodeDataChannel from 'node-datachannel';
import { FfmpegRtpSource, type FfmpegVideoOptions } from './ffmpegSource.js';
import { waitFor } from './wait.js';
import { fetchFrom } from './fetchFrom.js';

export interface WhipEncoderOptions {
  /** Default 0x1111_0001 / 0x1111_0002 (OBS declares its own; the server demuxes by SSRC). */
  audioSsrc?: number;
  videoSsrc?: number;
  /** ffmpeg's H.264 picture. Default 640x360@30, 800 kbps, a key frame every second. */
  video?: Omit<FfmpegVideoOptions, 'codec'>;
  /** Tone frequency, so that two encoders sound different. Default 440 Hz. */
  toneHz?: number;
  name?: string;
  /** POST from this local address (a second client on 127.0.0.2…). Default: the system's choice. */
  localAddress?: string;
}

export class WhipEncoder {
  readonly pc: nodeDataChannel.PeerConnection;
  readonly audio: nodeDataChannel.Track;
  readonly video: nodeDataChannel.Track;
  readonly #options: WhipEncoderOptions;
  readonly #audioSsrc: number;
  readonly #videoSsrc: number;
  #ffmpeg: FfmpegRtpSource | undefined;
  location: string | undefined;
  sent = 0;
  /** When the last RTP packet was handed to libdatachannel (Date.now()). */
  lastSentAt: number | undefined;
  /** The last error libdatachannel threw while sending (the connection closed). */
  sendError: string | undefined;

  constructor(options: WhipEncoderOptions = {}) {
    this.#options = options;
    this.#audioSsrc = options.audioSsrc ?? 0x1111_0001;
    this.#videoSsrc = options.videoSsrc ?? 0x1111_0002;
    this.pc = new nodeDataChannel.PeerConnection(options.name ?? 'obs-like', { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true });
    const audio = new nodeDataChannel.Audio('0', 'SendOnly');
    audio.addOpusCodec(111);
    audio.addSSRC(this.#audioSsrc, 'obs-cname', 'obs-stream', 'obs-stream-audio');
    this.audio = this.pc.addTrack(audio);
    const video = new nodeDataChannel.Video('1', 'SendOnly');
    video.addH264Codec(96);
    video.addSSRC(this.#videoSsrc, 'obs-cname', 'obs-stream', 'obs-stream-video');
    this.video = this.pc.addTrack(video);
  }

  /** OBS gathers everything first (no trickle), then POSTs. */
  async offer(): Promise<string> {
    const gathered = new Promise<void>((resolve) => this.pc.onGatheringStateChange((state) => state === 'complete' && resolve()));
    this.pc.setLocalDescription();
    await gathered;
    return this.pc.localDescription()!.sdp;
  }

  async publish(url: string, key: string): Promise<Response> {
    const init = { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` }, body: await this.offer() };
    const response = this.#options.localAddress ? await fetchFrom(this.#options.localAddress, url, init) : await fetch(url, init);
    if (response.status !== 201) return response;
    this.location = new URL(response.headers.get('location')!, url).href;
    this.pc.setRemoteDescription(await response.clone().text(), 'answer');
    return response;
  }

  /** ffmpeg's H.264 (Constrained Baseline) and Opus, with OBS's SSRCs and payload types. */
  async startMedia(): Promise<void> {
    await waitFor(() => this.video.isOpen() && this.audio.isOpen(), { description: 'the WHIP client tracks to open (ICE + DTLS)', timeoutMs: 15_000 });
    const ffmpeg = new FfmpegRtpSource({
      video: { width: 640, height: 360, bitrateKbps: 800, ...this.#options.video, codec: 'H264' },
      audio: { frequency: this.#options.toneHz ?? 440 },
    });
    ffmpeg.onRtp = (kind, packet) => {
      packet.writeUInt32BE(kind === 'video' ? this.#videoSsrc : this.#audioSsrc, 8);
      packet[1] = (packet[1]! & 0x80) | (kind === 'video' ? 96 : 111);
      try {
        if ((kind === 'video' ? this.video : this.audio).sendMessageBinary(packet)) {
          this.sent++;
          this.lastSentAt = Date.now();
        }
      } catch (error) {
        this.sendError = (error as Error).message;
      }
    };
    this.#ffmpeg = ffmpeg;
    await ffmpeg.start();
  }

  /** Signals the encoder's ffmpeg: SIGSTOP freezes it, SIGCONT resumes, SIGKILL ends its media. */
  signalMedia(signal: 'SIGSTOP' | 'SIGCONT' | 'SIGKILL'): void {
    const pid = this.#ffmpeg?.process?.pid;
    if (pid === undefined) throw new Error('the encoder has no ffmpeg running');
    process.kill(pid, signal);
  }

  /** The WHIP resource's DELETE (what OBS does when it stops streaming). */
  async unpublish(): Promise<number> {
    if (!this.location) return 0;
    return (await fetch(this.location, { method: 'DELETE' })).status;
  }

  async close(): Promise<void> {
    await this.#ffmpeg?.stop();
    this.audio.close();
    this.video.close();
    this.pc.close();
    // libdatachannel closes on its own threads: cleanup() before that aborts the process.
    await waitFor(() => this.pc.state() === 'closed', { description: 'the WHIP client to close', timeoutMs: 5_000 }).catch(() => undefined);
  }
}
