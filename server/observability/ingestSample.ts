/**
 * One sampling pass over a room's ingest: bitrates, loss, jitter, RTT and
 * score of the program's producers, from their getStats() and the counters of
 * the previous pass (which it updates). Pure apart from the observers it feeds.
 */
import type { types as ms } from 'mediasoup';
import type { SamplerObservers } from './statsSampler.js';

export interface ProducerCounters {
  bytes: number;
  packets: number;
  lost: number;
  at: number;
}

export interface IngestSummary {
  videoBps: number;
  audioBps: number;
  /** Video bytes grew since the previous pass. */
  videoGrew: boolean;
  /** A video producer is there and not paused. */
  videoProducing: boolean;
  lost: number;
  expected: number;
  jitterMs: number | null;
  publisherRttMs: number | null;
  codec: string | null;
  score: number | null;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

function codecName(producer: ms.Producer): string | null {
  const mime = producer.rtpParameters.codecs[0]?.mimeType;
  return mime ? (mime.split('/')[1] ?? mime) : null;
}

/** Score of the best layer that is actually arriving (simulcast: usually the top one). */
function activeScore(stats: ms.ProducerStat[]): number | null {
  let best: ms.ProducerStat | undefined;
  for (const s of stats) if (s.bitrate > 0 && (!best || s.bitrate > best.bitrate)) best = s;
  if (best) return best.score;
  return stats.length > 0 ? Math.max(...stats.map((s) => s.score)) : null;
}

export function summarizeIngest(
  producers: readonly ms.Producer[],
  producerStats: readonly ms.ProducerStat[][],
  counters: Map<string, ProducerCounters>,
  at: number,
  mainVideo: ms.Producer | undefined,
  observers: SamplerObservers | undefined,
): IngestSummary {
  let videoBps = 0;
  let audioBps = 0;
  let videoGrew = false;
  let videoProducing = false;
  let lost = 0;
  let expected = 0;
  let jitterMs: number | null = null;
  let publisherRttMs: number | null = null;
  let codec: string | null = null;
  let score: number | null = null;
  const seen = new Set<string>();
  producers.forEach((producer, i) => {
    const stats = producerStats[i] ?? [];
    seen.add(producer.id);
    const bytes = stats.reduce((n, s) => n + s.byteCount, 0);
    const packets = stats.reduce((n, s) => n + s.packetCount, 0);
    const lostNow = stats.reduce((n, s) => n + s.packetsLost, 0);
    const prev = counters.get(producer.id);
    let bps: number;
    if (prev && at > prev.at) {
      bps = (Math.max(0, bytes - prev.bytes) * 8 * 1000) / (at - prev.at);
      const dPackets = Math.max(0, packets - prev.packets);
      const dLost = Math.max(0, lostNow - prev.lost);
      lost += dLost;
      expected += dPackets + dLost;
    } else {
      bps = stats.reduce((n, s) => n + s.bitrate, 0);
    }
    counters.set(producer.id, { bytes, packets, lost: lostNow, at });
    const streamScore = activeScore(stats);
    if (streamScore !== null) observers?.producerScore(streamScore);
    const clockRate = producer.rtpParameters.codecs[0]?.clockRate ?? 90000;
    const main = stats.reduce<ms.ProducerStat | undefined>((best, s) => (!best || s.bitrate > best.bitrate ? s : best), undefined);
    if (main && main.jitter > 0) observers?.ingestJitter(main.jitter / clockRate);
    const rtt = stats.find((s) => (s.roundTripTime ?? 0) > 0)?.roundTripTime;
    if (rtt) {
      observers?.rtt('publisher', rtt / 1000);
      publisherRttMs ??= rtt;
    }
    if (producer.kind === 'video') {
      videoBps += bps;
      if (!producer.paused) videoProducing = true;
      if (!prev ? bytes > 0 : bytes > prev.bytes) videoGrew = true;
      if (producer === mainVideo || (!mainVideo && codec === null)) {
        codec = codecName(producer);
        score = streamScore;
        if (main && clockRate > 0) jitterMs = round1((main.jitter / clockRate) * 1000);
      }
    } else {
      audioBps += bps;
      if (jitterMs === null && main && clockRate > 0 && !mainVideo) jitterMs = round1((main.jitter / clockRate) * 1000);
    }
  });
  for (const id of counters.keys()) if (!seen.has(id)) counters.delete(id);

  return { videoBps, audioBps, videoGrew, videoProducing, lost, expected, jitterMs, publisherRttMs, codec, score };
}
