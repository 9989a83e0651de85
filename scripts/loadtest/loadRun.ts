/**
 * One load test against a Floodlight URL: an optional synthetic publisher,
 * `webrtc` headless WebRTC viewers and `hls` LL-HLS clients started evenly
 * over `rampSeconds`, kept for `durationSeconds` (ramp included), then a
 * report (loadReport.ts). Bounded: counts and duration are capped (LIMITS)
 * unless the caller raises the caps on purpose.
 *
 *   const run = new LoadRun({ url, room, hls: 5, webrtc: 3, durationSeconds: 15 });
 *   run.onProgress = (report) => …;   // every progressEverySeconds while running
 *   const report = await run.run();   // closes everything it started
 */
import { HeadlessPublisher } from '../../test/helpers/headlessPublisher.js';
import { isValidRoomId } from '../../server/contracts/roomId.js';
import { LlHlsClient } from './llHlsClient.js';
import { buildReport, type LoadReport } from './loadReport.js';
import { WebrtcViewerPool } from './webrtcViewerPool.js';

export const LIMITS = { hls: 2000, webrtc: 200, durationSeconds: 600 };

export interface LoadRunOptions {
  /** Floodlight (or edge) base URL: http://host:port. HLS goes to <hlsUrl ?? url>/hls/<room>/index.m3u8. */
  url: string;
  room: string;
  /** Where LL-HLS clients load from (an edge in front of `url`). Default `url`. */
  hlsUrl?: string;
  hls?: number;
  webrtc?: number;
  /** Publish a synthetic broadcast (ffmpeg test pattern) with this publisher token. */
  publisherToken?: string;
  durationSeconds?: number;
  rampSeconds?: number;
  /** LL-HLS rendition: 'first' (hls.js's start level), 'lowest', 'highest' or an index. Default 'first'. */
  variant?: number | 'first' | 'lowest' | 'highest';
  /** A server on this machine (tests): WebRTC on loopback only. */
  loopbackOnly?: boolean;
  progressEverySeconds?: number;
  /** Raise the caps (counts, duration) — a deliberate choice, never a default. */
  unbounded?: boolean;
}

function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

export class LoadRun {
  readonly #options: Required<Omit<LoadRunOptions, 'publisherToken' | 'hlsUrl'>> & Pick<LoadRunOptions, 'publisherToken' | 'hlsUrl'>;
  readonly #hls: Array<{ client: LlHlsClient; startedAt: number }> = [];
  readonly #webrtc: WebrtcViewerPool;
  readonly #webrtcStarted: number[] = [];
  #publisher: HeadlessPublisher | undefined;
  #startedAt = 0;
  #startedAtWall = 0;
  #closing: Promise<void> | undefined;
  readonly #stop = new AbortController();
  onProgress: ((report: LoadReport) => void) | undefined;

  constructor(options: LoadRunOptions) {
    const o = {
      hls: 0,
      webrtc: 0,
      durationSeconds: 60,
      rampSeconds: 0,
      variant: 'first' as const,
      loopbackOnly: false,
      progressEverySeconds: 5,
      unbounded: false,
      ...options,
    };
    let base: URL;
    try {
      base = new URL(o.url);
    } catch {
      throw new Error(`--url ${o.url} is not a URL`);
    }
    check(base.protocol === 'http:' || base.protocol === 'https:', `--url must be http(s)://, got ${o.url}`);
    check(isValidRoomId(o.room), `room ${JSON.stringify(o.room)} is not a valid room name`);
    for (const key of ['hls', 'webrtc'] as const) {
      check(Number.isInteger(o[key]) && o[key] >= 0, `--${key} must be a whole number ≥ 0`);
      check(o.unbounded || o[key] <= LIMITS[key], `--${key} ${o[key]} is over the cap of ${LIMITS[key]} (pass --unbounded to raise it on purpose)`);
    }
    check(o.hls + o.webrtc > 0 || o.publisherToken !== undefined, 'nothing to do: give --hls, --webrtc or --publisher');
    check(Number.isFinite(o.durationSeconds) && o.durationSeconds > 0, '--duration must be positive');
    check(o.unbounded || o.durationSeconds <= LIMITS.durationSeconds, `--duration ${o.durationSeconds} s is over the cap of ${LIMITS.durationSeconds} s`);
    check(Number.isFinite(o.rampSeconds) && o.rampSeconds >= 0 && o.rampSeconds <= o.durationSeconds, '--ramp must be between 0 and --duration');
    this.#options = o;
    this.#webrtc = new WebrtcViewerPool({ url: o.url, room: o.room, loopbackOnly: o.loopbackOnly });
  }

