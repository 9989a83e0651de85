/**
 * The bus messages that cascade a room from its origin node to an edge node
 * over a cross-host PipeTransport pair. Defined once, validated on receipt on
 * both ends (a request by the origin, an answer by the edge).
 *
 * The edge drives: `pipe.open` (its transport's address and SRTP key → the
 * origin's, plus one pipe consumer per program track), then `pipe.sync` every
 * PIPE_SYNC_MS (the origin's current tracks — new ones consumed on the same
 * transport — and proof that the edge still wants the pipe), then `pipe.close`
 * after closing its own side (consumer side first, mediasoup#435). Every
 * request names the room and the origin epoch the edge believes in; the
 * origin refuses an unknown room or another epoch with a PipeError code.
 */
import { z } from 'zod';
import { ROOM_ID_PATTERN, ROOM_ID_RULE } from './roomId.js';

export const PIPE_METHODS = { open: 'pipe.open', sync: 'pipe.sync', close: 'pipe.close' } as const;

/** Bus timeout of every pipe request: a live origin answers in milliseconds. */
export const PIPE_REQUEST_TIMEOUT_MS = 3_000;
/** How often an edge syncs (follows program changes, keeps the pipe alive). */
export const PIPE_SYNC_MS = 1_000;
/** The origin closes a pipe its edge has not synced for this long (the edge died or lost Redis). */
export const PIPE_IDLE_MS = 5_000;

export type PipeErrorCode = 'unknown-room' | 'stale-epoch' | 'unknown-pipe' | 'bad-request';

/** A refusal; its `code` travels back over the bus as BusRemoteError.code. */
export class PipeError extends Error {
  constructor(
    readonly code: PipeErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PipeError';
  }
}

/** One side of a pipe: where it listens and its SRTP key. */
const pipeEndpointSchema = z.strictObject({
  ip: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65_535),
  srtpParameters: z.strictObject({
    cryptoSuite: z.enum(['AEAD_AES_256_GCM', 'AEAD_AES_128_GCM', 'AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32']),
    keyBase64: z.string().min(1).max(256),
  }),
});

/** A program track as piped: the origin pipe consumer's RTP parameters (all simulcast layers). */
const pipedTrackSchema = z.strictObject({
  id: z.string().min(1).max(128),
  kind: z.enum(['audio', 'video']),
  label: z.string().max(128).nullable(),
  paused: z.boolean(),
  // mediasoup validates the rest when the edge produces with it.
  rtpParameters: z.looseObject({ codecs: z.array(z.looseObject({ mimeType: z.string() })).min(1) }),
});

const roomRef = {
  room: z.string().regex(ROOM_ID_PATTERN, ROOM_ID_RULE),
  epoch: z.number().int().positive(),
};

export const pipeOpenRequestSchema = z.strictObject({ ...roomRef, edge: pipeEndpointSchema });
export const pipeOpenAnswerSchema = z.strictObject({ pipeId: z.string().min(1), origin: pipeEndpointSchema, tracks: z.array(pipedTrackSchema) });
export const pipeSyncRequestSchema = z.strictObject({ ...roomRef, pipeId: z.string().min(1).max(128) });
export const pipeSyncAnswerSchema = z.strictObject({ tracks: z.array(pipedTrackSchema) });
export const pipeCloseRequestSchema = pipeSyncRequestSchema;

export type PipeEndpoint = z.infer<typeof pipeEndpointSchema>;
export type PipedTrackDescription = z.infer<typeof pipedTrackSchema>;
export type PipeOpenRequest = z.infer<typeof pipeOpenRequestSchema>;
export type PipeOpenAnswer = z.infer<typeof pipeOpenAnswerSchema>;
export type PipeSyncRequest = z.infer<typeof pipeSyncRequestSchema>;
export type PipeSyncAnswer = z.infer<typeof pipeSyncAnswerSchema>;

/** Parses `value` or throws a PipeError('bad-request') naming the field. */
export function parsePipeMessage<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  throw new PipeError('bad-request', `invalid ${what}: ${issue.path.join('.') || 'value'}: ${issue.message}`);
}
