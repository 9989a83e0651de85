/**
 * The bus messages that place a room's HLS recorder on another node (an `hls`
 * node, issue 10) and find it again. Defined once, validated on receipt.
 *
 * The origin drives: `hls.record` every RECORD_RENEW_MS to each node that
 * should record the room (the first one opens the room there as an edge of
 * the origin and starts the recorder; later ones renew the assignment), and
 * `hls.release` when it no longer should. A node that hears nothing for
 * RECORD_EXPIRE_MS drops the assignment by itself (the origin died).
 * Any node asks the origin `hls.recorders` to find where a room is recorded
 * (the /hls proxy forwards there).
 *
 * Redundant origins (issue 12): `hls.record` also says the node's rank. The
 * leader (the first recorder) serves its own packager's output; a follower
 * serves a byte-for-byte mirror of the leader's (server/hls/mirror/) and
 * takes over when the leader is gone.
 */
import { z } from 'zod';
import { ROOM_ID_PATTERN, ROOM_ID_RULE } from '../contracts/roomId.js';

export const HLS_RECORDER_METHODS = { record: 'hls.record', release: 'hls.release', recorders: 'hls.recorders' } as const;

/** How often the origin renews each assignment. */
export const RECORD_RENEW_MS = 1_000;
/** An assignment not renewed for this long is dropped by the recording node. */
export const RECORD_EXPIRE_MS = 5_000;
/** Bus timeout of these requests: the first `hls.record` opens a cascade pipe, which takes a moment. */
export const RECORD_REQUEST_TIMEOUT_MS = 4_000;

const roomRequestSchema = z.strictObject({ room: z.string().regex(ROOM_ID_PATTERN, ROOM_ID_RULE) });
export type HlsRoomRequest = z.infer<typeof roomRequestSchema>;

const nodeIdSchema = z.string().min(1).max(64);

/** `hls.record`: the room, this recorder's rank, and the leader's node id (this node's own when it leads). */
const recordRequestSchema = z.strictObject({
  room: z.string().regex(ROOM_ID_PATTERN, ROOM_ID_RULE),
  rank: z.enum(['leader', 'follower']),
  leader: nodeIdSchema,
});
export type HlsRecordRequest = z.infer<typeof recordRequestSchema>;
export type RecorderRank = HlsRecordRequest['rank'];

const recordersAnswerSchema = z.strictObject({ nodes: z.array(nodeIdSchema).max(8) });
export type HlsRecordersAnswer = z.infer<typeof recordersAnswerSchema>;

/** A request's payload, or a TypeError naming what is wrong (sent back over the bus). */
export function parseHlsRoomRequest(payload: unknown): HlsRoomRequest {
  const parsed = roomRequestSchema.safeParse(payload);
  if (!parsed.success) throw new TypeError(`bad HLS recorder request: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

export function parseHlsRecordRequest(payload: unknown): HlsRecordRequest {
  const parsed = recordRequestSchema.safeParse(payload);
  if (!parsed.success) throw new TypeError(`bad HLS record request: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}

export function parseHlsRecordersAnswer(payload: unknown): HlsRecordersAnswer {
  const parsed = recordersAnswerSchema.safeParse(payload);
  if (!parsed.success) throw new TypeError(`bad HLS recorders answer: ${parsed.error.issues[0]!.message}`);
  return parsed.data;
}
