/**
 * The health of a room's ingests (WHIP, RTMP, SRT, a browser): what the
 * encoder sends, what the server does with it (copy or re-encode, at what CPU
 * cost) and the warnings an operator should act on. Served as the `ingest`
 * field of GET /api/rooms/:room/stats and shown on the dashboard's room detail.
 */

export type IngestProtocol = 'webrtc' | 'whip' | 'rtmp' | 'srt' | 'cascade';

/**
 * copy: forwarded as the encoder made it; transcode: re-encoded by the server
 * (H.264 with B-frames, HEVC; AAC → Opus); passthrough: WebRTC media, untouched.
 */
export type IngestHandling = 'copy' | 'transcode' | 'passthrough';

export interface IngestVideoHealth {
  codec: string | null;
  /** e.g. "High", "Main", "Constrained Baseline". */
  profile: string | null;
  width: number | null;
  height: number | null;
  fps: number | null;
  /** The encoder sends B-frames (null: not known, e.g. WebRTC where they cannot occur). */
  bFrames: boolean | null;
  handling: IngestHandling;
  /** Why it is handled so (e.g. "B-frames: browsers' WebRTC decoders show them out of order"). */
  reason: string | null;
}

export interface IngestAudioHealth {
  codec: string | null;
  handling: IngestHandling;
}

export interface IngestHealth {
  sourceId: string;
  protocol: IngestProtocol;
  slot: 'primary' | 'backup';
  /** The encoder's address (RTMP/SRT), null where not known. */
  remoteAddress: string | null;
  /** ISO time the ingest started; null where not recorded (WebRTC sources). */
  since: string | null;
  video: IngestVideoHealth | null;
  audio: IngestAudioHealth | null;
  /** What the encoder sends, bits/s (RTMP/SRT: its stream's bytes; WebRTC: its RTP). */
  bitrateBps: number;
  /** Between the last two key frames viewers received, ms; null until two were seen. */
  keyFrameIntervalMs: number | null;
  /** Packets lost on the way in, percent (SRT: before its retransmissions recovered them); null where not measured. */
  packetLossPercent: number | null;
  /** CPU the server spends on this ingest's ffmpeg, percent of one core; null without one. */
  cpuPercent: number | null;
  /** Settings that hurt viewers, in words an operator can act on. */
  warnings: string[];
}

/** The field GET /api/rooms/:room/stats adds to RoomStats (contracts/adminApi.ts). */
export interface RoomIngestStats {
  /** Every ingest of the room, primary first. */
  ingest: IngestHealth[];
}

/** Key frames further apart than this make joining viewers (and a backup switch) wait: warned about. */
export const MAX_GOOD_KEY_FRAME_INTERVAL_MS = 2_000;
