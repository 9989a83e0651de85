/**
 * The signaling contract between the Floodlight server and its clients.
 *
 * Every client → server message is a socket.io event with one payload object
 * and an acknowledgement callback. The server validates the payload against
 * the schema below and always answers through the ack:
 *   { ok: true, data }  or  { ok: false, error: { code, message } }
 *
 * This file is shared by the server and the browser SDK (the SDK imports only
 * types and the event-name list), so both ends agree on names and shapes.
 * docs/protocol.md describes it.
 */
import type { types as mediasoup } from 'mediasoup-client';
import { z } from 'zod';
import { ROOM_ID_PATTERN, ROOM_ID_RULE } from './roomId.js';
import { REGION_PATTERN } from './joinApi.js';
import type { MediaKind, ProducerInfo } from './serverEvents.js';

// The server's events live in their own zod-free file (the SDK imports their names at runtime).
export { serverEventNames, type MediaKind, type ProducerInfo, type ServerEventName, type ServerEvents } from './serverEvents.js';

/** Room names: short, URL- and path-safe (they name HLS directories later). */
export const roomIdSchema = z.string().regex(ROOM_ID_PATTERN, ROOM_ID_RULE);

export const roleSchema = z.enum(['publisher', 'viewer']);
export type Role = z.infer<typeof roleSchema>;

const idSchema = z.string().min(1).max(64);
const tokenSchema = z.string().min(1).max(4096);

// mediasoup's own parameter objects are validated in depth by the worker
// itself; here we bound their size and basic shape so garbage never reaches it,
// then type them as mediasoup's types (mediasoup-client's: the server's are
// assignable both ways), which is what both ends hand to mediasoup.
const looseObject = z.record(z.string(), z.unknown());

/** What passed `schema`, typed as mediasoup's own T (zod checked the outline; the worker checks the rest). */
function asMediasoup<T>(schema: z.ZodType): z.ZodPipe<z.ZodType, z.ZodType<T>> {
  return schema.pipe(z.custom<T>());
}

const dtlsParametersSchema = asMediasoup<mediasoup.DtlsParameters>(
  z.object({
    role: z.enum(['auto', 'client', 'server']).optional(),
    fingerprints: z
      .array(z.object({ algorithm: z.string().max(32), value: z.string().max(256) }))
      .min(1)
      .max(8),
  }),
);

const mediaKindSchema = z.enum(['audio', 'video']) satisfies z.ZodType<MediaKind>;

/** `audio/opus`, `video/VP8`, `video/rtx`: the type names the media kind. */
const MIME_TYPE_PATTERN = /^(audio|video)\/[A-Za-z0-9.+_-]{1,32}$/;

/** A codec the publisher sends (what the worker would otherwise refuse late, or wrongly accept). */
const rtpCodecSchema = z
  .object({
    mimeType: z.string().regex(MIME_TYPE_PATTERN, 'mimeType must be audio/<codec> or video/<codec>'),
    payloadType: z.number().int().min(0).max(127),
    clockRate: z.number().int().positive(),
    channels: z.number().int().min(1).max(8).optional(),
    parameters: looseObject.optional(),
    rtcpFeedback: z
      .array(z.object({ type: z.string().max(32), parameter: z.string().max(32).optional() }))
      .max(16)
      .optional(),
  })
  .loose();

const rtpEncodingSchema = z
  .object({
    rid: z.string().max(32).optional(),
    ssrc: z.number().int().nonnegative().optional(),
    maxBitrate: z.number().positive().optional(),
    scaleResolutionDownBy: z.number().min(1).optional(),
    scalabilityMode: z.string().max(16).optional(),
    active: z.boolean().optional(),
  })
  .loose();

const rtpParametersSchema = z
  .object({
    mid: z.string().max(32).optional(),
    codecs: z.array(rtpCodecSchema).min(1).max(16),
    headerExtensions: z.array(looseObject).max(32).optional(),
    encodings: z.array(rtpEncodingSchema).min(1).max(3),
    rtcp: looseObject.optional(),
  })
  .loose();

const rtpCapabilitiesSchema = asMediasoup<mediasoup.RtpCapabilities>(
  z
    .object({
      codecs: z.array(looseObject).max(64),
      headerExtensions: z.array(looseObject).max(64).optional(),
    })
    .loose(),
);

