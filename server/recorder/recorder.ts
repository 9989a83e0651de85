/**
 * Recorder: consumes a live room's audio and video on mediasoup
 * PlainTransports and runs ffmpeg (through fluent-ffmpeg) on an SDP
 * describing them. ffmpeg writes one fragmented-MP4 stream per rendition to a
 * unix socket this process listens on; the bytes go to a RenditionSink (the
 * LL-HLS packager). ffmpeg that dies is restarted, and the sinks are told so
 * they mark a discontinuity.
 *
 * Lifecycle: `Recorder.start()` → live; `close()` (idempotent) kills ffmpeg,
 * closes transports/consumers and sockets, and removes its work directory.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import ffmpeg from 'fluent-ffmpeg';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { buildRecorderSdp, type SdpStream } from './recorderSdp.js';
import { buildLadderArgs, GOP_SECONDS } from './recorderFfmpegArgs.js';
import type { RenditionSpec } from './recorderLadder.js';

/** Where the recorder delivers each rendition's fMP4 bytes. */
export interface RenditionSink {
  write(chunk: Buffer): void;
  /** ffmpeg restarted: the next bytes start with a new init segment. */
  restart(): void;
}

export interface RecorderOptions {
  roomId: string;
  router: ms.Router;
  videoProducer: ms.Producer;
  audioProducer: ms.Producer | undefined;
  renditions: readonly RenditionSpec[];
  sinks: ReadonlyMap<string, RenditionSink>;
  /** Private scratch directory (SDP, sockets); created and removed by the recorder. */
  workDir: string;
  thumbnailPath: string | undefined;
  /** Ports for the PlainTransports on mediasoup's side. */
  rtcPortRange: { min: number; max: number };
  logger: Logger;
  ffmpegPath?: string;
  /**
   * When the publisher sends H.264, copy it into the top rendition instead of
   * re-encoding (see recorderFfmpegArgs.ts). Default false.
   */
  h264Passthrough?: boolean;
}

type RecorderEvents = { restarted: [count: number]; ffmpegStarted: [pid: number] };

const RESTART_BACKOFF_MS = [250, 1000, 2000, 5000, 10000];

export class Recorder extends EventEmitter<RecorderEvents> {
  readonly #options: RecorderOptions;
  readonly #log: Logger;
  readonly #transports: ms.PlainTransport[] = [];
  readonly #consumers: ms.Consumer[] = [];
  readonly #socketServers: net.Server[] = [];
  readonly #streams: SdpStream[] = [];
  #command: ffmpeg.FfmpegCommand | undefined;
  #stderrTail: string[] = [];
  #restarts = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #keyframeTimers: NodeJS.Timeout[] = [];
  #gopTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #closed = false;

