/**
 * The `ingest` field of a room's stats: one IngestHealth per source in its
 * slots. RTMP/SRT sources know their encoder (probe, ffmpeg); any other
 * source (WHIP, a browser, a cascade) is described from its producers.
 */
import type { types as ms } from 'mediasoup';
import { MAX_GOOD_KEY_FRAME_INTERVAL_MS, type IngestHealth } from '../contracts/ingestHealth.js';
import type { MediaSource } from '../sources/mediaSource.js';
import { FfmpegIngestSource } from '../sources/ffmpegIngestSource.js';

export async function describeIngests(sources: readonly MediaSource[]): Promise<IngestHealth[]> {
  const ordered = [...sources].sort((a, b) => Number(a.slot === 'backup') - Number(b.slot === 'backup'));
  return Promise.all(ordered.map((source) => (source instanceof FfmpegIngestSource ? Promise.resolve(source.ingestHealth()) : describeWebRtcSource(source))));
}

/** A WebRTC source: its media is forwarded untouched, so codec, bitrate, key frames and loss are what its producers see. */
async function describeWebRtcSource(source: MediaSource): Promise<IngestHealth> {
  const tracks = source.tracks();
  const video = tracks.find((t) => t.kind === 'video')?.producer;
  const audio = tracks.find((t) => t.kind === 'audio')?.producer;
  const health = source.health();
  let received = 0;
  let lost = 0;
  for (const track of tracks) {
    const stats = await track.producer.getStats().catch(() => [] as ms.ProducerStat[]);
    for (const stat of stats) {
      received += stat.packetCount;
      lost += stat.packetsLost;
    }
  }
  const warnings: string[] = [];
  if (health.keyFrameIntervalMs !== null && health.keyFrameIntervalMs > MAX_GOOD_KEY_FRAME_INTERVAL_MS)
    warnings.push(`key frames every ${(health.keyFrameIntervalMs / 1000).toFixed(1)} s: set the encoder's key-frame interval to 1–2 s`);
  return {
    sourceId: source.id,
    protocol: source.protocol,
    slot: source.slot,
    remoteAddress: null,
    since: null,
    video: video
      ? { codec: codecName(video), profile: null, width: null, height: null, fps: null, bFrames: null, handling: 'passthrough', reason: null }
      : null,
    audio: audio ? { codec: codecName(audio), handling: 'passthrough' } : null,
    bitrateBps: health.bitrateBps,
    keyFrameIntervalMs: health.keyFrameIntervalMs,
    packetLossPercent: received + lost > 0 ? Math.round((lost / (received + lost)) * 1000) / 10 : null,
    cpuPercent: null,
    warnings,
  };
}

function codecName(producer: ms.Producer): string | null {
  const mime = producer.rtpParameters.codecs[0]?.mimeType;
  return mime ? (mime.split('/')[1] ?? mime) : null;
}
