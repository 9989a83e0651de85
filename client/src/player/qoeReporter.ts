/**
 * Quality-of-experience reports from the watch page to the server:
 * `POST /api/rooms/<room>/qoe` every REPORT_INTERVAL_MS while the page is
 * visible and something plays, plus a last one when the page is hidden or
 * closed (fetch keepalive, so it survives the unload). Failures are ignored:
 * reporting must never disturb playback.
 *
 * Body: `QoeReport` of server/contracts/qoeReport.ts (strict: unknown fields are refused).
 * Counters are totals for this page session (one sessionId per page load,
 * across transport switches and rejoins); firstFrameMs (page start → first
 * rendered frame) is sent once; bitrateBps is over the last interval.
 *
 * Where figures come from: the playing transport's `qoeSample()` (WebRTC:
 * the Viewer's getStats(), freezes from inbound-rtp freezeCount /
 * totalFreezesDuration when the browser has them; HLS: the element's
 * getVideoPlaybackQuality(), buffer stalls, hls.latency, the rendition's
 * bitrate). Without native freeze counters, a freeze is a gap of at least
 * FREEZE_MIN_MS between two rendered frames (requestVideoFrameCallback)
 * while frames were expected.
 */
// Type-only: the browser gets the contract's type, not its zod schema. A field the
// reporter adds that the contract lacks is a type error (the server refuses unknown fields).
import type { QoeReport } from '../../../server/contracts/qoeReport';
import type { Playback, QoeSample } from './playback';

export const REPORT_INTERVAL_MS = 5_000;
/** A gap between rendered frames this long or longer is a freeze (when the transport does not count them). */
export const FREEZE_MIN_MS = 700;
/** The server answers 429 to more than ~1 report per second per session. */
const MIN_REPORT_SPACING_MS = 1_100;
/** watchingSeconds is sampled at this rate. */
const WATCH_TICK_MS = 1_000;

export interface QoeReporterOptions {
  room: string;
  video: HTMLVideoElement;
  /** Whether frames should be on screen now (the page shows "playing" and the broadcaster has not paused video). */
  expectFrames: () => boolean;
  /** Where reports go; default `/api/rooms/<room>/qoe`. */
  url?: string;
  intervalMs?: number;
}

/** 22 URL-safe random characters (crypto.randomUUID needs a secure context; LAN pages are often plain HTTP). */
export function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** A total built from counters that may restart from zero. */
class Accumulated {
  total = 0;
  private last: number | undefined;

  add(raw: number): void {
    if (!Number.isFinite(raw) || raw < 0) return;
    // A lower value than last time: the counter restarted (new session/source); all of it is new.
    this.total += this.last === undefined || raw < this.last ? raw : raw - this.last;
    this.last = raw;
  }

  /** The next value comes from a new source. */
  restart(): void {
    this.last = undefined;
  }
}

export class QoeReporter {
  readonly sessionId = newSessionId();
  private readonly url: string;
  private readonly intervalMs: number;
  private playback: Playback | null = null;
  private reportTimer: ReturnType<typeof setInterval> | null = null;
  private watchTimer: ReturnType<typeof setInterval> | null = null;
  private frameCallbackId: number | null = null;
  private stopped = false;
  private sending = false;
  private lastSentAt = -Infinity;

  private readonly frames = { decoded: new Accumulated(), dropped: new Accumulated() };
  private readonly nativeFreezes = { count: new Accumulated(), durationMs: new Accumulated() };
  /** Freezes seen from rendered frames (used while the transport does not count them). */
  private readonly gapFreezes = { count: 0, durationMs: 0 };
  private usesNativeFreezes = false;
  private lastFrameAt: number | null = null;
  /** Set when frames were not expected at some point since the last frame (the gap is no freeze). */
  private gapExcused = true;
  private firstFrameMs: number | null = null;
  private firstFrameSent = false;
  private watchingMs = 0;
  private bytes: { value: number; at: number } | null = null;
  /** The current transport's counters have been looked at once (see tick()). */
  private seeded = false;
  /** Non-cumulative figures of the last sample. */
  private latest: Pick<QoeReport, 'transport' | 'jitterBufferDelayMs' | 'latencyMs' | 'bitrateBps'> | null = null;

