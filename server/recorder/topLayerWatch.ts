/**
 * Keeps the recorder's video consumer on the publisher's best simulcast layer.
 *
 * The consumer prefers the top layer from the start, but mediasoup re-evaluates
 * its layers only on events (a producer stream's score changing, its first
 * sender report, resume). At go-live the top layer typically starts flowing
 * while the recorder's consumer is still paused (ffmpeg starting), so those
 * events pass unseen and the consumer can sit on the middle layer for many
 * seconds (seen: 9 s, with the 720p layer flowing all along) — the HLS ladder
 * then starts at 360p. Once a second, while the consumer is below a layer the
 * publisher is really sending, this asks again: its preferred layers set down
 * and back up (mediasoup re-evaluates only on a change, and asks the publisher
 * for a key frame of a new target layer).
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';

const CHECK_EVERY_MS = 1_000;

/** The highest spatial layer the producer is sending now (a stream with a score and a bitrate), if any. */
export async function topSendingLayer(producer: ms.Producer): Promise<number | undefined> {
  const stats = await producer.getStats();
  const encodings = producer.rtpParameters.encodings ?? [];
  let top: number | undefined;
  for (const stat of stats) {
    if (stat.type !== 'inbound-rtp' || stat.kind !== 'video' || stat.score <= 0 || stat.bitrate <= 0) continue;
    const index = stat.rid !== undefined ? encodings.findIndex((e) => e.rid === stat.rid) : encodings.findIndex((e) => e.ssrc === stat.ssrc);
    if (index >= 0) top = Math.max(top ?? 0, index);
  }
  return top;
}

export interface TopLayerWatchOptions {
  producer: ms.Producer;
  /** The recorder's current video consumer (a re-plan replaces it). */
  consumer: () => ms.Consumer | undefined;
  /** The layer the recorder prefers: the publisher's declared top. */
  preferredSpatialLayer: number;
  log: Logger;
}

export class TopLayerWatch {
  readonly #options: TopLayerWatchOptions;
  readonly #timer: NodeJS.Timeout;
  #checking = false;
  #closed = false;
  #nudges = 0;

  constructor(options: TopLayerWatchOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.#check(), CHECK_EVERY_MS);
    this.#timer.unref();
  }

  /** How many times it had to ask. */
  get nudges(): number {
    return this.#nudges;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
  }

  async #check(): Promise<void> {
    const { producer, preferredSpatialLayer, log } = this.#options;
    const consumer = this.#options.consumer();
    if (this.#checking || this.#closed || !consumer || consumer.closed || consumer.paused || producer.closed) return;
    const current = consumer.currentLayers?.spatialLayer;
    if (current === undefined || current >= preferredSpatialLayer) return;
    this.#checking = true;
    try {
      const sending = await topSendingLayer(producer);
      if (this.#closed || consumer.closed || sending === undefined || sending <= current) return;
      this.#nudges++;
      log.info({ current, sending, nudges: this.#nudges }, 'recorder below the layer the publisher sends: asking for it again');
      // No key frame request of its own: a new target layer makes mediasoup ask for one, and an
      // extra request would land next to a passthrough recording's GOP tick (segments 1.5 s long).
      await consumer.setPreferredLayers({ spatialLayer: current, temporalLayer: 2 });
      await consumer.setPreferredLayers({ spatialLayer: preferredSpatialLayer, temporalLayer: 2 });
    } catch {
      // Closed meanwhile: the next tick, if any, looks again.
    } finally {
      this.#checking = false;
    }
  }
}
