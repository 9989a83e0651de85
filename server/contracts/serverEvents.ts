/**
 * Server → client events of the signaling protocol (signaling.ts has the
 * requests). No zod here: the browser SDK imports `serverEventNames` at
 * runtime and its bundle must not pull the schemas in.
 */

export type MediaKind = 'audio' | 'video';

export interface ProducerInfo {
  producerId: string;
  kind: MediaKind;
  source?: string;
}

/** Server → client events and their payloads. */
export interface ServerEvents {
  /** A new producer is available in the room (viewers consume it). */
  newProducer: ProducerInfo;
  /** A producer left; the consumer bound to it is closed server-side. */
  producerClosed: { producerId: string };
  consumerClosed: { consumerId: string; producerId: string };
  consumerPaused: { consumerId: string };
  consumerResumed: { consumerId: string };
  /** The simulcast layer actually being forwarded changed. */
  consumerLayersChanged: { consumerId: string; spatialLayer: number | null; temporalLayer: number | null };
  /** Audience figures for the room, sent to everybody in it (throttled). */
  roomStatus: { viewers: number; live: boolean };
  /** The room was closed by the server; do not rejoin automatically. */
  roomClosed: { reason: string };
  /**
   * The server dropped this peer's media state (a worker died, the room was
   * rebuilt, or the server asks clients to move). Rejoin from scratch.
   */
  reconnect: { reason: string };
  /** Another connection took over this publisher seat. */
  kicked: { reason: string };
  /**
   * This node is draining: join the room on `url` (alternates after it), then
   * leave here — media keeps flowing from this node until then.
   */
  move: { url: string; alternates: string[]; reason: string };
}
export type ServerEventName = keyof ServerEvents;

/** Every server → client event name, for clients that subscribe to them all. */
export const serverEventNames = [
  'newProducer',
  'producerClosed',
  'consumerClosed',
  'consumerPaused',
  'consumerResumed',
  'consumerLayersChanged',
  'roomStatus',
  'roomClosed',
  'reconnect',
  'kicked',
  'move',
] as const satisfies readonly ServerEventName[];

// Compile-time completeness: an event added to ServerEvents but not listed above is a type error here.
type UnlistedServerEvent = Exclude<ServerEventName, (typeof serverEventNames)[number]>;
const _everyServerEventListed: [UnlistedServerEvent] extends [never] ? true : UnlistedServerEvent = true;
