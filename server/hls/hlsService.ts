/**
 * Follows the rooms and gives every live room an HLS stream: a Recorder
 * (mediasoup → ffmpeg) feeding an HlsRoomPackager (LL-HLS parts, segments,
 * playlists) under `<HLS_DIR>/<room>/`.
 *
 * - The stream of a room outlives publisher reconnects: the recorder is
 *   replaced and the packagers mark a discontinuity, the URL stays the same.
 * - When the room closes, playlists get ENDLIST and the files stay for
 *   HLS_RETAIN_SECONDS (DVR keeps them), then go.
 * - In a cluster the room's origin decides where it is recorded (an `hls`
 *   node if there is one, else itself; two nodes when redundant: see
 *   recorderPlacement.ts), and the operator's per-room switch (runtime
 *   setting `hlsLadder`) is applied on every node.
 * - Redundant origins (issue 12): the room's first recorder leads and serves
 *   its own packager's output; a follower serves a byte-for-byte mirror of the
 *   leader's (mirror/roomMirror.ts) while its own recorder runs as a hot
 *   standby into `<HLS_DIR>/.standby/<room>/` (never served), and continues
 *   the same served stream with it when the leader is gone (a takeover).
 * - An HLS directory that can't be written disables HLS with a clear error;
 *   WebRTC is unaffected. One that is not the server's own (another owner,
 *   writable by others) stops the server from starting (hlsDirSafety.ts).
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { RoomEvent } from '../cluster/roomEvents.js';
import { Recorder } from '../recorder/recorder.js';
import type { RenditionSpec } from '../recorder/recorderLadder.js';
import { FRAGMENT_MICROSECONDS, OUTPUT_FPS } from '../recorder/recorderFfmpegArgs.js';
import { HlsRoomPackager, masterPlaylistFor } from './roomPackager.js';
import { FfmpegPidFiles } from '../ffmpeg/ffmpegPidFiles.js';
import { HlsDirUnsafeError, prepareHlsRoot } from './hlsDirSafety.js';
import { FfmpegStats } from '../ffmpeg/ffmpegStats.js';
import type { RuntimeSettings, SettingChange } from '../cluster/runtimeSettings.js';
import { RecorderPlacement, type RecorderPlacementCluster } from './recorderPlacement.js';
import type { ServedRenditions } from './servedRendition.js';
import { Followers } from './mirror/followers.js';
import type { RoomMirror } from './mirror/roomMirror.js';

export interface HlsServiceOptions {
  /** Where this node's rooms' media is (the recorder consumes a local room's program). */
  rooms: RoomRegistry;
  /** Room events: the service follows rooms through these, not through room objects. */
  bus: MessageBus;
  root: string;
  renditions: readonly RenditionSpec[];
  dvrSeconds: number;
  retainMs: number;
  ffmpegPath: string;
  /** Copy a publisher's H.264 into the top rendition (see Recorder). */
  h264Passthrough?: boolean;
  rtcPortRange: { min: number; max: number };
  /** Operators' switches: HLS on/off per room (`hlsLadder`), applied within 2 s. */
  settings?: RuntimeSettings;
  /**
   * Cluster mode: a room's recorder runs on an `hls` node when there is one
   * (issue 10), chosen by the room's origin; this node's roles say whether it
   * may record at all.
   */
  cluster?: RecorderPlacementCluster;
  logger: Logger;
}

export interface RoomHlsStatus {
  /** A playable master playlist exists. */
  available: boolean;
  recording: boolean;
  ffmpegRestarts: number;
  url: string;
  /** When a media playlist of the room was last (re)written, ms since epoch. */
  playlistUpdatedAt: number | undefined;
  /** When the current recorder started, ms since epoch. */
  recordingSince: number | undefined;
  /**
   * The simulcast layer the recorder receives and the best one the publisher
   * declared; undefined for a single-layer source or when not recording.
   */
  sourceLayers: { current: number | undefined; declaredTop: number } | undefined;
  /** The size of the frames the source sends now, as the recorder decodes them; undefined when not known. */
  sourceSize: { width: number; height: number } | undefined;
  /** Planned ffmpeg restarts made to follow the source's resolution (not in ffmpegRestarts, which counts failures). */
  ladderReplans: number;
}