  get masterUrl(): string {
    return new URL(`/hls/${encodeURIComponent(this.#options.room)}/index.m3u8`, this.#options.hlsUrl ?? this.#options.url).href;
  }

  /** Runs to the end (or until stop()), closes everything, returns the report. */
  async run(): Promise<LoadReport> {
    const o = this.#options;
    this.#startedAt = performance.now();
    this.#startedAtWall = Date.now();
    const timers: NodeJS.Timeout[] = [];
    try {
      if (o.publisherToken) {
        this.#publisher = new HeadlessPublisher({
          url: o.url,
          room: o.room,
          token: o.publisherToken,
          loopbackOnly: o.loopbackOnly,
          allowRemoteMedia: !o.loopbackOnly,
          video: { codec: 'H264', width: 1280, height: 720, bitrateKbps: 1500, keyframeIntervalSec: 1 },
        });
        await this.#publisher.publish();
      }
      // Start times spread evenly over the ramp, WebRTC and HLS interleaved.
      const total = o.hls + o.webrtc;
      const starts: Array<'hls' | 'webrtc'> = [];
      for (let i = 0, h = 0, w = 0; i < total; i++) {
        if (w < o.webrtc && (h >= o.hls || w * o.hls <= h * o.webrtc)) {
          starts.push('webrtc');
          w++;
        } else {
          starts.push('hls');
          h++;
        }
      }
      starts.forEach((kind, i) => {
        const delay = total > 1 ? (o.rampSeconds * 1000 * i) / (total - 1) : 0;
        timers.push(setTimeout(() => this.#startClient(kind), delay));
      });
      const sampler = setInterval(() => this.#webrtc.sample(), 1000);
      timers.push(sampler);
      const progress = setInterval(() => this.onProgress?.(this.report()), o.progressEverySeconds * 1000);
      timers.push(progress);
      await new Promise<void>((resolve) => {
        const end = setTimeout(resolve, o.durationSeconds * 1000);
        this.#stop.signal.addEventListener('abort', () => {
          clearTimeout(end);
          resolve();
        });
      });
    } finally {
      for (const timer of timers) clearTimeout(timer);
      this.#webrtc.sample();
    }
    const report = this.report();
    await this.close();
    return report;
  }

  /** Ends the run early (Ctrl-C): run() then reports what it has. */
  stop(): void {
    this.#stop.abort();
  }

  #startClient(kind: 'hls' | 'webrtc'): void {
    if (this.#closing || this.#stop.signal.aborted) return;
    if (kind === 'webrtc') {
      this.#webrtcStarted.push(performance.now());
      this.#webrtc.add(`webrtc-${this.#webrtcStarted.length}`);
      return;
    }
    const client = new LlHlsClient({ masterUrl: this.masterUrl, id: `hls-${this.#hls.length + 1}`, variant: this.#options.variant });
    this.#hls.push({ client, startedAt: performance.now() });
    client.start();
  }

  /** The report so far (also the live table's data). */
  report(): LoadReport {
    const now = performance.now();
    const o = this.#options;
    const publisher = this.#publisher?.stats();
    return buildReport({
      url: o.url,
      room: o.room,
      startedAtWall: this.#startedAtWall,
      elapsedSeconds: (now - this.#startedAt) / 1000,
      options: {
        hls: o.hls,
        webrtc: o.webrtc,
        publisher: o.publisherToken !== undefined,
        durationSeconds: o.durationSeconds,
        rampSeconds: o.rampSeconds,
        variant: String(o.variant),
      },
      hls: this.#hls.map(({ client, startedAt }) => ({ stats: client.stats(), activeSeconds: (now - startedAt) / 1000 })),
      webrtc: this.#webrtc.stats().map((stats, i) => ({ stats, activeSeconds: (now - (this.#webrtcStarted[i] ?? now)) / 1000 })),
      publisher: publisher ? { state: publisher.state, sentVideoPackets: publisher.sent.videoPackets } : null,
    });
  }

  /** Stops every client and the publisher. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#stop.abort();
      await Promise.all([...this.#hls.map(({ client }) => client.close()), this.#webrtc.close()]);
      await this.#publisher?.close().catch(() => undefined);
    })();
    return this.#closing;
  }
}
