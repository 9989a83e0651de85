/**
 * Recorder: consumes a live room's audio and video on mediasoup
 * PlainTransports and runs ffmpeg (through fluent-ffmpeg) on an SDP
 * describing them. ffmpeg writes one fragmented-MP4 stream per rendition to a
 * unix socket this process listens on; the bytes go to a RenditionSink (the
 * LL-HLS packager). ffmpeg runs under an FfmpegSupervisor: one that dies is
 * restarted, and the sinks are told so they mark a discontinuity.
 *
 * The ladder follows the source: when its resolution changes (another
 * simulcast/SVC layer flows, or the frames change size) a new ffmpeg is
 * planned for it and started beside the running one on a feed of its own
 * (recorderFeed.ts); each rendition switches to it at its first fragment
 * (renditionSwitch.ts), then the old one goes. Make-before-break: the
 * renditions get no gap while the new ffmpeg probes and starts encoding.
 *
 * Lifecycle: `Recorder.start()` → live; `close()` (idempotent) kills ffmpeg,
 * closes transports/consumers and sockets, and removes its work directory.
 */
import fs from 'node:fs';
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { FfmpegPidFiles } from '../ffmpeg/ffmpegPidFiles.js';
import type { FfmpegStats } from '../ffmpeg/ffmpegStats.js';
import { FfmpegSupervisor, type FfmpegJob } from '../ffmpeg/ffmpegSupervisor.js';
import { buildLadderArgs, GOP_SECONDS } from './recorderFfmpegArgs.js';
import type { RenditionSpec } from './recorderLadder.js';
import { RecorderFeed, waitForUdpPortBound } from './recorderFeed.js';
import { TopLayerWatch } from './topLayerWatch.js';
import { RenditionSwitch } from './renditionSwitch.js';
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
/** An old ffmpeg is stopped this long after a re-plan even if some rendition never switched. */
const RETIRE_AFTER_MS = 10_000;
const PROBE_OUTPUT = 'probe';

type RecorderEvents = {
  restarted: [count: number];
  ffmpegStarted: [pid: number];
  /**
   * A new ffmpeg was planned because the source's resolution changed: another
   * simulcast/SVC layer flows (`layer`, "layer 1" → "layer 2"), or the frames
   * themselves changed size (`size`, "640x360" → "1280x720").
   */
  replanned: [change: { reason: 'layer' | 'size'; from: string; to: string }];
};

type Replan = RecorderEvents['replanned'][0];