/** One room's HLS output and the recorder currently feeding it. */
interface RoomStream {
  roomId: string;
  /** This node's own output: served, or (a follower's hot standby) under STANDBY_DIR. */
  packager: HlsRoomPackager;
  /** A follower: its packager is the standby, and this serves the leader's output (until a takeover). */
  standby: boolean;
  mirror: RoomMirror | undefined;
  recorder: Recorder | undefined;
  /** Producer ids the recorder records, to notice a new publisher. */
  recordingKey: string;
  ffmpegRestarts: number;
  /** Re-plans of the recorders replaced so far (the current one counts its own). */
  ladderReplans: number;
  playlistUpdatedAt: number | undefined;
  recordingSince: number | undefined;
  /** Serializes recorder start/stop for this room. */
  chain: Promise<void>;
  debounce: NodeJS.Timeout | undefined;
  cleanup: NodeJS.Timeout | undefined;
}

/** A follower whose room closed mirrors the leader's own ENDLIST if it comes within this long. */
const LEADER_END_WAIT_MS = 3_000;

/** Under the HLS root: followers' own output, not served (not a valid room name). */
const STANDBY_DIR = '.standby';

/** Parts are whole frames: 0.25 s at 30 fps is 8 frames = 0.267 s. */
const PART_TARGET_SEC = Math.ceil((Math.ceil((FRAGMENT_MICROSECONDS / 1e6) * OUTPUT_FPS) / OUTPUT_FPS) * 1000) / 1000;

export class HlsService {
  readonly #options: HlsServiceOptions;
  readonly #log: Logger;
  readonly #streams = new Map<string, RoomStream>();
  readonly #pidFiles: FfmpegPidFiles;
  readonly #ffmpegStats = new FfmpegStats();
  #unsubscribe: (() => void) | undefined;
  #unfollowSettings: (() => void) | undefined;
  /** Whether, and as what, this node records a room; made once HLS is known to work. */
  #placement: RecorderPlacement | undefined;
  #disabledReason: string | undefined;
  readonly #followers: Followers;
  #closed = false;