/** The codecs' media type must be the producer's kind: viewers are told `kind`, the worker forwards the codecs. */
const produceSchema = asMediasoup<ProducePayload>(
  z
    .object({
      transportId: idSchema,
      kind: mediaKindSchema,
      rtpParameters: rtpParametersSchema,
      source: z.enum(['camera', 'microphone', 'screen', 'screen-audio']).optional(),
    })
    .strict()
    .superRefine(({ kind, rtpParameters }, context) => {
      rtpParameters.codecs.forEach((codec, index) => {
        if (!codec.mimeType.startsWith(`${kind}/`)) {
          context.addIssue({
            code: 'custom',
            path: ['rtpParameters', 'codecs', index, 'mimeType'],
            message: `kind is ${kind} but codec ${codec.mimeType} is not`,
          });
        }
      });
    }),
);

/** What the produce schema accepts, with mediasoup's own type for the parameters. */
interface ProducePayload {
  transportId: string;
  kind: MediaKind;
  rtpParameters: mediasoup.RtpParameters;
  source?: 'camera' | 'microphone' | 'screen' | 'screen-audio' | undefined;
}

/** Client → server requests: event name → payload schema. */
export const requestSchemas = {
  join: z
    .object({
      room: roomIdSchema,
      role: roleSchema,
      token: tokenSchema.optional(),
      /** The client's region hint for cluster placement (a node's REGION label). */
      region: z.string().regex(REGION_PATTERN, 'region must be 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
    })
    .strict(),
  getRouterRtpCapabilities: z.object({}).strict(),
  createTransport: z.object({ direction: z.enum(['send', 'recv']) }).strict(),
  connectTransport: z.object({ transportId: idSchema, dtlsParameters: dtlsParametersSchema }).strict(),
  restartIce: z.object({ transportId: idSchema }).strict(),
  produce: produceSchema,
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

export interface TransportInfo {
  id: string;
  iceParameters: mediasoup.IceParameters;
  iceCandidates: mediasoup.IceCandidate[];
  dtlsParameters: mediasoup.DtlsParameters;
}

export interface JoinAnswer {
  peerId: string;
  room: string;
  role: Role;
  routerRtpCapabilities: mediasoup.RtpCapabilities;
  producers: ProducerInfo[];
  viewers: number;
  /** Other nodes that could take this join, best first: where to rejoin if this node goes away (empty on a single node). */
  alternates: string[];
}

/**
 * In a cluster, the node a client connected to may send it elsewhere instead
 * of joining it (this node is draining, holds its limit of the room's viewers,
 * or the room's origin — where publishers go — is another node). The client
 * connects to `redirect` and joins there; `alternates` are where to go if that
 * node later stops answering. Nothing was joined on this node.
 */
export interface JoinRedirect {
  /** Public base URL of the node to join instead. */
  redirect: string;
  alternates: string[];
  reason: string;
}

export function isJoinRedirect(answer: JoinAnswer | JoinRedirect): answer is JoinRedirect {
  return 'redirect' in answer;
}

/** Successful response data for each request. */
export interface ResponseData {
  join: JoinAnswer | JoinRedirect;
  getRouterRtpCapabilities: { routerRtpCapabilities: mediasoup.RtpCapabilities };
  createTransport: TransportInfo;
  connectTransport: Record<string, never>;
  restartIce: { iceParameters: mediasoup.IceParameters };
  produce: { producerId: string };
  closeProducer: Record<string, never>;
  pauseProducer: Record<string, never>;
  resumeProducer: Record<string, never>;
  consume: {
    consumerId: string;
    producerId: string;
    kind: MediaKind;
    rtpParameters: mediasoup.RtpParameters;
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
  'TOKEN_INVALID', // forged, malformed or wrongly signed token, or without `exp`
  'TOKEN_EXPIRED',
  'TOKEN_WRONG_ROOM', // token names another room
  'FORBIDDEN', // role not allowed to do this (viewer producing, …)
  'NOT_FOUND', // unknown transport / producer / consumer id
  'LIMIT_REACHED', // per-peer limit (transports, producers) reached
  'CANNOT_CONSUME', // capabilities cannot receive this producer
  'CODEC_MISMATCH', // backup ingest: the room's other encoder sends another video codec (the message names it)
  'ROOM_FULL', // room's WebRTC viewer limit reached
  'NOT_LIVE', // the room has no broadcast yet: wait for newProducer
  'UNAVAILABLE', // no live worker, or server shutting down
  'INTERNAL', // unexpected server error (logged)
] as const;
export type ErrorCode = (typeof errorCodes)[number];

export type Ack<T> = { ok: true; data: T } | { ok: false; error: { code: ErrorCode; message: string } };

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