  constructor(private readonly options: QoeReporterOptions) {
    this.url = options.url ?? `/api/rooms/${encodeURIComponent(options.room)}/qoe`;
    this.intervalMs = options.intervalMs ?? REPORT_INTERVAL_MS;
    this.watchFrames();
    document.addEventListener('visibilitychange', this.onVisibility);
    window.addEventListener('pagehide', this.onPageHide);
    if (!document.hidden) this.startTimers();
  }

  /** The transport now playing (null: none). Counters continue across switches. */
  setPlayback(playback: Playback | null): void {
    if (playback === this.playback) return;
    this.playback = playback;
    this.frames.decoded.restart();
    this.frames.dropped.restart();
    this.nativeFreezes.count.restart();
    this.nativeFreezes.durationMs.restart();
    this.bytes = null;
    this.seeded = false;
    this.gapExcused = true;
  }

  /** Stops reporting for good (after a last report). */
  stop(): void {
    if (this.stopped) return;
    this.flush();
    this.stopped = true;
    this.stopTimers();
    if (this.frameCallbackId !== null && typeof this.options.video.cancelVideoFrameCallback === 'function') {
      this.options.video.cancelVideoFrameCallback(this.frameCallbackId);
    }
    document.removeEventListener('visibilitychange', this.onVisibility);
    window.removeEventListener('pagehide', this.onPageHide);
  }

  /** What the last report said / the next one would say from the totals so far (tests, debugging). */
  snapshot(): QoeReport | null {
    return this.compose();
  }

  // ---------------------------------------------------------------- timers

  private startTimers(): void {
    if (this.stopped) return;
    this.reportTimer ??= setInterval(() => void this.send(), this.intervalMs);
    this.watchTimer ??= setInterval(() => this.tick(), WATCH_TICK_MS);
  }

  private stopTimers(): void {
    if (this.reportTimer) clearInterval(this.reportTimer);
    if (this.watchTimer) clearInterval(this.watchTimer);
    this.reportTimer = this.watchTimer = null;
  }

  private readonly onVisibility = (): void => {
    if (document.hidden) {
      // Hidden: nothing is watched; say where things stand and pause.
      this.flush();
      this.stopTimers();
      this.gapExcused = true;
    } else {
      this.gapExcused = true;
      this.startTimers();
    }
  };

  private readonly onPageHide = (): void => this.stop();

  /** Once a second: watching time, and whether a frame gap is excused. */
  private tick(): void {
    const expecting = !document.hidden && this.options.expectFrames();
    if (expecting) this.watchingMs += WATCH_TICK_MS;
    else this.gapExcused = true;
    // A first look at the counters once media plays, so the first report already has a bitrate.
    if (expecting && !this.seeded && !this.sending) {
      this.seeded = true;
      this.sending = true;
      void this.absorb(performance.now()).finally(() => {
        this.sending = false;
      });
    }
  }

  // ---------------------------------------------------------------- frames

  private watchFrames(): void {
    const video = this.options.video;
    if (typeof video.requestVideoFrameCallback !== 'function') return;
    const onFrame = (): void => {
      if (this.stopped) return;
      this.onFrame(performance.now());
      this.frameCallbackId = video.requestVideoFrameCallback(onFrame);
    };
    this.frameCallbackId = video.requestVideoFrameCallback(onFrame);
  }

  private onFrame(now: number): void {
    // Page start (navigation) → first frame on screen.
    if (this.firstFrameMs === null) this.firstFrameMs = now;
    if (this.lastFrameAt !== null && !this.gapExcused && this.options.expectFrames()) {
      const gap = now - this.lastFrameAt;
      if (gap >= FREEZE_MIN_MS) {
        this.gapFreezes.count++;
        this.gapFreezes.durationMs += gap;
      }
    }
    this.lastFrameAt = now;
    this.gapExcused = false;
  }

  // ---------------------------------------------------------------- reports