  private constructor(options: HlsServiceOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'hls' });
    this.#pidFiles = new FfmpegPidFiles(path.join(options.root, '.pids'), this.#log);
    this.#followers = new Followers({ root: options.root, nodeId: options.bus.nodeId, nodes: options.cluster?.nodes, logger: this.#log });
  }

  /**
   * Never throws for disk problems: HLS is disabled with a logged reason
   * instead. Throws HlsDirUnsafeError for an HLS_DIR owned by someone else
   * or writable by others (the server must not start on it).
   */
  static async create(options: HlsServiceOptions): Promise<HlsService> {
    let service = new HlsService(options);
    try {
      const root = await prepareHlsRoot(options.root);
      service = new HlsService({ ...options, root });
      const probe = path.join(root, `.write-test-${process.pid}`);
      await fsp.rm(probe, { force: true });
      await fsp.writeFile(probe, 'ok', { flag: 'wx' });
      await fsp.rm(probe);
      await fsp.mkdir(service.#thumbnailDir(), { recursive: true });
      await service.#pidFiles.reapOrphans();
    } catch (error) {
      if (error instanceof HlsDirUnsafeError) throw error;
      service.#disabledReason = `HLS directory ${options.root} is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); HLS is disabled, WebRTC keeps working. Set HLS_DIR to a writable directory.`;
      service.#log.error({ dir: options.root }, service.#disabledReason);
      return service;
    }
    service.#unsubscribe = options.bus.subscribe((event) => service.#onRoomEvent(event));
    service.#unfollowSettings = options.settings?.onChange((change) => service.#onSettingChange(change));
    service.#placement = new RecorderPlacement({
      rooms: options.rooms,
      bus: options.bus,
      settings: options.settings,
      cluster: options.cluster,
      onChange: (room) => service.#scheduleSync(room),
      logger: service.#log,
    });
    for (const room of options.rooms.rooms()) if (room.live) service.#scheduleSync(room.id);
    return service;
  }

  get enabled(): boolean {
    return this.#disabledReason === undefined && !this.#closed;
  }

  get disabledReason(): string | undefined {
    return this.#disabledReason;
  }

  /** The HLS root's real path (links resolved once, at start). */
  get root(): string {
    return this.#options.root;
  }

  /** For the /hls routes: the room's live renditions (a follower's: the mirror of its leader's). */
  lookup(roomId: string): ServedRenditions | undefined {
    const stream = this.#streams.get(roomId);
    return stream?.standby ? stream.mirror?.renditions : stream?.packager.renditions;
  }

  /** Followers that continued a room's stream with their own recorder since start (a counter for metrics). */
  get takeoversTotal(): number {
    return this.#followers.takeoversTotal;
  }

  status(roomId: string): RoomHlsStatus | undefined {
    const stream = this.#streams.get(roomId);
    if (!stream) return undefined;
    return {
      available: stream.standby
        ? stream.mirror !== undefined && masterPlaylistFor(stream.mirror.renditions) !== undefined
        : stream.packager.masterPlaylist() !== undefined,
      recording: stream.recorder !== undefined,
      ffmpegRestarts: stream.ffmpegRestarts + (stream.recorder?.restarts ?? 0),
      url: `/hls/${roomId}/index.m3u8`,
      playlistUpdatedAt: stream.playlistUpdatedAt,
      recordingSince: stream.recordingSince,
      sourceLayers: stream.recorder?.sourceLayers,
      sourceSize: stream.recorder?.sourceSize,
      ladderReplans: stream.ladderReplans + (stream.recorder?.replans ?? 0),
    };
  }

  /** ffmpeg restarts of all recorders since start (a counter for metrics). */
  get ffmpegRestartsTotal(): number {
    return this.#ffmpegStats.restarts;
  }

  /** Starts, restarts, exits by kind and running count of the recorders' ffmpegs. */
  get ffmpegStats(): Readonly<FfmpegStats> {
    return this.#ffmpegStats;
  }

  /** Size and frame rate of the room's top rendition (≤ the source), once it has a segment. */
  videoInfo(roomId: string): { width: number | undefined; height: number | undefined; frameRate: number | undefined } | undefined {
    const stream = this.#streams.get(roomId);
    if (!stream || !stream.recorder) return undefined;
    let best: { width: number | undefined; height: number | undefined; frameRate: number | undefined } | undefined;
    for (const packager of Object.values(stream.packager.renditions)) {
      const info = packager.closed ? undefined : packager.info();
      if (info?.height !== undefined && (best?.height === undefined || info.height > best.height)) {
        best = { width: info.width, height: info.height, frameRate: info.frameRate };
      }
    }
    return best;
  }

  /** The room's latest poster frame, if one was written. */
  thumbnailPath(roomId: string): string | undefined {
    const file = path.join(this.#thumbnailDir(), `${roomId}.jpg`);
    return fs.existsSync(file) ? file : undefined;
  }

  /** The running ffmpeg's pid (tests and drills kill it). */
  ffmpegPid(roomId: string): number | undefined {
    return this.#streams.get(roomId)?.recorder?.ffmpegPid;
  }

  /** The node recording a room whose origin is `origin`, for the /hls proxy: see RecorderPlacement.recorderOf. */
  async recorderOf(room: string, origin: string): Promise<string | undefined> {
    return this.#placement?.recorderOf(room, origin);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#unsubscribe?.();
    this.#unfollowSettings?.();
    this.#followers.close();
    this.#placement?.close();
    await Promise.all(
      [...this.#streams.values()].map(async (stream) => {
        clearTimeout(stream.debounce);
        clearTimeout(stream.cleanup);
        await stream.chain;
        this.#stopRecorder(stream, 'server shutting down');
        await stream.packager.end().catch(() => undefined);
        await stream.mirror?.end().catch(() => undefined);
        await this.#closeOutput(stream);
        await fsp.rm(path.join(this.#thumbnailDir(), `${stream.roomId}.jpg`), { force: true });
      }),
    );
    this.#streams.clear();
  }

  /** An operator switched a room's HLS: every node re-checks it (the origin re-places, recorders start or stop). */
  #onSettingChange(change: SettingChange): void {
    if (change.setting === 'hlsLadder' || change.setting === 'hlsRedundant') this.#scheduleSync(change.room);
  }

  #thumbnailDir(): string {
    return path.join(this.#options.root, '.thumbnails');
  }

  /** Rooms recorded here are this node's rooms; their events say when the program changes. */
  #onRoomEvent(event: RoomEvent): void {
    if (event.node !== this.#options.bus.nodeId) return;
    switch (event.type) {
      case 'opened':
      case 'sourceAdded':
      case 'sourceRemoved':
      case 'programChanged':
        this.#scheduleSync(event.room);
        return;
      case 'closed':
        this.#onRoomClosed(event.room);
        return;
      case 'audienceChanged':
        return;
    }
  }

  #streamFor(roomId: string): RoomStream {
    let stream = this.#streams.get(roomId);
    if (stream && stream.cleanup) {
      // The room came back while the old stream's files were retained: start over.
      clearTimeout(stream.cleanup);
      void this.#closeOutput(stream, false);
      this.#streams.delete(roomId);
      stream = undefined;
    }
    if (!stream) {
      const room = this.#options.rooms.get(roomId);
      const standby = room !== undefined && this.#placement?.rankOf(room)?.rank === 'follower';
      const packager = new HlsRoomPackager({
        root: standby ? path.join(this.#options.root, STANDBY_DIR) : this.#options.root,
        room: roomId,
        renditions: this.#options.renditions,
        dvrWindowSec: this.#options.dvrSeconds,
        partTargetSec: PART_TARGET_SEC,
        logger: this.#log,
      });
      stream = {
        roomId,
        packager,
        standby,
        mirror: undefined,
        recorder: undefined,
        recordingKey: '',
        ffmpegRestarts: 0,
        ladderReplans: 0,
        playlistUpdatedAt: undefined,
        recordingSince: undefined,
        chain: Promise.resolve(),
        debounce: undefined,
        cleanup: undefined,
      };
      const created = stream;
      for (const [name, rendition] of Object.entries(packager.renditions)) {
        rendition.on('error', (error) => this.#log.error({ room: roomId, rendition: name, err: error.message }, 'HLS packaging error'));
        rendition.on('published', () => {
          created.playlistUpdatedAt = Date.now();
        });
      }
      this.#streams.set(roomId, stream);
    }
    return stream;
  }

  /** Tracks arrive as a burst (audio, then video): act once it settles. */
  #scheduleSync(roomId: string): void {
    if (this.#closed) return;
    this.#placement?.update(roomId);
    const room = this.#options.rooms.get(roomId);
    // Nothing to record yet: don't make a stream (and its directory) for an idle room.
    if (!room || room.closed || (!this.#streams.has(roomId) && (!room.live || this.#placement?.recordedHere(room) !== true))) return;
    const stream = this.#streamFor(roomId);
    clearTimeout(stream.debounce);
    stream.debounce = setTimeout(() => {
      stream.chain = stream.chain
        .then(() => this.#sync(roomId, stream))
        .catch((error: unknown) => {
          this.#log.error({ room: roomId, err: (error as Error).message }, 'could not start HLS recording');
        });
    }, 150);
    stream.debounce.unref();
  }

  async #sync(roomId: string, stream: RoomStream): Promise<void> {
    const room = this.#options.rooms.get(roomId);
    if (this.#closed || !room || room.closed || this.#streams.get(roomId) !== stream) return;
    await this.#followers.follow(stream, this.#placement?.rankOf(room), () => !this.#closed && this.#streams.get(room.id) === stream);
    const media = this.#placement?.recordedHere(room) === true ? room.programMedia() : undefined;
    const key = media?.video ? `${media.video.id}/${media.audio?.id ?? '-'}` : '';
    if (key === stream.recordingKey) return;
    if (stream.recorder) {
      this.#stopRecorder(stream, 'publisher media changed');
      stream.packager.restart();
    }
    if (!media?.video) return;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-rec-'));
    const recorder = await Recorder.start({
      roomId: room.id,
      router: media.router,
      videoProducer: media.video,
      audioProducer: media.audio,
      renditions: this.#options.renditions,
      sinks: new Map(Object.entries(stream.packager.renditions)),
      workDir,
      thumbnailPath: path.join(this.#thumbnailDir(), `${room.id}.jpg`),
      rtcPortRange: this.#options.rtcPortRange,
      logger: this.#log,
      ffmpegPath: this.#options.ffmpegPath,
      h264Passthrough: this.#options.h264Passthrough ?? false,
      pidFiles: this.#pidFiles,
      ffmpegStats: this.#ffmpegStats,
    });
    if (this.#closed || room.closed || this.#streams.get(room.id) !== stream) {
      recorder.close();
      return;
    }
    recorder.on('restarted', (count) => {
      this.#log.warn({ room: room.id, restarts: count }, 'HLS recorder restarted ffmpeg');
    });
    recorder.on('replanned', (change) => {
      this.#log.info({ room: room.id, ...change }, 'HLS ladder re-planned for the new source resolution');
    });
    stream.recorder = recorder;
    stream.recordingSince = Date.now();
    stream.recordingKey = key;
    this.#log.info({ room: room.id, renditions: this.#options.renditions.map((r) => r.name) }, 'HLS recording started');
  }

  /** Closes the room's output: served files go unless DVR keeps them; a standby's files always go. */
  async #closeOutput(stream: RoomStream, removeServed = this.#options.dvrSeconds === 0): Promise<void> {
    await stream.mirror?.close({ removeFiles: removeServed }).catch(() => undefined);
    await stream.packager.close({ removeFiles: stream.standby || removeServed }).catch(() => undefined);
  }

  #stopRecorder(stream: RoomStream, reason: string): void {
    const recorder = stream.recorder;
    if (!recorder) return;
    stream.ffmpegRestarts += recorder.restarts;
    stream.ladderReplans += recorder.replans;
    recorder.close();
    stream.recorder = undefined;
    stream.recordingSince = undefined;
    stream.recordingKey = '';
    this.#log.info({ room: stream.roomId, reason }, 'HLS recording stopped');
  }

  #onRoomClosed(roomId: string): void {
    this.#placement?.forget(roomId);
    const stream = this.#streams.get(roomId);
    if (!stream || this.#closed) return;
    clearTimeout(stream.debounce);
    stream.chain = stream.chain.then(async () => {
      this.#stopRecorder(stream, 'room closed');
      await stream.packager.end().catch(() => undefined);
      await stream.mirror?.end({ waitForLeaderMs: LEADER_END_WAIT_MS }).catch(() => undefined);
      await fsp.rm(path.join(this.#thumbnailDir(), `${roomId}.jpg`), { force: true });
      stream.cleanup = setTimeout(() => {
        if (this.#streams.get(roomId) !== stream) return;
        this.#streams.delete(roomId);
        void this.#closeOutput(stream);
      }, this.#options.retainMs);
      stream.cleanup.unref();
    });
  }
}
