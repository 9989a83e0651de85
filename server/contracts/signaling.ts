/**
 * The signaling contract between the Floodlight server and its clients.
 *
 * Every client → server message is a socket.io event with one payload object
 * and an acknowledgement callback. The server validates the payload against
 * the schema below and always answers through the ack:
 *   { ok: true, data }  or  { ok: false, error: { code, message } }
 *
 * This file is shared by the server and the browser SDK (the SDK imports only
 * types), so both ends agree on names and shapes. docs/protocol.md describes it.
 */
import { z } from 'zod';

/** Room names: short, URL- and path-safe (they name HLS directories later). */
export const roomIdSchema = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'room must be 1-64 characters of A-Z a-z 0-9 _ -');

export const roleSchema = z.enum(['publisher', 'viewer']);
export type Role = z.infer<typeof roleSchema>;

const idSchema = z.string().min(1).max(64);
const tokenSchema = z.string().min(1).max(4096);

// mediasoup's own parameter objects are validated in depth by the worker
// itself; here we bound their size and basic shape so garbage never reaches it.
const looseObject = z.record(z.string(), z.unknown());

const dtlsParametersSchema = z.object({
  role: z.enum(['auto', 'client', 'server']).optional(),
  fingerprints: z
    .array(z.object({ algorithm: z.string().max(32), value: z.string().max(256) }))
    .min(1)
    .max(8),
});

const rtpEncodingSchema = z
  .object({
    rid: z.string().max(32).optional(),
    ssrc: z.number().int().nonnegative().optional(),
    maxBitrate: z.number().positive().optional(),
    scaleResolutionDownBy: z.number().min(1).optional(),
    scalabilityMode: z.string().max(16).optional(),
    active: z.boolean().optional(),
  })
  .passthrough();

const rtpParametersSchema = z
  .object({
    mid: z.string().max(32).optional(),
    codecs: z.array(looseObject).min(1).max(16),
    headerExtensions: z.array(looseObject).max(32).optional(),
    encodings: z.array(rtpEncodingSchema).min(1).max(3),
    rtcp: looseObject.optional(),
  })
  .passthrough();

const rtpCapabilitiesSchema = z
  .object({
    codecs: z.array(looseObject).max(64),
    headerExtensions: z.array(looseObject).max(64).optional(),
  })
  .passthrough();

/** Client → server requests: event name → payload schema. */
export const requestSchemas = {
  join: z.object({
    room: roomIdSchema,
    role: roleSchema,
    token: tokenSchema.optional(),
  }),
  getRouterRtpCapabilities: z.object({}).strict(),
  createTransport: z.object({ direction: z.enum(['send', 'recv']) }).strict(),
  connectTransport: z.object({ transportId: idSchema, dtlsParameters: dtlsParametersSchema }).strict(),
  restartIce: z.object({ transportId: idSchema }).strict(),
  produce: z
    .object({
      transportId: idSchema,
      kind: z.enum(['audio', 'video']),
      rtpParameters: rtpParametersSchema,
      source: z.enum(['camera', 'microphone', 'screen', 'screen-audio']).optional(),
    })
    .strict(),
  closeProducer: z.object({ producerId: idSchema }).strict(),
  pauseProducer: z.object({ producerId: idSchema }).strict(),
  resumeProducer: z.object({ producerId: idSchema }).strict(),
  consume: z.object({ producerId: idSchema, rtpCapabilities: rtpCapabilitiesSchema }).strict(),
  resumeConsumer: z.object({ consumerId: idSchema }).strict(),
  pauseConsumer: z.object({ consumerId: idSchema }).strict(),
  setPreferredLayers: z
    .object({
      consumerId: idSchema,
      spatialLayer: z.number().int().min(0).max(2),
      temporalLayer: z.number().int().min(0).max(2).optional(),
    })
    .strict(),
  leave: z.object({}).strict(),
} as const;

export type RequestName = keyof typeof requestSchemas;
export type RequestPayload<N extends RequestName> = z.infer<(typeof requestSchemas)[N]>;

export type MediaKind = 'audio' | 'video';

export interface ProducerInfo {
  producerId: string;
  kind: MediaKind;
  source?: string;
}

export interface TransportInfo {
  id: string;
  iceParameters: unknown;
  iceCandidates: unknown[];
  dtlsParameters: unknown;
}

/** Successful response data for each request. */
export interface ResponseData {
  join: {
    peerId: string;
    room: string;
    role: Role;
    routerRtpCapabilities: unknown;
    producers: ProducerInfo[];
    viewers: number;
  };
  getRouterRtpCapabilities: { routerRtpCapabilities: unknown };
  createTransport: TransportInfo;
  connectTransport: Record<string, never>;
  restartIce: { iceParameters: unknown };
  produce: { producerId: string };
  closeProducer: Record<string, never>;
  pauseProducer: Record<string, never>;
  resumeProducer: Record<string, never>;
  consume: {
    consumerId: string;
    producerId: string;
    kind: MediaKind;
    rtpParameters: unknown;
    type: string;
    producerPaused: boolean;
  };
  resumeConsumer: Record<string, never>;
  pauseConsumer: Record<string, never>;
  setPreferredLayers: Record<string, never>;
  leave: Record<string, never>;
}

/** Error codes carried in `{ ok: false, error: { code } }`. */
export const errorCodes = [
  'BAD_REQUEST', // payload does not match the schema
  'PAYLOAD_TOO_LARGE', // payload above the per-message size limit
  'UNKNOWN_MESSAGE', // no such request
  'RATE_LIMITED', // too many messages from this connection
  'NOT_JOINED', // request needs a joined room (out of order)
  'ALREADY_JOINED', // join twice on one connection
  'UNAUTHORIZED', // a token is required and none was given
  'TOKEN_INVALID', // forged, malformed or wrongly signed token
  'TOKEN_EXPIRED',
  'TOKEN_WRONG_ROOM', // token names another room
  'FORBIDDEN', // role not allowed to do this (viewer producing, …)
  'NOT_FOUND', // unknown transport / producer / consumer id
  'LIMIT_REACHED', // per-peer limit (transports, producers) reached
  'CANNOT_CONSUME', // capabilities cannot receive this producer
  'ROOM_FULL', // room's WebRTC viewer limit reached
  'NOT_LIVE', // the room has no publisher yet: nothing to receive (no router until then)
  'UNAVAILABLE', // no live worker, or server shutting down
  'INTERNAL', // unexpected server error (logged)
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: ErrorCode; message: string } };

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
}
export type ServerEventName = keyof ServerEvents;

/** Limits the server enforces on every connection. */
export const protocolLimits = {
  /** Largest accepted request payload (serialized JSON bytes). */
  maxPayloadBytes: 64 * 1024,
  /** socket.io's own hard cap; larger frames drop the connection. */
  maxFrameBytes: 1024 * 1024,
  /** Sustained messages per second per connection, and burst size. */
  messagesPerSecond: 50,
  messageBurst: 100,
} as const;
