/**
 * What a room tells the participants it holds, in domain terms. A front door
 * (socket.io signaling, WHEP…) turns these into its own wire messages.
 */
import type { types as ms } from 'mediasoup';

export interface TrackInfo {
  /** Stable id of the program track (what a viewer consumes). */
  trackId: string;
  kind: ms.MediaKind;
  label: string | undefined;
}

export type RoomNotice =
  | { type: 'trackAdded'; track: TrackInfo }
  | { type: 'trackRemoved'; trackId: string }
  | { type: 'consumerClosed'; consumerId: string; trackId: string }
  | { type: 'consumerPaused'; consumerId: string }
  | { type: 'consumerResumed'; consumerId: string }
  | { type: 'consumerLayers'; consumerId: string; spatialLayer: number | null; temporalLayer: number | null }
  | { type: 'status'; viewers: number; live: boolean };

/** Why the room dropped a participant. */
export type Eviction =
  /** Its media state is gone (worker died, room rebuilt): rejoin from scratch. */
  | { kind: 'reconnect'; reason: string }
  /** Another publisher took its seat. */
  | { kind: 'kicked'; reason: string }
  /** The room closed; don't come back on your own. */
  | { kind: 'roomClosed'; reason: string };

/** How the room reaches one participant. */
export interface ParticipantLink {
  notify(notice: RoomNotice): void;
  /** Called once when the room removes the participant for a reason other than its own leave. */
  evicted(eviction: Eviction): void;
}