  /** Takes the playing transport's counters into the totals (false: nothing plays). */
  private async absorb(now: number): Promise<boolean> {
    const playback = this.playback;
    if (!playback || playback.status === 'offline') return false;
    let sample: QoeSample | null;
    try {
      sample = await playback.qoeSample();
    } catch {
      sample = null;
    }
    if (!sample || playback !== this.playback) return false;

    this.frames.decoded.add(sample.framesDecoded);
    this.frames.dropped.add(sample.framesDropped);
    if (sample.freezeCount !== undefined) {
      this.usesNativeFreezes = true;
      this.nativeFreezes.count.add(sample.freezeCount);
      this.nativeFreezes.durationMs.add(sample.freezeDurationMs ?? 0);
    }
    let bitrateBps = sample.bitrateBps;
    if (bitrateBps === undefined && sample.bytesReceived !== undefined) {
      const previous = this.bytes;
      this.bytes = { value: sample.bytesReceived, at: now };
      if (previous && sample.bytesReceived >= previous.value && now - previous.at >= 500) {
        bitrateBps = ((sample.bytesReceived - previous.value) * 8 * 1000) / (now - previous.at);
      }
    }
    this.latest = {
      transport: sample.transport,
      ...(sample.jitterBufferDelayMs !== undefined ? { jitterBufferDelayMs: sample.jitterBufferDelayMs } : {}),
      ...(sample.latencyMs !== undefined ? { latencyMs: sample.latencyMs } : {}),
      ...(bitrateBps !== undefined ? { bitrateBps } : {}),
    };
    return true;
  }

  /** The report from the totals so far (synchronous: usable while the page unloads). */
  private compose(): QoeReport | null {
    const latest = this.latest;
    if (!latest) return null;
    const freezes = this.usesNativeFreezes ? { count: this.nativeFreezes.count.total, durationMs: this.nativeFreezes.durationMs.total } : this.gapFreezes;
    const report: QoeReport = {
      sessionId: this.sessionId,
      transport: latest.transport,
      framesDecoded: Math.round(this.frames.decoded.total),
      framesDropped: Math.round(this.frames.dropped.total),
      freezeCount: Math.round(freezes.count),
      freezeDurationMs: Math.round(freezes.durationMs),
      watchingSeconds: Math.round(this.watchingMs / 1000),
    };
    const finite = (value: number | undefined): value is number => value !== undefined && Number.isFinite(value) && value >= 0;
    if (finite(latest.jitterBufferDelayMs)) report.jitterBufferDelayMs = Math.round(latest.jitterBufferDelayMs);
    if (finite(latest.latencyMs)) report.latencyMs = Math.round(latest.latencyMs);
    if (finite(latest.bitrateBps)) report.bitrateBps = Math.round(latest.bitrateBps);
    if (this.firstFrameMs !== null && !this.firstFrameSent) report.firstFrameMs = Math.round(this.firstFrameMs);
    return report;
  }

  /** Periodic report: fresh counters from the transport, then POST. */
  private async send(): Promise<void> {
    if (this.stopped || this.sending) return;
    this.sending = true;
    try {
      const fresh = await this.absorb(performance.now());
      // stop() may have run during the await (TypeScript keeps the narrowing from before it).

      if (!fresh || this.stopped || performance.now() - this.lastSentAt < MIN_REPORT_SPACING_MS) return;
      this.post();
    } finally {
      this.sending = false;
    }
  }

  /**
   * A last report from the totals so far (hidden/closed page): synchronous,
   * because an unloading page may not get to finish an awaited getStats().
   * Skipped when one went out less than MIN_REPORT_SPACING_MS ago (429).
   */
  private flush(): void {
    if (performance.now() - this.lastSentAt < MIN_REPORT_SPACING_MS) return;
    if (this.playback?.status === 'offline') return;
    this.post();
  }

  private post(): void {
    const report = this.compose();
    if (!report) return;
    this.lastSentAt = performance.now();
    fetch(this.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report),
      // Survives the page being closed.
      keepalive: true,
      cache: 'no-store',
      credentials: 'same-origin',
    })
      .then((response) => {
        // firstFrameMs goes out once: once it has been accepted.
        if (response.ok && report.firstFrameMs !== undefined) this.firstFrameSent = true;
      })
      .catch(() => undefined); // best-effort: a failed report is simply skipped
  }
}
