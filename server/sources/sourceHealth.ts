/**
 * A source's health, as a backup switch or an operator needs it: when media
 * last arrived, at what bitrate, and how often key frames come. Measured, not
 * declared: producers' byte counters are polled (a cheap worker call per
 * track) and key frames come from the producers' `keyframe` trace events.
 */
import type { types as ms } from 'mediasoup';
import type { SourceTrack } from './mediaSource.js';

export interface SourceHealth {
  /** When the last video packet arrived (ms since epoch); null before any. */
  lastVideoPacketAt: number | null;
  /** When the last packet of any kind arrived; null before any. */
  lastPacketAt: number | null;
  /** Video + audio bitrate over the last poll interval, bits/s. */
  bitrateBps: number;
  /** Time between the last two key frames, ms; null until two were seen (or while not traced). */
  keyFrameIntervalMs: number | null;
  lastKeyFrameAt: number | null;
}

interface Watched {
  track: SourceTrack;
  bytes: number;
  packets: number;
  onTrace: (event: ms.ProducerTraceEventData) => void;
}

export interface SourceHealthTrackerOptions {
  /** How often byte counters are polled, ms. Default 250 (stalls are judged at ≥ 300 ms). */
  pollIntervalMs?: number;
  /**
   * Measure the key-frame interval from the producers' 'keyframe' trace events. Off by
   * default: mediasoup's enableTraceEvent() replaces a producer's whole set of traced
   * types, so turning it on silences whatever else traces the producer (drills,
   * benchmarks). Sources that own their producers' tracing (encoder ingests, where the
   * GOP matters) turn it on; a browser makes key frames when asked, so its interval
   * says little.
   */
  traceKeyFrames?: boolean;
  now?: () => number;
}

export class SourceHealthTracker {
  readonly #watched = new Map<string, Watched>();
  readonly #now: () => number;
  readonly #timer: NodeJS.Timeout;
  readonly #traceKeyFrames: boolean;
  #health: SourceHealth = { lastVideoPacketAt: null, lastPacketAt: null, bitrateBps: 0, keyFrameIntervalMs: null, lastKeyFrameAt: null };
  #lastPollAt: number;
  #polling = false;
  #closed = false;

  constructor(options: SourceHealthTrackerOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#traceKeyFrames = options.traceKeyFrames ?? false;
    this.#lastPollAt = this.#now();
    this.#timer = setInterval(() => void this.#poll(), options.pollIntervalMs ?? 250);
    this.#timer.unref();
  }

  health(): SourceHealth {
    return { ...this.#health };
  }

  watch(track: SourceTrack): void {
    if (this.#closed || this.#watched.has(track.producer.id)) return;
    const onTrace = (event: ms.ProducerTraceEventData): void => {
      if (event.type !== 'keyframe') return;
      const at = this.#now();
      const previous = this.#health.lastKeyFrameAt;
      // Simulcast layers each send key frames; count one per burst.
      if (previous !== null && at - previous < 50) return;
      if (previous !== null) this.#health.keyFrameIntervalMs = at - previous;
      this.#health.lastKeyFrameAt = at;
    };
    this.#watched.set(track.producer.id, { track, bytes: 0, packets: 0, onTrace });
    if (track.kind === 'video') {
      // Listening is free: key frames traced by anyone are counted.
      track.producer.on('trace', onTrace);
      if (this.#traceKeyFrames) track.producer.enableTraceEvent(['keyframe']).catch(() => undefined);
    }
  }

  unwatch(producerId: string): void {
    const watched = this.#watched.get(producerId);
    if (!watched) return;
    watched.track.producer.off('trace', watched.onTrace);
    this.#watched.delete(producerId);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const id of [...this.#watched.keys()]) this.unwatch(id);
  }

  async #poll(): Promise<void> {
    if (this.#polling || this.#closed) return;
    this.#polling = true;
    try {
      const now = this.#now();
      let bytesDelta = 0;
      await Promise.all(
        [...this.#watched.values()].map(async (watched) => {
          if (watched.track.producer.closed) return;
          const stats = await watched.track.producer.getStats().catch(() => [] as ms.ProducerStat[]);
          const bytes = stats.reduce((n, s) => n + s.byteCount, 0);
          const packets = stats.reduce((n, s) => n + s.packetCount, 0);
          if (packets > watched.packets) {
            this.#health.lastPacketAt = now;
            if (watched.track.kind === 'video') this.#health.lastVideoPacketAt = now;
          }
          bytesDelta += Math.max(0, bytes - watched.bytes);
          watched.bytes = bytes;
          watched.packets = packets;
        }),
      );
      const seconds = (now - this.#lastPollAt) / 1000;
      if (seconds > 0) this.#health.bitrateBps = Math.round((bytesDelta * 8) / seconds);
      this.#lastPollAt = now;
    } finally {
      this.#polling = false;
    }
  }
}
