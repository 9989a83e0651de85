/**
 * LL-HLS playback of `/hls/<room>/index.m3u8` with hls.js (or the browser's
 * own HLS where there is no MediaSource, e.g. older iOS Safari). Used when
 * WebRTC cannot be (room full, WebRTC blocked or failing) or when asked for
 * with ?transport=hls.
 *
 * Lifecycle: ask /api/rooms whether the room is live and its HLS stream
 * exists (offline / "stream starting" otherwise, polling), then hand the
 * master playlist to hls.js at once: while the renditions start, the server
 * holds the master request until it exists (server/hls/hlsRoutes.ts), so the
 * player starts with the first part instead of on a timer. While attached the room is polled every few seconds for
 * the viewer count and to notice the broadcast ending. Playback errors are
 * recovered in place (media errors) or by starting over with backoff
 * (network and anything else fatal); nothing here gives up for good except a
 * server without HLS or a browser that cannot play it.
 *
 * Loaded on demand (dynamic import) so WebRTC viewers never download hls.js.
 * The light build (no content steering, subtitles, alternate audio, EME) is
 * what plays; a master playlist with EXT-X-CONTENT-STEERING (HLS_PATHWAYS,
 * server/hls/contentSteering.ts) loads the full build instead (+70 kB gzip),
 * only for the viewers of a steered stream: its pathways are the point of
 * steering (failover across origins or CDNs), and the light build would play
 * the duplicated variants as if they were one ladder.
 */
import Hls, { ErrorDetails, ErrorTypes, Events, type ErrorData, type HlsConfig } from 'hls.js/light';
import { fetchRooms, hlsMasterUrl } from '../api/rooms';
import { FloodlightError } from '../sdk/errors';
import { TypedEmitter } from '../sdk/typedEmitter';
import type { Quality } from '../sdk/viewer';
import type { Playback, PlaybackEvents, PlaybackStatus, QoeSample } from './playback';

/** hls.js's transmuxer worker, copied next to the bundles by scripts/build-client.mjs (CSP: worker-src 'self'). */
export const HLS_WORKER_PATH = '/assets/hls.worker.js';

const retry = (maxNumRetry: number, retryDelayMs: number, maxRetryDelayMs: number) => ({ maxNumRetry, retryDelayMs, maxRetryDelayMs });

/**
 * hls.js settings for Floodlight's LL-HLS (parts ≈ 0.267 s, PART-HOLD-BACK
 * 0.8 s, blocking playlist reload, 1 s segments). Latency notes in
 * client/README.md ("HLS playback").
 */
export const HLS_CONFIG: Partial<HlsConfig> = {
  lowLatencyMode: true,
  // Target latency. hls.js's LL default is the playlist's PART-HOLD-BACK (0.8 s), but it only
  // speeds up to reach the target while > 1 s is buffered ahead, so playback settles at ~1.2 s
  // whatever lower target is set (measured), with the rate flapping 1.0↔1.1. 1.2 s: same latency, steady rate.
  liveSyncDuration: 1.2,
  // Further behind than this (after a stall, a background tab…): jump back to the target.
  liveMaxLatencyDuration: 3,
  // Between the two, catch up by playing up to 10 % faster (inaudible on speech).
  maxLiveSyncPlaybackRate: 1.1,
  // Each stall adds this much to the target (up to one target duration): fewer repeat stalls.
  liveSyncOnStallIncrease: 0.3,
  // Live: what is behind the playhead is never watched again; keep a little for seeking noise.
  backBufferLength: 4,
  maxBufferLength: 4,
  // Auto quality never fetches more pixels than the element shows (like WebRTC's 'auto').
  capLevelToPlayerSize: true,
  startLevel: -1,
  // No bitrate test: with it, auto start loads a fragment of the lowest rendition first and then
  // switches (a blocking playlist load of the new one): ~1 s more at go-live (bench hls-startup).
  // The start level comes from abrEwmaDefaultEstimate and the player's size instead.
  testBandwidth: false,
  startFragPrefetch: true,
  // ABR: our parts are tiny; start from a LAN-ish estimate instead of 500 kbps.
  abrEwmaDefaultEstimate: 2_000_000,
  enableWorker: true,
  workerPath: HLS_WORKER_PATH,
  // The master answers 503 (Retry-After: 1) for a second or two while renditions start.
  manifestLoadPolicy: {
    default: {
      maxTimeToFirstByteMs: 8_000,
      maxLoadTimeMs: 10_000,
      timeoutRetry: retry(2, 0, 0),
      errorRetry: retry(8, 500, 2_000),
    },
  },
  // Blocking reloads are held by the server up to 3 target durations, then 503.
  playlistLoadPolicy: {
    default: {
      maxTimeToFirstByteMs: 8_000,
      maxLoadTimeMs: 10_000,
      timeoutRetry: retry(3, 0, 0),
      errorRetry: retry(6, 500, 2_000),
    },
  },
  fragLoadPolicy: {
    default: {
      maxTimeToFirstByteMs: 8_000,
      maxLoadTimeMs: 20_000,
      timeoutRetry: retry(3, 0, 0),
      errorRetry: retry(6, 500, 2_000),
    },
  },
};

