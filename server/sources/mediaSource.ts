/**
 * A media source: whatever feeds a room — a browser publishing over socket.io
 * signaling today; WHIP, RTMP, SRT and standby backup encoders next. A source
 * owns its producers (on the router the room gave it) and its own lifecycle,
 * and reports its health so that a backup switch can watch it.
 *
 * The room decides which source is on air (its program); a source only says
 * what it has.
 */
import type { types as ms } from 'mediasoup';
import type { SourceHealth } from './sourceHealth.js';

/** 'cascade': the room's program piped from its origin node (this node is an edge). */
export type SourceProtocol = 'webrtc' | 'whip' | 'rtmp' | 'srt' | 'cascade';

/** A room has a primary and a backup slot; the program follows the active one. */
export type SourceSlot = 'primary' | 'backup';

/** Why a source ended; front doors tell their client accordingly. */
export type SourceEndReason =
  | 'left' // its owner went away or stopped
  | 'replaced' // another source took its slot
  | 'media-lost' // the worker holding its producers died
  | 'room-closed'
  | 'failed'; // transport failure, ingest process gave up

export interface SourceTrack {
  readonly kind: ms.MediaKind;
  readonly producer: ms.Producer;
  /** What the track shows: camera, microphone, screen, screen-audio, or the ingest's own label. */
  readonly label: string | undefined;
}

export type MediaSourceEvents = {
  trackAdded: [track: SourceTrack];
  trackRemoved: [track: SourceTrack];
  /** A track was paused or resumed by its owner. */
  trackPaused: [track: SourceTrack, paused: boolean];
  ended: [reason: SourceEndReason];
};

export interface MediaSource {
  readonly id: string;
  readonly protocol: SourceProtocol;
  readonly slot: SourceSlot;
  /** The router its producers live on. */
  readonly router: ms.Router;
  readonly ended: boolean;
  tracks(): readonly SourceTrack[];
  health(): SourceHealth;
  on<K extends keyof MediaSourceEvents>(event: K, listener: (...args: MediaSourceEvents[K]) => void): unknown;
  off<K extends keyof MediaSourceEvents>(event: K, listener: (...args: MediaSourceEvents[K]) => void): unknown;
  /** Closes its transports and producers. Idempotent; emits `ended` once. */
  end(reason: SourceEndReason): void;
}
