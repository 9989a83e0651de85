/**
 * Room events as they travel between nodes (and, on one node, between the
 * rooms and the services that follow them: HLS, stats, alerts). Small and
 * serialisable: ids and counts, never media objects.
 */
import type { SourceEndReason, SourceProtocol, SourceSlot } from '../sources/mediaSource.js';

interface RoomEventBase {
  room: string;
  /** The node the event happened on. */
  node: string;
  at: number;
}

export type RoomEvent = RoomEventBase &
  (
    | { type: 'opened' }
    | { type: 'sourceAdded'; source: string; protocol: SourceProtocol; slot: SourceSlot }
    | { type: 'sourceRemoved'; source: string; reason: SourceEndReason }
    /** What is on air changed; `live` says whether anything is. */
    | { type: 'programChanged'; live: boolean }
    | { type: 'audienceChanged'; viewers: number }
    | { type: 'closed' }
  );

export type RoomEventType = RoomEvent['type'];
