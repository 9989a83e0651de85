import type { FloodlightError } from '../sdk/errors';
import type { TypedEmitter } from '../sdk/typedEmitter';
import type { Quality } from '../sdk/viewer';

/**
 * A way of getting the room's media into a <video>: WebRTC (sub-second, the
 * default) or LL-HLS (full rooms, networks or browsers where WebRTC fails).
 * The watch page only talks to this interface; `transportSelector.ts` decides
 * which one runs.
 */
export type PlaybackTransportName = 'webrtc' | 'hls';

/**
 * What the transport knows (frame rendering is judged by the page):
 *   connecting   – setting up / waiting for media
 *   live         – media is being delivered
 *   offline      – the room has nothing live
 *   reconnecting – delivery interrupted, recovering by itself
 */
export type PlaybackStatus = 'connecting' | 'live' | 'offline' | 'reconnecting';

export type PlaybackEvents = {
  status: PlaybackStatus;
  /** The transport gave up; the page may try another transport. */
  fatal: FloodlightError;
  /** Transient problem worth showing ("retrying…"). */
  notice: string;
  viewers: number;
  /** Human label of what is delivered now, e.g. "720p layer" (null when unknown). */
  qualityLabel: string | null;
  /** The browser refused to start playback without a user gesture: show a Play button. */
  autoplayBlocked: null;
  /** A new source was attached to the element (frame detection restarts). */
  sourceChanged: { hasVideo: boolean };
};

/**
 * What a transport knows about the quality of what it delivers, for the QoE
 * reporter (qoeReporter.ts). Counters are cumulative for this transport but
 * may restart from 0 (a WebRTC rejoin, hls.js re-attaching the element): the
 * reporter accumulates deltas and treats a decrease as a restart.
 */
export interface QoeSample {
  transport: PlaybackTransportName;
  framesDecoded: number;
  framesDropped: number;
  /** Freezes/stalls as the transport measures them; undefined: the reporter detects freezes from rendered frames. */
  freezeCount?: number;
  freezeDurationMs?: number;
  /** Media bytes received (WebRTC): the reporter derives the bitrate. */
  bytesReceived?: number;
  /** Bitrate of what plays, when the transport knows it directly (HLS: the rendition's). */
  bitrateBps?: number;
  jitterBufferDelayMs?: number;
  /** Playhead behind the live edge (HLS). */
  latencyMs?: number;
}

export interface Playback extends Pick<TypedEmitter<PlaybackEvents>, 'on' | 'off' | 'once'> {
  readonly transport: PlaybackTransportName;
  readonly status: PlaybackStatus;
  /** Starts delivery into the element given at construction. Rejects on a fatal error. */
  start(): Promise<void>;
  setQuality(quality: Quality): void;
  /** Seconds the playhead is behind the live edge, when the transport can tell (null: unknown). */
  latency(): number | null;
  /** Quality counters for the QoE reporter (null when nothing is delivered right now). */
  qoeSample(): Promise<QoeSample | null>;
  /** Stops delivery and detaches from the element. Idempotent; no events after it. */
  close(): void;
  /** What tests and debugging get as window.floodlight. */
  debugHandle(): Record<string, unknown>;
}
