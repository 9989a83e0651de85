/**
 * Media arrival at each drill viewer, sampled every ~20 ms: the exact arrival
 * time (performance.now()) of every new complete video frame and audio packet
 * batch, so an interruption around a failure is known to the packet, not to
 * the sampling tick. Also notes the sampler's own longest tick (this process
 * hosts every peer: an event-loop stall here shows in every viewer's figures).
 */
import type { HeadlessViewer } from '../../test/helpers/headlessPeer.js';

const SAMPLE_MS = 20;

interface Track {
  frames: number;
  audio: number;
  frameTimes: number[];
  audioTimes: number[];
}

export interface Interruption {
  /** ms: the longest gap between two consecutive complete video frames / audio arrivals in the window. */
  videoGapMs: number | null;
  audioGapMs: number | null;
  /** ms relative to the event: the last frame before the longest video gap, the first one after it. */
  lastFrameBefore: number | null;
  firstFrameAfter: number | null;
}

export class FrameTimeline {
  readonly #tracks: Track[];
  #timer: NodeJS.Timeout | undefined;
  #lastTick = 0;
  /** The longest pause between two sampling ticks (ms). */
  longestTickMs = 0;

  constructor(private readonly viewers: readonly HeadlessViewer[]) {
    this.#tracks = viewers.map((v) => ({ frames: v.stats().video.completeFrames, audio: v.stats().audio.packets, frameTimes: [], audioTimes: [] }));
  }

  start(): void {
    this.#lastTick = performance.now();
    this.#timer ??= setInterval(() => this.#sample(), SAMPLE_MS);
  }

  /** Idempotent. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sample(): void {
    const now = performance.now();
    this.longestTickMs = Math.max(this.longestTickMs, now - this.#lastTick);
    this.#lastTick = now;
    this.viewers.forEach((viewer, i) => {
      const s = viewer.stats();
      const track = this.#tracks[i]!;
      if (s.video.completeFrames > track.frames) track.frameTimes.push(Math.min(now, s.video.lastPacketAt ?? now));
      if (s.audio.packets > track.audio) track.audioTimes.push(Math.min(now, s.audio.lastPacketAt ?? now));
      track.frames = s.video.completeFrames;
      track.audio = s.audio.packets;
    });
  }

  /** Frames viewer `i` received after `since` (performance.now()). */
  framesSince(i: number, since: number): number {
    return this.#tracks[i]!.frameTimes.filter((t) => t > since).length;
  }

  /** The first frame viewer `i` received after `since`, or undefined. */
  firstFrameAfter(i: number, since: number): number | undefined {
    return this.#tracks[i]!.frameTimes.find((t) => t > since);
  }

  /**
   * Viewer `i`'s longest interruption in [from, to] (performance.now()), the
   * frame just before `from` included, so a gap that spans the event counts
   * whole. Times in the answer are relative to `eventAt`.
   */
  interruption(i: number, eventAt: number, from: number, to: number): Interruption {
    const track = this.#tracks[i]!;
    const video = longestGap(track.frameTimes, from, to);
    const audio = longestGap(track.audioTimes, from, to);
    return {
      videoGapMs: video && Math.round(video.end - video.start),
      audioGapMs: audio && Math.round(audio.end - audio.start),
      lastFrameBefore: video && Math.round(video.start - eventAt),
      firstFrameAfter: video && Math.round(video.end - eventAt),
    };
  }
}

function longestGap(times: readonly number[], from: number, to: number): { start: number; end: number } | null {
  const firstInside = times.findIndex((t) => t >= from);
  if (firstInside === -1) return null;
  const within = times.slice(Math.max(0, firstInside - 1)).filter((t) => t <= to);
  let best: { start: number; end: number } | null = null;
  for (let k = 1; k < within.length; k++) {
    if (!best || within[k]! - within[k - 1]! > best.end - best.start) best = { start: within[k - 1]!, end: within[k]! };
  }
  return best;
}