/**
 * Room polling. Live but no HLS stream yet: only the moment between the room
 * going live and its recorder starting, poll closely (a viewer opened at
 * go-live starts the moment the stream exists). Offline: 1 s, so a go-live is
 * noticed within a second without a crowd of waiting viewers hammering the API.
 */
const WAIT_POLL_MS = 250;
const OFFLINE_POLL_MS = 1_000;
const LIVE_POLL_MS = 5_000;
/** The server did not answer: no hurry. */
const UNREACHABLE_POLL_MS = 2_000;
/** Starting over after a fatal error: 1 s, 2 s, 4 s … 10 s; reset once media flows again. */
const RESTART_INITIAL_MS = 1_000;
const RESTART_MAX_MS = 10_000;
/** More media-error recoveries than this within the window: start over instead. */
const MEDIA_RECOVERY_LIMIT = 2;
const MEDIA_RECOVERY_WINDOW_MS = 10_000;
/** A stall (the element waiting for data after it played) this long or longer counts as a freeze. */
export const HLS_STALL_MIN_MS = 700;

type Engine = { kind: 'hls.js'; hls: Hls } | { kind: 'native'; detach: () => void };

/** How long the master check may take before playing with the light build anyway (hls.js then loads the master itself). */
const STEERING_CHECK_TIMEOUT_MS = 8_000;

/**
 * The hls.js build for a master: the full one when it carries
 * EXT-X-CONTENT-STEERING, else the light one. The check loads the master
 * once; hls.js's own load of it then comes from the HTTP cache (max-age=2).
 */
async function hlsBuildFor(masterUrl: string): Promise<typeof Hls> {
  let steered = false;
  try {
    const response = await fetch(masterUrl, { signal: AbortSignal.timeout(STEERING_CHECK_TIMEOUT_MS) });
    steered = response.ok && (await response.text()).includes('#EXT-X-CONTENT-STEERING:');
  } catch {
    // Unreachable or slow: hls.js reports and retries its own load.
  }
  return steered ? (await import('hls.js')).default : Hls;
}

function canPlayNatively(video: HTMLVideoElement): boolean {
  return video.canPlayType('application/vnd.apple.mpegurl') !== '';
}

export class HlsPlayback extends TypedEmitter<PlaybackEvents> implements Playback {
  readonly transport = 'hls' as const;
  readonly url: string;
  private statusValue: PlaybackStatus = 'connecting';
  private engine: Engine | null = null;
  /** Between attach() and the engine: the master is being checked for content steering. */
  private attaching = false;
  private closed = false;
  private startPromise: Promise<void> | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private polling = false;
  private restartDelayMs = RESTART_INITIAL_MS;
  private everLive = false;
  private mediaRecoveries: number[] = [];
  private quality: Quality;
  /** Stalls for the QoE report: the element waited for data after it had played. */
  private stalls = { count: 0, durationMs: 0, startedAt: null as number | null, playedSinceAttach: false };