export class Recorder extends EventEmitter<RecorderEvents> {
  readonly #options: RecorderOptions;
  readonly #log: Logger;
  /** Oldest first; the last is the current one, the others are switching away. */
  readonly #feeds: RecorderFeed[] = [];
  readonly #supervisors = new Map<RecorderFeed, FfmpegSupervisor>();
  readonly #switches = new Map<string, RenditionSwitch>();
  #generations = 0;
  /** Restarts of the ffmpegs of feeds already closed. */
  #closedRestarts = 0;
  #keyframeTimers: NodeJS.Timeout[] = [];
  #gopTimer: NodeJS.Timeout | undefined;
  #topLayerWatch: TopLayerWatch | undefined;
  #retireTimer: NodeJS.Timeout | undefined;
  /** The spatial layer the current ffmpeg's stream started on: its ladder (sizes, init segments) follows that layer. */
  #ffmpegLayer: number | undefined;
  #replanTimer: NodeJS.Timeout | undefined;
  /** Last spatial layer the current feed's consumer reported. */
  #lastSpatialLayer: number | undefined;
  /** Size of the source's frames as the current ffmpeg first decoded them (its renditions follow it). */
  #ffmpegSize: FrameSize | undefined;
  /** Size of the latest probed frame. */
  #sourceSize: FrameSize | undefined;
  /** A size other than #ffmpegSize, and for how many probe frames in a row it has lasted. */
  #newSize: { size: FrameSize; frames: number } | undefined;
  #probe = new SourceSizeReader();
  /** A new feed is being opened: the current one's layer and size reports are stale. */
  #replanning = false;
  #feedOpenings: Promise<void> = Promise.resolve();
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
    const video = this.#current?.streams.find((s) => s.kind === 'video');
    const codec = video?.rtpParameters.codecs[0]?.mimeType.toLowerCase();
    return this.#options.h264Passthrough === true && codec === 'video/h264';
  }

  get restarts(): number {
    let restarts = this.#closedRestarts;
    for (const supervisor of this.#supervisors.values()) restarts += supervisor.restarts;
    return restarts;
  }

  /** The current ffmpeg's pid. */
  get ffmpegPid(): number | undefined {
    const current = this.#current;
    return current ? this.#supervisors.get(current)?.pid : undefined;
  }

  /** New ffmpegs planned because the source's resolution changed. */
  get replans(): number {
    return this.#replans;
  }

  /**
   * The simulcast/SVC layer the recorder receives now and the best one the
   * publisher declared (its encodings); undefined for a single-layer source.
   */
  get sourceLayers(): { current: number | undefined; declaredTop: number } | undefined {
    const consumer = this.#current?.videoConsumer;
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
    this.#topLayerWatch?.close();
    clearTimeout(this.#replanTimer);
    clearTimeout(this.#retireTimer);
    for (const feed of [...this.#feeds]) this.#closeFeed(feed);
    fs.rmSync(this.#options.workDir, { recursive: true, force: true });
    this.#log.info({ restarts: this.restarts }, 'recorder closed');
    this.removeAllListeners();
  }

  get #current(): RecorderFeed | undefined {
    return this.#feeds[this.#feeds.length - 1];
  }

  async #setup(): Promise<void> {
    fs.mkdirSync(this.#options.workDir, { recursive: true });
    for (const rendition of this.#options.renditions) {
      const sink = this.#options.sinks.get(rendition.name);
      if (!sink) throw new Error(`no sink for rendition ${rendition.name}`);
      this.#switches.set(rendition.name, new RenditionSwitch(sink));
    }
    await this.#openFeed();
    if (this.#closed) return;
    if ((this.#options.videoProducer.rtpParameters.encodings ?? []).length > 1) {
      this.#topLayerWatch = new TopLayerWatch({
        producer: this.#options.videoProducer,
        consumer: () => this.#current?.videoConsumer,
        preferredSpatialLayer: this.#declaredTopLayer(),
        log: this.#log,
      });
    }
    if (this.passthrough) {
      // A copied stream has keyframes only when the publisher sends them, and
      // browsers send H.264 keyframes only when asked: ask once per GOP so that
      // segments stay ~GOP_SECONDS long. (The publisher's other viewers get these
      // keyframes too; KEYFRAME_REQUEST_DELAY_MS keeps them >= 300 ms apart.)
      this.#gopTimer = setInterval(() => this.#requestVideoKeyFrame(), GOP_SECONDS * 1000);
      this.#gopTimer.unref();
    }
  }

  /** Opens a feed, makes it the current one and starts its ffmpeg; resolves once that ffmpeg is fed. */
  async #openFeed(): Promise<void> {
    const { router, videoProducer, audioProducer } = this.#options;
    const generation = this.#generations++;
    const feed = await RecorderFeed.open({
      router,
      producers: audioProducer ? [audioProducer, videoProducer] : [videoProducer],
      rtcPortRange: this.#options.rtcPortRange,
      workDir: this.#options.workDir,
      generation,
      outputs: [...this.#options.renditions.map((r) => r.name), PROBE_OUTPUT],
      preferredSpatialLayer: this.#declaredTopLayer(),
      onBytes: (name, chunk) => this.#onBytes(generation, name, chunk),
      onLayersChange: (layers) => {
        if (this.#current?.generation === generation) this.#onLayersChange(layers);
      },
    });
    if (this.#closed) {
      feed.close();
      return;
    }
    this.#feeds.push(feed);
    this.#replanning = false;
    this.#lastSpatialLayer = undefined;
    await this.#startFfmpeg(feed);
  }

  /** Resolves once the feed's first ffmpeg is up and the consumers flow into it. */
  #startFfmpeg(feed: RecorderFeed): Promise<void> {
    const supervisor = new FfmpegSupervisor({
      label: `recorder ${this.#options.roomId}`,
      job: () => this.#ffmpegJob(feed),
      logger: this.#log,
      ...(this.#options.ffmpegPath ? { ffmpegPath: this.#options.ffmpegPath } : {}),
      ...(this.#options.pidFiles ? { pidFiles: this.#options.pidFiles } : {}),
      ...(this.#options.ffmpegStats ? { stats: this.#options.ffmpegStats } : {}),
    });
    this.#supervisors.set(feed, supervisor);
    supervisor.on('exited', (exit) => {
      for (const renditionSwitch of this.#switches.values()) renditionSwitch.restart(feed.generation);
      this.emit('restarted', exit.restarts);
    });
    const firstStart = new Promise<void>((resolve) => {
      supervisor.on('started', ({ pid }) => {
        if (feed === this.#current) {
          // Its renditions take the size of the first frames it decodes: the probe's first.
          this.#probe = new SourceSizeReader();
          this.#ffmpegSize = undefined;
          this.#newSize = undefined;
        }
        this.emit('ffmpegStarted', pid);
        this.#onFfmpegStarted(feed, pid).then(resolve, (error: unknown) => {
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

  #ffmpegJob(feed: RecorderFeed): FfmpegJob {
    const { renditions, thumbnailPath } = this.#options;
    const args = buildLadderArgs(
      renditions.map((rendition) => ({ rendition, url: feed.outputUrl(rendition.name) })),
      feed.streams.some((s) => s.kind === 'audio'),
      thumbnailPath,
      { passthroughTop: this.passthrough, sizeProbeUrl: feed.outputUrl(PROBE_OUTPUT) },
    );
    return {
      input: feed.sdpPath,
      inputOptions: ['-y', '-loglevel', 'warning', ...args.inputOptions],
      complexFilter: args.complexFilter,
      outputs: args.outputs,
    };
  }

  async #onFfmpegStarted(feed: RecorderFeed, pid: number): Promise<void> {
    this.#log.info({ pid, generation: feed.generation, passthrough: this.passthrough }, 'ffmpeg started');
    // ffmpeg opens its RTP sockets before probing: once bound, media can flow
    // and the key frame mediasoup asks for on resume makes probing finish on the first GOP.
    const port = feed.videoPort;
    if (port !== undefined) await waitForUdpPortBound(port, 5000).catch(() => undefined);
    if (this.#closed || feed.closed || this.#supervisors.get(feed)?.pid !== pid) return;
    await feed.resume();
    if (feed !== this.#current) return;
    // Undefined while nothing flows yet: the first 'layerschange' then sets it.
    this.#ffmpegLayer = feed.videoConsumer?.currentLayers?.spatialLayer;
    this.#requestKeyFrames();
  }

  #onBytes(generation: number, name: string, chunk: Buffer): void {
    const current = this.#current;
    if (!current) return;
    if (name === PROBE_OUTPUT) {
      if (generation === current.generation) for (const size of this.#probe.push(chunk)) this.#onSourceSize(size);
      return;
    }
    if (this.#switches.get(name)?.write(generation, chunk, current.generation)) this.#retireSwitchedFeeds();
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
    if (this.#ffmpegLayer === undefined || this.ffmpegPid === undefined) {
      this.#ffmpegLayer ??= layers.spatialLayer;
      return;
    }
    clearTimeout(this.#replanTimer);
    this.#replanTimer = undefined;
    if (layers.spatialLayer === this.#ffmpegLayer || this.#replanning) return;
    this.#replanTimer = setTimeout(() => {
      this.#replanTimer = undefined;
      const current = this.#current?.videoConsumer?.currentLayers?.spatialLayer;
      if (current !== undefined && this.#ffmpegLayer !== undefined && current !== this.#ffmpegLayer && !this.#replanning) {
        this.#replan({ reason: 'layer', from: `layer ${this.#ffmpegLayer}`, to: `layer ${current}` });
      }
    }, REPLAN_SETTLE_MS);
    this.#replanTimer.unref();
  }

  /**
   * A source that changes size within one layer (a single-encoding publisher
   * scaling its video, an encoder restarting at another size) needs a re-plan
   * just as a layer change does: ffmpeg would keep scaling it to its first size.
   */
  #onSourceSize(size: FrameSize): void {
    this.#sourceSize = size;
    if (this.#closed || this.#replanning || this.ffmpegPid === undefined) return;
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

  /** Starts a new ffmpeg on a new feed beside the running one; renditions switch as it delivers. */
  #replan(change: Replan): void {
    if (this.#closed) return;
    this.#replans++;
    this.#replanning = true;
    this.#log.info(change, 'source resolution changed: starting an ffmpeg with a new ladder beside the running one');
    clearTimeout(this.#replanTimer);
    this.#replanTimer = undefined;
    this.#ffmpegLayer = undefined;
    this.emit('replanned', change);
    this.#feedOpenings = this.#feedOpenings
      .then(() => (this.#closed ? undefined : this.#openFeed()))
      .catch((error: unknown) => {
        this.#replanning = false;
        this.#log.error({ err: (error as Error).message }, 'could not open a feed for the new ladder; the running ffmpeg carries on');
      });
    // Whatever has not switched by then stops waiting for it (and gets the new ffmpeg's bytes whenever they come).
    clearTimeout(this.#retireTimer);
    this.#retireTimer = setTimeout(() => {
      for (const feed of this.#feeds.slice(0, -1)) this.#closeFeed(feed);
    }, RETIRE_AFTER_MS);
    this.#retireTimer.unref();
  }

  /** Closes the feeds (and ffmpegs) that are neither current nor feeding any rendition. */
  #retireSwitchedFeeds(): void {
    for (const feed of this.#feeds.slice(0, -1)) {
      const live = [...this.#switches.values()].some((s) => s.liveGeneration === feed.generation);
      if (!live) this.#closeFeed(feed);
    }
  }

  #closeFeed(feed: RecorderFeed): void {
    const supervisor = this.#supervisors.get(feed);
    if (supervisor) {
      this.#closedRestarts += supervisor.restarts;
      supervisor.removeAllListeners();
      supervisor.close();
      this.#supervisors.delete(feed);
    }
    feed.close();
    this.#feeds.splice(this.#feeds.indexOf(feed), 1);
    if (!this.#closed) this.#log.info({ generation: feed.generation }, 'recorder feed closed');
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

  /** Asks the publisher (through any flowing video consumer: they share the producer) for a key frame. */
  #requestVideoKeyFrame(): void {
    const consumer = this.#feeds
      .map((feed) => feed.videoConsumer)
      .reverse()
      .find((c) => c && !c.paused);
    consumer?.requestKeyFrame().catch(() => undefined);
  }
}

const sameSize = (a: FrameSize, b: FrameSize): boolean => a.width === b.width && a.height === b.height;
const sizeText = (size: FrameSize): string => `${size.width}x${size.height}`;
