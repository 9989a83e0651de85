/**
 * Recorder: consumes a live room's audio and video on mediasoup
 * PlainTransports and runs ffmpeg (through fluent-ffmpeg) on an SDP
 * describing them. ffmpeg writes one fragmented-MP4 stream per rendition to a
 * unix socket this process listens on; the bytes go to a RenditionSink (the
 * LL-HLS packager). ffmpeg runs under an FfmpegSupervisor: one that dies is
 * restarted, and the sinks are told so they mark a discontinuity.
 *
 * Lifecycle: `Recorder.start()` → live; `close()` (idempotent) kills ffmpeg,
 * closes transports/consumers and sockets, and removes its work directory.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { FfmpegPidFiles } from '../ffmpeg/ffmpegPidFiles.js';
import type { FfmpegStats } from '../ffmpeg/ffmpegStats.js';
import { FfmpegSupervisor, type FfmpegJob } from '../ffmpeg/ffmpegSupervisor.js';
import { buildRecorderSdp, type SdpStream } from './recorderSdp.js';
import { buildLadderArgs, GOP_SECONDS } from './recorderFfmpegArgs.js';
import type { RenditionSpec } from './recorderLadder.js';
import { SourceSizeReader, type FrameSize } from './sourceSizeProbe.js';

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
  /** Pid files, so that an ffmpeg orphaned by a crashed server is reaped at the next start. */
  pidFiles?: FfmpegPidFiles;
  /** Server-wide ffmpeg counters (metrics). */
  ffmpegStats?: FfmpegStats;
}

/** A re-plan waits this long for the layer to settle, so a flapping layer restarts ffmpeg once. */
const REPLAN_SETTLE_MS = 300;
/** Probe frames (SOURCE_SIZE_PROBE_FPS a second) a new source size must last before a re-plan. */
const SIZE_SETTLE_FRAMES = 2;
const PROBE_SOCKET = 'probe.sock';

type RecorderEvents = {
  restarted: [count: number];
  ffmpegStarted: [pid: number];
  /**
   * ffmpeg was restarted because the source's resolution changed: another
   * simulcast/SVC layer flows (`layer`, "layer 1" → "layer 2"), or the frames
   * themselves changed size (`size`, "640x360" → "1280x720").
   */
  replanned: [change: { reason: 'layer' | 'size'; from: string; to: string }];
};

