/**
 * The load tool's WebRTC viewers: headless werift viewers
 * (test/helpers/headlessViewer.ts, no decoding) in this process, sampled once
 * a second for bitrate and freezes (a second without a new video frame while
 * connected and after the first frame is one freeze second; consecutive ones
 * are one freeze).
 */
import { HeadlessViewer } from '../../test/helpers/headlessViewer.js';

export interface WebrtcViewerStats {
  id: string;
  peerId: string | null;
  state: string;
  /** join() call → first complete keyframe (the first frame a decoder could show), ms. */
  joinToFirstFrameMs: number | null;
  frames: number;
  bytes: number;
  freezes: number;
  freezeSeconds: number;
  errors: Record<string, number>;
}

interface Entry {
  viewer: HeadlessViewer;
  stats: WebrtcViewerStats;
  lastFrames: number;
  frozen: boolean;
}

export interface WebrtcViewerPoolOptions {
  url: string;
  room: string;
  /** A local server in a test: offer only 127.0.0.1 and accept only local SFU candidates. Default false (any server). */
  loopbackOnly?: boolean;
}

export class WebrtcViewerPool {
  readonly #options: WebrtcViewerPoolOptions;
  readonly #entries: Entry[] = [];
  #closed = false;

  constructor(options: WebrtcViewerPoolOptions) {
    this.#options = options;
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Starts one more viewer (joins in the background). */
  add(id: string): void {
    if (this.#closed) return;
    const local = this.#options.loopbackOnly ?? false;
    const viewer = new HeadlessViewer({
      url: this.#options.url,
      room: this.#options.room,
      name: `loadtest-${id}`,
      loopbackOnly: local,
      allowRemoteMedia: !local,
      requestTimeoutMs: 20_000,
      connectTimeoutMs: 20_000,
    });
    const entry: Entry = {
      viewer,
      stats: { id, peerId: null, state: 'joining', joinToFirstFrameMs: null, frames: 0, bytes: 0, freezes: 0, freezeSeconds: 0, errors: {} },
      lastFrames: 0,
      frozen: false,
    };
    this.#entries.push(entry);
    viewer.join().catch((error: unknown) => {
      const kind = `join: ${error instanceof Error ? error.message.split(':')[0]! : String(error)}`;
      entry.stats.errors[kind] = (entry.stats.errors[kind] ?? 0) + 1;
    });
  }

  /** Called once a second: counters, freezes. */
  sample(): void {
    for (const entry of this.#entries) {
      const s = entry.viewer.stats();
      const stats = entry.stats;
      stats.peerId = s.peerId ?? null;
      stats.state = s.state === 'joined' ? s.connectionState : s.state;
      stats.joinToFirstFrameMs = s.timeToFirstKeyframeMs ?? null;
      stats.frames = s.video.frames;
      stats.bytes = s.video.bytes + s.audio.bytes;
      for (const error of s.consumeErrors) stats.errors[`consume: ${error.error}`] = 1;
      if (stats.joinToFirstFrameMs !== null && !this.#closed) {
        const stalled = s.video.frames === entry.lastFrames;
        if (stalled) {
          stats.freezeSeconds++;
          if (!entry.frozen) stats.freezes++;
        }
        entry.frozen = stalled;
      }
      entry.lastFrames = s.video.frames;
    }
  }

  stats(): WebrtcViewerStats[] {
    return this.#entries.map((e) => ({ ...e.stats, errors: { ...e.stats.errors } }));
  }

  /** Leaves with every viewer. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.sample();
    this.#closed = true;
    await Promise.all(this.#entries.map((e) => e.viewer.close().catch(() => undefined)));
  }
}
