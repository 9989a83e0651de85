/**
 * Which transport the watch page uses, and when it gives up on WebRTC.
 *
 *   ?transport=webrtc  WebRTC only (no fallback: errors are shown as before)
 *   ?transport=hls     LL-HLS only
 *   (none)             WebRTC first; LL-HLS by itself when WebRTC
 *                        (a) shows no frame within CONNECT_TIMEOUT_MS of starting
 *                            (or of the room going live), or before that, at once,
 *                            when a connection attempt fails (the Viewer's 'retry':
 *                            a signal, so a blocked WebRTC costs one attempt, not the timeout),
 *                        (b) stops showing frames for MEDIA_LOSS_MS while the room is live,
 *                        (c) is refused with ROOM_FULL (the room's WebRTC viewer limit),
 *                        (d) is not supported by the browser (UNSUPPORTED).
 *                      After (c) a SeatProbe tries to join over WebRTC every
 *                      SEAT_PROBE_INTERVAL_MS and switches back when a seat is free.
 *                      After (a)/(b)/(d) the page stays on HLS.
 *
 * The clocks pause while the room is offline, the broadcaster has paused
 * their video, or the tab is hidden (browsers stop presenting frames there).
 * No fallback happens when the server has HLS disabled or the browser cannot
 * play HLS.
 */
import { Viewer } from '../sdk/viewer';
import type { FloodlightError } from '../sdk/errors';
import type { RenderMonitor } from './renderMonitor';
import type { WebRtcPlayback } from './webrtcPlayback';

export type TransportPreference = 'auto' | 'webrtc' | 'hls';

export function transportPreference(value: string | null): TransportPreference {
  return value === 'webrtc' || value === 'hls' ? value : 'auto';
}

export const CONNECT_TIMEOUT_MS = 5_000;
export const MEDIA_LOSS_MS = 4_000;
export const WATCHDOG_CHECK_MS = 250;
export const SEAT_PROBE_INTERVAL_MS = 60_000;
/** A probe join that neither succeeds nor fails within this is abandoned. */
const SEAT_PROBE_TIMEOUT_MS = 10_000;

export type FallbackReason = 'connect-timeout' | 'connect-failed' | 'media-lost' | 'room-full' | 'unsupported';

/** What the watchdog gives up for. */
export type WatchdogReason = 'connect-timeout' | 'connect-failed' | 'media-lost';

/** Short explanation shown next to "Live" while on HLS. */
export const FALLBACK_REASON_TEXT: Record<FallbackReason, string> = {
  'connect-timeout': 'real-time connection failed',
  'connect-failed': 'real-time connection failed',
  'media-lost': 'real-time connection lost',
  'room-full': 'real-time seats are full',
  unsupported: 'no WebRTC in this browser',
};

/** Fatal WebRTC errors that HLS can work around. */
export function fallbackReasonForError(error: FloodlightError): FallbackReason | null {
  if (error.code === 'ROOM_FULL') return 'room-full';
  if (error.code === 'UNSUPPORTED') return 'unsupported';
  return null;
}

/** Whether this browser could play HLS (MediaSource for hls.js, or native HLS), without loading hls.js. */
export function browserCanPlayHls(video: HTMLVideoElement): boolean {
  const scope = window as unknown as Record<string, unknown>;
  return (
    typeof scope['MediaSource'] === 'function' || typeof scope['ManagedMediaSource'] === 'function' || video.canPlayType('application/vnd.apple.mpegurl') !== ''
  );
}

/**
 * Watches a WebRTC playback and calls `onGiveUp` once (rules (a) and (b)
 * above). Judges by frames actually presented (RenderMonitor), not by
 * connection states: a "connected" transport that delivers nothing counts as
 * failed.
 */
export class WebRtcWatchdog {
  /** Start of the current period in which frames are expected. */
  private since = performance.now();
  private everRendered = false;
  private done = false;
  private readonly timer: ReturnType<typeof setInterval>;
  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly playback: WebRtcPlayback,
    private readonly monitor: RenderMonitor,
    private readonly onGiveUp: (reason: WatchdogReason) => void,
  ) {
    this.unsubscribe = [
      playback.viewer.on('retry', () => {
        // Frames never came and the attempt failed: waiting out the timeout would not help.
        if (!this.everRendered && !this.monitor.rendering && playback.status !== 'offline' && !document.hidden) this.giveUp('connect-failed');
      }),
      playback.on('status', (status) => {
        if (status === 'offline') this.restartClock();
      }),
      playback.on('sourceChanged', () => this.restartClock()),
    ];
    document.addEventListener('visibilitychange', this.restartClock);
    this.timer = setInterval(() => this.check(), WATCHDOG_CHECK_MS);
  }

  close(): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    document.removeEventListener('visibilitychange', this.restartClock);
  }

  private readonly restartClock = (): void => {
    this.since = performance.now();
  };

  private check(): void {
    if (this.done) return;
    const playback = this.playback;
    // Nothing to expect: the room is offline, the broadcaster paused video, or the tab is hidden.
    if (playback.status === 'offline' || playback.videoPaused || document.hidden) {
      this.restartClock();
      return;
    }
    if (this.monitor.rendering) this.everRendered = true;
    const waited = performance.now() - this.since;
    const sinceFrame = this.monitor.msSinceLastFrame();
    if (!this.monitor.rendering) {
      if (waited >= CONNECT_TIMEOUT_MS) this.giveUp(this.everRendered ? 'media-lost' : 'connect-timeout');
    } else if (sinceFrame >= MEDIA_LOSS_MS && waited >= MEDIA_LOSS_MS) {
      this.giveUp('media-lost');
    }
  }

  private giveUp(reason: WatchdogReason): void {
    this.close();
    this.onGiveUp(reason);
  }
}

/**
 * While on HLS because the room was full: now and then try to join over
 * WebRTC in the background. A refused join (ROOM_FULL) costs one signaling
 * round trip and is invisible; an accepted one hands the joined Viewer to
 * `onSeat` (the page adopts it, so the seat is not lost in between).
 */
export class SeatProbe {
  private timer: ReturnType<typeof setTimeout> | null = null;
  private probing: Viewer | null = null;
  private stopped = false;

  constructor(
    private readonly options: { room: string; token?: string },
    private readonly onSeat: (viewer: Viewer) => void,
    private readonly intervalMs = SEAT_PROBE_INTERVAL_MS,
  ) {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.probing?.close();
    this.probing = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.probe(), this.intervalMs);
  }

  private async probe(): Promise<void> {
    this.timer = null;
    if (this.stopped) return;
    if (document.hidden) {
      this.schedule();
      return;
    }
    const viewer = new Viewer({ room: this.options.room, ...(this.options.token ? { token: this.options.token } : {}) });
    this.probing = viewer;
    let timeout: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        viewer.start(),
        new Promise<never>((_, reject) => (timeout = setTimeout(() => reject(new Error('probe timed out')), SEAT_PROBE_TIMEOUT_MS))),
      ]);
    } catch {
      viewer.close();
      this.probing = null;
      this.schedule();
      return;
    } finally {
      clearTimeout(timeout);
    }
    this.probing = null;

    if (this.stopped || viewer.state === 'closed') {
      viewer.close();
      this.schedule();
      return;
    }
    this.stopped = true;
    this.onSeat(viewer);
  }
}