  /** hls.js (MediaSource) where possible, the browser's own HLS otherwise. */
  static isSupported(video: HTMLVideoElement): boolean {
    return Hls.isSupported() || canPlayNatively(video);
  }

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly options: { room: string; quality?: Quality },
  ) {
    super();
    this.url = hlsMasterUrl(options.room);
    this.quality = options.quality ?? 'auto';
  }

  get status(): PlaybackStatus {
    return this.statusValue;
  }

  /** The current hls.js instance (null while waiting or with native HLS). */
  get hls(): Hls | null {
    return this.engine?.kind === 'hls.js' ? this.engine.hls : null;
  }

  /** Resolves once polling started; rejects (and emits 'fatal') only if this browser cannot play HLS. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new FloodlightError('CLOSED', 'playback is closed'));
    if (this.startPromise) return this.startPromise;
    if (!HlsPlayback.isSupported(this.video)) {
      const error = new FloodlightError('UNSUPPORTED', 'this browser can play neither WebRTC nor HLS');
      this.startPromise = Promise.reject(error);
      queueMicrotask(() => this.emit('fatal', error));
      return this.startPromise;
    }
    this.startPromise = Promise.resolve();
    this.video.addEventListener('waiting', this.onWaiting);
    this.video.addEventListener('playing', this.onPlaying);
    void this.poll();
    return this.startPromise;
  }

  setQuality(quality: Quality): void {
    this.quality = quality;
    this.applyQuality();
  }

  latency(): number | null {
    const engine = this.engine;
    // Before the first frame the playhead has not been moved to the live position yet.
    if (!engine || !this.everLive || this.statusValue === 'offline' || this.video.seeking || this.video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA)
      return null;
    if (engine.kind === 'hls.js') {
      // 0 until the first playlist and playhead are known.
      const latency = engine.hls.latency;
      return latency > 0 ? latency : null;
    }
    const { seekable, currentTime } = this.video;
    return seekable.length > 0 ? Math.max(0, seekable.end(seekable.length - 1) - currentTime) : null;
  }

  qoeSample(): Promise<QoeSample | null> {
    return Promise.resolve(this.currentQoe());
  }

  /** hls.js and the element know everything synchronously (WebRTC has to ask getStats()). */
  private currentQoe(): QoeSample | null {
    if (this.closed || !this.engine) return null;
    const quality = typeof this.video.getVideoPlaybackQuality === 'function' ? this.video.getVideoPlaybackQuality() : null;
    const hls = this.hls;
    const level = hls && hls.currentLevel >= 0 ? hls.levels[hls.currentLevel] : undefined;
    const latency = this.latency();
    return {
      transport: 'hls',
      framesDecoded: quality ? Math.max(0, quality.totalVideoFrames - quality.droppedVideoFrames) : 0,
      framesDropped: quality?.droppedVideoFrames ?? 0,
      freezeCount: this.stalls.count,
      freezeDurationMs: this.stalls.durationMs,
      // Measured from the loaded fragments when hls.js has it, else the playlist's (average) bandwidth.
      ...(level && (level.realBitrate || level.averageBitrate) ? { bitrateBps: level.realBitrate || level.averageBitrate } : {}),
      ...(latency !== null ? { latencyMs: latency * 1000 } : {}),
    };
  }

  private readonly onWaiting = (): void => {
    const stalls = this.stalls;
    if (stalls.playedSinceAttach && !this.video.paused && stalls.startedAt === null) stalls.startedAt = performance.now();
  };

  private readonly onPlaying = (): void => {
    const stalls = this.stalls;
    stalls.playedSinceAttach = true;
    if (stalls.startedAt === null) return;
    const duration = performance.now() - stalls.startedAt;
    stalls.startedAt = null;
    if (duration < HLS_STALL_MIN_MS) return;
    stalls.count++;
    stalls.durationMs += duration;
  };

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.video.removeEventListener('waiting', this.onWaiting);
    this.video.removeEventListener('playing', this.onPlaying);
    this.removeAllListeners();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = null;
    this.detach();
  }

  debugHandle(): Record<string, unknown> {
    // Getters: the hls.js instance is replaced when playback starts over.
    const currentHls = () => this.hls;
    const currentLatency = () => this.latency();
    return {
      transport: 'hls',
      playback: this,
      get hls() {
        return currentHls();
      },
      get latency() {
        return currentLatency();
      },
    };
  }

  // ---------------------------------------------------------------- room polling

  private schedulePoll(delayMs: number): void {
    if (this.closed) return;
    if (this.pollTimer) clearTimeout(this.pollTimer);
    this.pollTimer = setTimeout(() => {
      this.pollTimer = null;
      void this.poll();
    }, delayMs);
  }

  /** One look at /api/rooms: attach when the room's HLS is ready, detach when it went offline. */
  private async poll(): Promise<void> {
    if (this.closed || this.polling) return;
    this.polling = true;
    let next: number | null = LIVE_POLL_MS;
    try {
      const { rooms, hlsEnabled } = await fetchRooms();
      // close() may have run during the fetch (TypeScript keeps its narrowing across awaits).

      if (this.closed) return;
      if (!hlsEnabled) {
        this.detach();
        this.setStatus('offline');
        this.emit('fatal', new FloodlightError('UNAVAILABLE', 'this server does not provide HLS'));
        next = null; // for good
        return;
      }
      const room = rooms.find((candidate) => candidate.id === this.options.room);
      if (room) this.emit('viewers', room.viewers);
      if (!room?.live) {
        // Nothing live: drop what plays (the playlists would just stall) and wait.
        this.detach();
        this.setStatus('offline');
        next = OFFLINE_POLL_MS;
      } else if (!this.engine) {
        // The stream exists (url) even before its master does: the server holds the master
        // request until the first parts are out, so attaching now saves a poll round.
        if (room.hls.available || room.hls.url !== null) {
          this.attach();
        } else {
          this.setStatus('connecting');
          this.emit('notice', 'stream starting');
          next = WAIT_POLL_MS;
        }
      }
    } catch (error) {
      if (this.closed) return;
      if (!this.engine) {
        this.emit('notice', `cannot reach the server (${error instanceof Error ? error.message : String(error)}), retrying`);
        next = UNREACHABLE_POLL_MS;
      }
    } finally {
      this.polling = false;

      if (next !== null && !this.closed && !this.pollTimer) this.schedulePoll(next);
    }
  }

  // ---------------------------------------------------------------- engine

  private attach(): void {
    if (this.closed || this.engine || this.attaching) return;
    // Still 'reconnecting' when starting over after an error; a fresh start is 'connecting'.
    if (this.statusValue !== 'reconnecting') this.setStatus('connecting');
    this.emit('sourceChanged', { hasVideo: true });
    if (!Hls.isSupported()) {
      this.attachNative();
      return;
    }
    this.attaching = true;
    void hlsBuildFor(this.url).then((HlsBuild) => {
      this.attaching = false;
      if (!this.closed && !this.engine) this.attachHlsJs(HlsBuild);
    });
  }

  private attachHlsJs(HlsBuild: typeof Hls): void {
    const hls = new HlsBuild(HLS_CONFIG);
    const engine: Engine = { kind: 'hls.js', hls };
    this.engine = engine;
    const current = () => this.engine === engine;

    hls.on(Events.MANIFEST_PARSED, () => {
      if (!current()) return;
      this.applyQuality();
      this.play();
    });
    hls.on(Events.LEVEL_UPDATED, (_event, { details }) => {
      // EXT-X-ENDLIST: the broadcast ended (a retained recording is not what /watch is for).
      if (current() && !details.live) this.ended();
    });
    hls.on(Events.FRAG_BUFFERED, () => {
      if (!current()) return;
      this.everLive = true;
      this.restartDelayMs = RESTART_INITIAL_MS;
      this.setStatus('live');
    });
    hls.on(Events.LEVEL_SWITCHED, (_event, { level }) => {
      if (!current()) return;
      const height = hls.levels[level]?.height;
      this.emit('qualityLabel', height ? `${height}p` : null);
    });
    hls.on(Events.ERROR, (_event, data) => {
      if (current()) this.onError(hls, data);
    });
    hls.loadSource(this.url);
    hls.attachMedia(this.video);
  }

  private attachNative(): void {
    const video = this.video;
    const onPlaying = () => {
      this.everLive = true;
      this.restartDelayMs = RESTART_INITIAL_MS;
      this.setStatus('live');
    };
    const onWaiting = () => {
      if (this.statusValue === 'live') this.setStatus('reconnecting');
    };
    const onError = () => this.restart(`media error ${video.error?.code ?? '?'}`);
    const onEnded = () => this.ended();
    video.addEventListener('playing', onPlaying);
    video.addEventListener('waiting', onWaiting);
    video.addEventListener('error', onError);
    video.addEventListener('ended', onEnded);
    this.engine = {
      kind: 'native',
      detach: () => {
        video.removeEventListener('playing', onPlaying);
        video.removeEventListener('waiting', onWaiting);
        video.removeEventListener('error', onError);
        video.removeEventListener('ended', onEnded);
        video.removeAttribute('src');
        video.load();
      },
    };
    video.src = this.url;
    this.play();
  }

  private detach(): void {
    const engine = this.engine;
    if (!engine) return;
    this.engine = null;
    if (engine.kind === 'hls.js')
      engine.hls.destroy(); // detaches the element too
    else engine.detach();
    this.emit('qualityLabel', null);
  }

  private play(): void {
    this.video.play().catch((error: unknown) => {
      // AbortError: a new source replaced this one before it started; harmless.
      if (error instanceof DOMException && error.name === 'AbortError') return;
      this.emit('autoplayBlocked', null);
    });
  }

  private onError(hls: Hls, data: ErrorData): void {
    if (!data.fatal) {
      // hls.js retries loads by itself; a stall means the picture froze.
      if (data.details === ErrorDetails.BUFFER_STALLED_ERROR && this.statusValue === 'live') this.setStatus('reconnecting');
      return;
    }
    if (data.type === ErrorTypes.MEDIA_ERROR) {
      const now = performance.now();
      this.mediaRecoveries = this.mediaRecoveries.filter((at) => now - at < MEDIA_RECOVERY_WINDOW_MS);
      if (this.mediaRecoveries.length < MEDIA_RECOVERY_LIMIT) {
        // The usual hls.js recipe: recover; if that did not help, swap the audio codec and recover again.
        if (this.mediaRecoveries.length === 1) hls.swapAudioCodec();
        this.mediaRecoveries.push(now);
        this.setStatus(this.everLive ? 'reconnecting' : 'connecting');
        this.emit('notice', `${data.details}: recovering`);
        hls.recoverMediaError();
        return;
      }
    }
    this.restart(`${data.type} ${data.details}`);
  }

  /** Drop the engine and go through the room poll again after the backoff delay. */
  private restart(reason: string): void {
    if (this.closed) return;
    console.warn(`[floodlight] HLS playback starting over (${reason}) in ${this.restartDelayMs} ms`);
    this.detach();
    this.setStatus(this.everLive ? 'reconnecting' : 'connecting');
    this.emit('notice', `${reason}: retrying in ${Math.ceil(this.restartDelayMs / 1000)} s`);
    this.schedulePoll(this.restartDelayMs);
    this.restartDelayMs = Math.min(this.restartDelayMs * 2, RESTART_MAX_MS);
  }

  /** The playlist ended: offline until the room is live again. */
  private ended(): void {
    this.detach();
    this.setStatus('offline');
    this.schedulePoll(OFFLINE_POLL_MS);
  }

  /**
   * auto → ABR (capped to the element's size); high/medium/low → the top
   * rendition, the best one up to 480p, the bottom one (renditions are
   * 720p/480p/240p, never above the source).
   */
  private applyQuality(): void {
    const hls = this.hls;
    if (!hls || hls.levels.length === 0) return;
    const quality = this.quality;
    if (quality === 'auto') {
      hls.loadLevel = -1;
      return;
    }
    const byHeight = hls.levels
      .map((level, index) => ({ index, height: level.height || 0, bitrate: level.bitrate }))
      .sort((a, b) => a.height - b.height || a.bitrate - b.bitrate);
    let pick = byHeight[byHeight.length - 1]!;
    if (quality === 'low') pick = byHeight[0]!;
    if (quality === 'medium') pick = [...byHeight].reverse().find((level) => level.height > 0 && level.height <= 480) ?? byHeight[0]!;
    // loadLevel: switches from the next part on, without flushing what is buffered.
    hls.loadLevel = pick.index;
  }

  private setStatus(status: PlaybackStatus): void {
    if (status === 'offline') {
      // Nothing to play is not a freeze; the next start is a first start again.
      this.stalls.startedAt = null;
      this.stalls.playedSinceAttach = false;
    }
    if (status === this.statusValue) return;
    this.statusValue = status;
    this.emit('status', status);
  }
}