export class Recorder extends EventEmitter<RecorderEvents> {
  readonly #options: RecorderOptions;
  readonly #log: Logger;
  readonly #transports: ms.PlainTransport[] = [];
  readonly #consumers: ms.Consumer[] = [];
  readonly #socketServers: net.Server[] = [];
  /** ffmpeg's connections to the rendition sockets (cut on a re-plan, so no old bytes follow a restart). */
  readonly #connections = new Set<net.Socket>();
  readonly #streams: SdpStream[] = [];
  #ffmpeg: FfmpegSupervisor | undefined;
  #keyframeTimers: NodeJS.Timeout[] = [];
  #gopTimer: NodeJS.Timeout | undefined;
  /** The spatial layer ffmpeg's stream started on: its ladder (sizes, init segments) follows that layer. */
  #ffmpegLayer: number | undefined;
  #replanTimer: NodeJS.Timeout | undefined;
  #lastSpatialLayer: number | undefined;
  /** Size of the source's frames as the current ffmpeg first decoded them (its renditions follow it). */
  #ffmpegSize: FrameSize | undefined;
  /** Size of the latest probed frame. */
  #sourceSize: FrameSize | undefined;
  /** A size other than #ffmpegSize, and for how many probe frames in a row it has lasted. */
  #newSize: { size: FrameSize; frames: number } | undefined;
  #replans = 0;
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
    return this.#ffmpeg?.restarts ?? 0;
  }

  get ffmpegPid(): number | undefined {
    return this.#ffmpeg?.pid;
  }

  /** ffmpeg restarts made because the source's resolution (spatial layer) changed. */
  get replans(): number {
    return this.#replans;
  }

  /**
   * The simulcast/SVC layer the recorder receives now and the best one the
   * publisher declared (its encodings); undefined for a single-layer source.
   */
  get sourceLayers(): { current: number | undefined; declaredTop: number } | undefined {
    const consumer = this.#videoConsumer;
    if (!consumer || consumer.type === 'simple' || consumer.type === 'pipe') return undefined;
    return { current: consumer.currentLayers?.spatialLayer, declaredTop: this.#declaredTopLayer() };
  }

  /** The size of the frames the source sends now, as ffmpeg decodes them (undefined before the first). */
  get sourceSize(): FrameSize | undefined {
    return this.#sourceSize;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#keyframeTimers.forEach(clearTimeout);
    if (this.#gopTimer) clearInterval(this.#gopTimer);
    clearTimeout(this.#replanTimer);
    this.#ffmpeg?.close();
    for (const consumer of this.#consumers) consumer.close();
    for (const transport of this.#transports) transport.close();
    for (const server of this.#socketServers) server.close();
    fs.rmSync(this.#options.workDir, { recursive: true, force: true });
    this.#log.info({ restarts: this.restarts }, 'recorder closed');
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
      if (consumer.kind === 'video' && (consumer.type === 'simulcast' || consumer.type === 'svc')) {
        // The recorder makes the top rendition: always take the best layer the publisher
        // sends, and follow it when it changes (a top layer that starts late, or stops).
        await consumer.setPreferredLayers({ spatialLayer: this.#declaredTopLayer(), temporalLayer: 2 });
        consumer.on('layerschange', (layers) => this.#onLayersChange(layers));
      }
      this.#streams.push({ kind: producer.kind, port, rtpParameters: consumer.rtpParameters });
    }
    fs.writeFileSync(path.join(workDir, 'input.sdp'), buildRecorderSdp(this.#streams));
    for (const rendition of this.#options.renditions) {
      const sink = this.#options.sinks.get(rendition.name);
      if (!sink) throw new Error(`no sink for rendition ${rendition.name}`);
      this.#socketServers.push(await listenUnix(path.join(workDir, `${rendition.name}.sock`), sink, this.#connections));
    }
    this.#socketServers.push(await listenUnix(path.join(workDir, PROBE_SOCKET), this.#sizeProbeSink(), this.#connections));
    await this.#startFfmpeg();
    if (this.#closed) return;
    if (this.passthrough) {
      // A copied stream has keyframes only when the publisher sends them, and
      // browsers send H.264 keyframes only when asked: ask once per GOP so that
      // segments stay ~GOP_SECONDS long. (The publisher's other viewers get these
      // keyframes too; KEYFRAME_REQUEST_DELAY_MS keeps them >= 300 ms apart.)
      this.#gopTimer = setInterval(() => this.#requestVideoKeyFrame(), GOP_SECONDS * 1000);
      this.#gopTimer.unref();
    }
  }

  /** Resolves once the first ffmpeg is up and the consumers flow into it. */
  #startFfmpeg(): Promise<void> {
    const supervisor = new FfmpegSupervisor({
      label: `recorder ${this.#options.roomId}`,
      job: () => this.#ffmpegJob(),
      logger: this.#log,
      ...(this.#options.ffmpegPath ? { ffmpegPath: this.#options.ffmpegPath } : {}),
      ...(this.#options.pidFiles ? { pidFiles: this.#options.pidFiles } : {}),
      ...(this.#options.ffmpegStats ? { stats: this.#options.ffmpegStats } : {}),
    });
    this.#ffmpeg = supervisor;
    supervisor.on('exited', (exit) => {
      for (const sink of this.#options.sinks.values()) sink.restart();
      this.emit('restarted', exit.restarts);
    });
    const firstStart = new Promise<void>((resolve) => {
      supervisor.on('started', ({ pid }) => {
        // Its renditions take the size of the first frames it decodes: the probe's first.
        this.#ffmpegSize = undefined;
        this.#newSize = undefined;
        this.emit('ffmpegStarted', pid);
        this.#onFfmpegStarted(pid).then(resolve, (error: unknown) => {
          this.#log.error({ err: (error as Error).message }, 'could not feed the new ffmpeg');
          resolve();
        });
      });
      // An ffmpeg that cannot start at all is retried by the supervisor; Recorder.start() does not wait for it.
      supervisor.once('exited', () => resolve());
    });
    supervisor.start();
    return firstStart;
  }

  #ffmpegJob(): FfmpegJob {
    const { workDir, renditions, thumbnailPath } = this.#options;
    const args = buildLadderArgs(
      renditions.map((rendition) => ({ rendition, url: `unix:${path.join(workDir, `${rendition.name}.sock`)}` })),
      this.#streams.some((s) => s.kind === 'audio'),
      thumbnailPath,
      { passthroughTop: this.passthrough, sizeProbeUrl: `unix:${path.join(workDir, PROBE_SOCKET)}` },
    );
    return {
      input: path.join(workDir, 'input.sdp'),
      inputOptions: ['-y', '-loglevel', 'warning', ...args.inputOptions],
      complexFilter: args.complexFilter,
      outputs: args.outputs,
    };
  }

  async #onFfmpegStarted(pid: number): Promise<void> {
    this.#log.info({ pid, renditions: this.#options.renditions.map((r) => r.name), passthrough: this.passthrough }, 'ffmpeg started');
    // ffmpeg opens its RTP sockets before probing: once bound, media can flow
    // and a keyframe request makes probing finish on the first GOP.
    const videoStream = this.#streams.find((s) => s.kind === 'video');
    if (videoStream) await waitForUdpPort(videoStream.port, 'bound', 5000).catch(() => undefined);
    if (this.#closed || this.#ffmpeg?.pid !== pid) return;
    for (const consumer of this.#consumers) if (consumer.paused) await consumer.resume();
    // Undefined while nothing flows yet: the first 'layerschange' then sets it.
    this.#ffmpegLayer = this.#videoConsumer?.currentLayers?.spatialLayer;
    this.#requestKeyFrames();
  }

  get #videoConsumer(): ms.Consumer | undefined {
    return this.#consumers.find((c) => c.kind === 'video' && !c.closed);
  }

  /** The publisher's best spatial layer: its last encoding (or, for SVC, its scalability mode). */
  #declaredTopLayer(): number {
    const encodings = this.#options.videoProducer.rtpParameters.encodings ?? [];
    const svcLayers = /^[LS](\d)/.exec(encodings[0]?.scalabilityMode ?? '')?.[1];
    if (encodings.length <= 1 && svcLayers) return Number(svcLayers) - 1;
    return Math.max(0, encodings.length - 1);
  }

  /**
   * ffmpeg fixes every rendition's size from the first frames it decodes, so a
   * source whose resolution changes (another simulcast layer now flows) needs a
   * new ffmpeg: its renditions are re-sized to the new source (never above it,
   * see recorderFfmpegArgs.ts), the packagers mark a discontinuity and carry on
   * on the same URLs, and the master playlist follows their new sizes.
   */
  #onLayersChange(layers: ms.ConsumerLayers | undefined): void {
    const spatialChanged = layers?.spatialLayer !== this.#lastSpatialLayer;
    this.#lastSpatialLayer = layers?.spatialLayer;
    // Temporal-only changes keep the resolution.
    if (this.#closed || !layers || !spatialChanged) return;
    // mediasoup asks for a key frame on a layer switch; ask too so a switch is never left waiting for one.
    this.#requestVideoKeyFrame();
    this.#log.info({ spatialLayer: layers.spatialLayer, ffmpegLayer: this.#ffmpegLayer }, 'recorder source layer changed');
    if (this.#ffmpegLayer === undefined || this.#ffmpeg?.pid === undefined) {
      this.#ffmpegLayer ??= layers.spatialLayer;
      return;
    }
    clearTimeout(this.#replanTimer);
    this.#replanTimer = undefined;
    if (layers.spatialLayer === this.#ffmpegLayer) return;
    this.#replanTimer = setTimeout(() => {
      this.#replanTimer = undefined;
      const current = this.#videoConsumer?.currentLayers?.spatialLayer;
      if (current !== undefined && this.#ffmpegLayer !== undefined && current !== this.#ffmpegLayer) {
        this.#replan({ reason: 'layer', from: `layer ${this.#ffmpegLayer}`, to: `layer ${current}` });
      }
    }, REPLAN_SETTLE_MS);
    this.#replanTimer.unref();
  }

  /** Where the size probe's bytes go: frame sizes, each compared with the size ffmpeg started on. */
  #sizeProbeSink(): RenditionSink {
    let reader = new SourceSizeReader();
    return {
      write: (chunk) => {
        for (const size of reader.push(chunk)) this.#onSourceSize(size);
      },
      restart: () => {
        reader = new SourceSizeReader();
      },
    };
  }

  /**
   * A source that changes size within one layer (a single-encoding publisher
   * scaling its video, an encoder restarting at another size) needs a re-plan
   * just as a layer change does: ffmpeg would keep scaling it to its first size.
   */
  #onSourceSize(size: FrameSize): void {
    this.#sourceSize = size;
    if (this.#closed || this.#ffmpeg?.pid === undefined) return;
    if (!this.#ffmpegSize) {
      this.#ffmpegSize = size;
      return;
    }
    if (sameSize(size, this.#ffmpegSize)) {
      this.#newSize = undefined;
      return;
    }
    this.#newSize = this.#newSize && sameSize(this.#newSize.size, size) ? { size, frames: this.#newSize.frames + 1 } : { size, frames: 1 };
    // A layer change is on its way to a re-plan already (same new size, sooner).
    if (this.#newSize.frames < SIZE_SETTLE_FRAMES || this.#replanTimer) return;
    this.#replan({ reason: 'size', from: sizeText(this.#ffmpegSize), to: sizeText(size) });
  }

  #replan(change: { reason: 'layer' | 'size'; from: string; to: string }): void {
    if (this.#closed) return;
    this.#replans++;
    this.#log.info(change, 'source resolution changed: restarting ffmpeg with a new ladder');
    clearTimeout(this.#replanTimer);
    this.#replanTimer = undefined;
    // The new ffmpeg must start as the first one does, on a key frame: paused until it
    // listens, the consumers resume with one (mediasoup asks the publisher on resume).
    // Joining mid-GOP, its probe met slices without SPS/PPS and guessed no frame rate.
    const paused = Promise.all(this.#consumers.map((c) => c.pause().catch(() => undefined)));
    const old = this.#ffmpeg;
    this.#ffmpeg = undefined;
    old?.removeAllListeners();
    old?.close();
    // Bytes the old ffmpeg still had in flight must not follow the restart mark.
    for (const socket of this.#connections) socket.destroy();
    this.#connections.clear();
    for (const sink of this.#options.sinks.values()) sink.restart();
    this.#ffmpegLayer = this.#videoConsumer?.currentLayers?.spatialLayer;
    this.emit('replanned', change);
    // The new ffmpeg binds the same RTP ports: let the killed one release them first,
    // or the new one's start would be taken for the old one's ports.
    const videoPort = this.#streams.find((s) => s.kind === 'video')?.port;
    const released = videoPort === undefined ? Promise.resolve() : waitForUdpPort(videoPort, 'free', 3000).catch(() => undefined);
    void Promise.all([paused, released]).then(() => (this.#closed ? undefined : this.#startFfmpeg()));
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
}

/** A unix socket ffmpeg connects to as a client and streams one rendition into. */
function listenUnix(socketPath: string, sink: RenditionSink, connections: Set<net.Socket>): Promise<net.Server> {
  fs.rmSync(socketPath, { force: true });
  const server = net.createServer((socket) => {
    connections.add(socket);
    socket.on('data', (chunk: Buffer) => sink.write(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve(server));
  });
}

const sameSize = (a: FrameSize, b: FrameSize): boolean => a.width === b.width && a.height === b.height;
const sizeText = (size: FrameSize): string => `${size.width}x${size.height}`;

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

/** Resolves once something (ffmpeg) has bound `port` on loopback, or once nothing has. */
async function waitForUdpPort(port: number, want: 'bound' | 'free', timeoutMs: number): Promise<void> {
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
    if (bound === (want === 'bound')) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`UDP port ${port} not ${want} within ${timeoutMs} ms`);
}
