import type { types as mediasoupTypes } from 'mediasoup-client';

export interface ViewerStats {
  framesDecoded: number;
  framesDropped: number;
  audioPacketsReceived: number;
  audioBytesReceived: number;
  videoPacketsReceived: number;
  videoBytesReceived: number;
  /** Average video jitter-buffer delay, when the browser reports it. */
  jitterBufferDelayMs?: number;
  /** The browser's own video freeze counters (inbound-rtp freezeCount / totalFreezesDuration), when it reports them. */
  freezeCount?: number;
  totalFreezesDurationMs?: number;
}

/** Sums the inbound-rtp entries of a receive transport (all zeros without one). */
export async function receiveStats(transport: mediasoupTypes.Transport | undefined): Promise<ViewerStats> {
  const stats: ViewerStats = {
    framesDecoded: 0,
    framesDropped: 0,
    audioPacketsReceived: 0,
    audioBytesReceived: 0,
    videoPacketsReceived: 0,
    videoBytesReceived: 0,
  };
  if (!transport || transport.closed) return stats;
  const report = await transport.getStats();
  let jitterDelaySeconds = 0;
  let jitterEmitted = 0;
  report.forEach((entry: RTCStats) => {
    if (entry.type !== 'inbound-rtp') return;
    const inbound = entry as RTCInboundRtpStreamStats;
    if (inbound.kind === 'video') {
      stats.framesDecoded += inbound.framesDecoded ?? 0;
      stats.framesDropped += inbound.framesDropped ?? 0;
      stats.videoPacketsReceived += inbound.packetsReceived ?? 0;
      stats.videoBytesReceived += inbound.bytesReceived ?? 0;
      if (inbound.freezeCount !== undefined) stats.freezeCount = (stats.freezeCount ?? 0) + inbound.freezeCount;
      if (inbound.totalFreezesDuration !== undefined) {
        stats.totalFreezesDurationMs = (stats.totalFreezesDurationMs ?? 0) + inbound.totalFreezesDuration * 1000;
      }
      jitterDelaySeconds += inbound.jitterBufferDelay ?? 0;
      jitterEmitted += inbound.jitterBufferEmittedCount ?? 0;
    } else if (inbound.kind === 'audio') {
      stats.audioPacketsReceived += inbound.packetsReceived ?? 0;
      stats.audioBytesReceived += inbound.bytesReceived ?? 0;
    }
  });
  if (jitterEmitted > 0) stats.jitterBufferDelayMs = (jitterDelaySeconds / jitterEmitted) * 1000;
  return stats;
}
