/**
 * Backup ingest keeps one video codec per room: the program relay's video
 * track carries one codec (viewers negotiated it), so a switch between two
 * encoders of different codecs would end that track and make every viewer
 * renegotiate. So a source joining a slot must send the video codec of the
 * encoder already in the other slot:
 *   - an RTMP/SRT ingest is re-encoded to it (ffmpeg can make VP8 or H.264);
 *   - a WHIP encoder is given it if its offer has it, and refused with 422
 *     (problem+json naming the codec to send) if not.
 * The first encoder in a room chooses freely.
 */
import type { Room } from '../rooms/room.js';
import type { SourceSlot } from '../sources/mediaSource.js';

export interface RequiredVideoCodec {
  /** As the router names it: 'video/VP8', 'video/H264'. */
  mimeType: string;
  /** Whose codec it is, for error messages: "the primary encoder (rtmp)". */
  from: string;
}

/** The video codec a new source in `slot` of `room` must send; undefined: any. */
export function requiredVideoCodec(room: Room | undefined, slot: SourceSlot): RequiredVideoCodec | undefined {
  for (const other of room?.sources() ?? []) {
    if (other.slot === slot || other.ended) continue;
    const mimeType = other.tracks().find((t) => t.kind === 'video' && !t.producer.closed)?.producer.rtpParameters.codecs[0]?.mimeType;
    if (mimeType) return { mimeType, from: `the ${other.slot} encoder (${other.protocol})` };
  }
  return undefined;
}

/** 'VP8' from 'video/VP8'. */
export const codecName = (mimeType: string): string => mimeType.replace(/^video\//i, '');
