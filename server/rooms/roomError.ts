/**
 * Errors of the media domain (rooms, sources, viewers). They carry a kind, not a
 * wire code: each front door maps kinds to its own protocol (socket.io error
 * codes in signaling/, HTTP statuses for WHIP/WHEP).
 */
export type RoomErrorKind =
  | 'bad-request' // the request contradicts itself or the media it describes
  | 'not-joined' // the caller is not (or no longer) in the room
  | 'forbidden' // the caller's role may not do this
  | 'not-found' // unknown transport / track / consumer
  | 'limit-reached' // a per-participant or per-address quota is used up
  | 'slot-busy' // a source slot is taken and the policy is not to replace it
  | 'cannot-consume' // the receiver's capabilities cannot take this track
  | 'room-full' // the room's WebRTC viewer cap is reached
  | 'not-live' // the room has no broadcast (yet)
  | 'unavailable'; // no worker, room closing, server shutting down

export class RoomError extends Error {
  constructor(
    readonly kind: RoomErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'RoomError';
  }
}