  private constructor(options: RecorderOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: 'recorder', room: options.roomId });
  }

  static async start(options: RecorderOptions): Promise<Recorder> {
    const recorder = new Recorder(options);
    try {
      await recorder.#setup();
    } catch (error) {
      recorder.close();
      throw error;
    }
    return recorder;
  }

  /** The top rendition is the publisher's H.264, copied (decided once the consumer's codec is known). */
  get passthrough(): boolean {
    const video = this.#streams.find((s) => s.kind === 'video');
    const codec = video?.rtpParameters.codecs[0]?.mimeType.toLowerCase();
    return this.#options.h264Passthrough === true && codec === 'video/h264';
  }

  get restarts(): number {
    return this.#restarts;
  }

  get ffmpegPid(): number | undefined {
    return (this.#command as unknown as { ffmpegProc?: { pid?: number } })?.ffmpegProc?.pid;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#keyframeTimers.forEach(clearTimeout);
    if (this.#gopTimer) clearInterval(this.#gopTimer);
    this.#killFfmpeg();
    for (const consumer of this.#consumers) consumer.close();
    for (const transport of this.#transports) transport.close();
    for (const server of this.#socketServers) server.close();
    fs.rmSync(this.#options.workDir, { recursive: true, force: true });
    this.#log.info({ restarts: this.#restarts }, 'recorder closed');
    this.removeAllListeners();
  }

  async #setup(): Promise<void> {
    const { router, videoProducer, audioProducer, workDir } = this.#options;
    fs.mkdirSync(workDir, { recursive: true });
    for (const producer of [audioProducer, videoProducer]) {
      if (!producer) continue;
      const port = await findFreeUdpPortPair();
      const transport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: this.#options.rtcPortRange },
        rtcpMux: false,
        comedia: false,
      });
      this.#transports.push(transport);
      await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
      const consumer = await transport.consume({
        producerId: producer.id,
        rtpCapabilities: router.rtpCapabilities,
        // Resumed once ffmpeg listens, so the first keyframe isn't lost.
        paused: true,
      });
      this.#consumers.push(consumer);
      // The recorder makes the top rendition: always take the best simulcast layer.
      if (consumer.type === 'simulcast') await consumer.setPreferredLayers({ spatialLayer: 2, temporalLayer: 2 });
      this.#streams.push({ kind: producer.kind, port, rtpParameters: consumer.rtpParameters });
    }
    fs.writeFileSync(path.join(workDir, 'input.sdp'), buildRecorderSdp(this.#streams));
    for (const rendition of this.#options.renditions) {
      const sink = this.#options.sinks.get(rendition.name);
      if (!sink) throw new Error(`no sink for rendition ${rendition.name}`);
      this.#socketServers.push(await listenUnix(path.join(workDir, `${rendition.name}.sock`), sink));
    }
    await this.#startFfmpeg();
    if (this.passthrough) {
      // A copied stream has keyframes only when the publisher sends them, and
      // browsers send H.264 keyframes only when asked: ask once per GOP so that
      // segments stay ~GOP_SECONDS long. (The publisher's other viewers get these
      // keyframes too; KEYFRAME_REQUEST_DELAY_MS keeps them >= 300 ms apart.)
      this.#gopTimer = setInterval(() => this.#requestVideoKeyFrame(), GOP_SECONDS * 1000);
      this.#gopTimer.unref();
    }
  }

  async #startFfmpeg(): Promise<void> {
    const { workDir, renditions, thumbnailPath } = this.#options;
    const args = buildLadderArgs(
      renditions.map((rendition) => ({ rendition, url: `unix:${path.join(workDir, `${rendition.name}.sock`)}` })),
      this.#streams.some((s) => s.kind === 'audio'),
      thumbnailPath,
      { passthroughTop: this.passthrough },
    );
    const command = ffmpeg(path.join(workDir, 'input.sdp')).inputOptions(['-hide_banner', '-nostdin', '-y', '-loglevel', 'warning', ...args.inputOptions]);
    if (args.complexFilter) command.complexFilter(args.complexFilter);
    if (this.#options.ffmpegPath) command.setFfmpegPath(this.#options.ffmpegPath);
    for (const output of args.outputs) command.output(output.url).outputOptions(output.options);
    this.#stderrTail = [];
    command.on('stderr', (line: string) => {
      this.#stderrTail.push(line);
      if (this.#stderrTail.length > 20) this.#stderrTail.shift();
    });
    command.on('error', (error: Error) => this.#onFfmpegExit(command, error.message));
    command.on('end', () => this.#onFfmpegExit(command, 'ffmpeg ended'));
    this.#command = command;
    this.#startedAt = Date.now();
    command.run();
    const pid = this.ffmpegPid;
    this.#log.info({ pid, renditions: renditions.map((r) => r.name), passthrough: this.passthrough }, 'ffmpeg started');
    if (pid) this.emit('ffmpegStarted', pid);
    // ffmpeg opens its RTP sockets before probing: once bound, media can flow
    // and a keyframe request makes probing finish on the first GOP.
    const videoStream = this.#streams.find((s) => s.kind === 'video');
    if (videoStream) await waitUntilUdpPortBound(videoStream.port, 5000).catch(() => undefined);
    if (this.#closed || this.#command !== command) return;
    for (const consumer of this.#consumers) if (consumer.paused) await consumer.resume();
    this.#requestKeyFrames();
  }

  #requestKeyFrames(): void {
    this.#keyframeTimers.forEach(clearTimeout);
    // Passthrough: the GOP timer asks every GOP_SECONDS anyway, and extra
    // requests would land next to its ticks, where pacing (KEYFRAME_REQUEST_DELAY_MS)
    // holds one of the two and the copied segment comes out ~1.4-1.6 s long.
    const delays = this.passthrough ? [0] : [0, 300, 1000, 2000];
    this.#keyframeTimers = delays.map((delay) => {
      const timer = setTimeout(() => this.#requestVideoKeyFrame(), delay);
      timer.unref();
      return timer;
    });
  }

  #requestVideoKeyFrame(): void {
    for (const consumer of this.#consumers) {
      if (consumer.kind === 'video' && !consumer.closed && !consumer.paused) consumer.requestKeyFrame().catch(() => undefined);
    }
  }

  #onFfmpegExit(command: ffmpeg.FfmpegCommand, reason: string): void {
    if (this.#closed || this.#command !== command) return;
    this.#command = undefined;
    this.#restarts++;
    const ranForMs = Date.now() - this.#startedAt;
    // Quick successive deaths back off; a long healthy run resets the pace.
    const attempt = ranForMs > 30_000 ? 0 : Math.min(this.#restarts - 1, RESTART_BACKOFF_MS.length - 1);
    const delay = RESTART_BACKOFF_MS[attempt]!;
    this.#log.warn({ reason, restarts: this.#restarts, ranForMs, retryInMs: delay, stderr: this.#stderrTail.slice(-5) }, 'ffmpeg exited; restarting');
    for (const sink of this.#options.sinks.values()) sink.restart();
    this.emit('restarted', this.#restarts);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closed) return;
      this.#startFfmpeg().catch((error: Error) => this.#log.error({ err: error.message }, 'ffmpeg restart failed'));
    }, delay);
    this.#restartTimer.unref();
  }

  #killFfmpeg(): void {
    const command = this.#command;
    this.#command = undefined;
    try {
      command?.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** A unix socket ffmpeg connects to as a client and streams one rendition into. */
function listenUnix(socketPath: string, sink: RenditionSink): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((socket) => {
    socket.on('data', (chunk: Buffer) => sink.write(chunk));
    socket.on('error', () => socket.destroy());
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // never bound or already closed
  }
}

/** A UDP port whose successor (RTCP) is free too. */
async function findFreeUdpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      first.once('error', reject);
      first.bind(0, '127.0.0.1', () => resolve(first.address().port));
    });
    const second = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      second.once('error', () => resolve(false));
      second.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    closeQuietly(first);
    // A socket whose bind failed still holds a handle: close it too.
    closeQuietly(second);
    if (ok && port < 65535) return port;
  }
  throw new Error('no free UDP port pair for the recorder');
}

/** Resolves once something (ffmpeg) has bound `port` on loopback. */
async function waitUntilUdpPortBound(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const probe = dgram.createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(true));
      probe.bind(port, '127.0.0.1', () => resolve(false));
    });
    // Close even after a failed bind (that failure is the signal we want),
    // or every probe would leak a UDP handle.
    closeQuietly(probe);
    if (bound) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`ffmpeg did not bind UDP port ${port} within ${timeoutMs} ms`);
}
