/**
 * Domain → wire: the one place where RoomError kinds become socket.io error
 * codes and RoomNotices become server events of the signaling contract.
 */
import { TokenError } from '../auth/tokens.js';
import type { ErrorCode, ServerEventName, ServerEvents } from '../contracts/signaling.js';
import { RoomError, type RoomErrorKind } from '../rooms/roomError.js';
import type { RoomNotice } from '../rooms/roomNotices.js';

const codeOfKind: Record<RoomErrorKind, ErrorCode> = {
  'bad-request': 'BAD_REQUEST',
  'not-joined': 'NOT_JOINED',
  forbidden: 'FORBIDDEN',
  'not-found': 'NOT_FOUND',
  'limit-reached': 'LIMIT_REACHED',
  // Signaling publishers always take over their slot; a refusal would be a quota.
  'slot-busy': 'LIMIT_REACHED',
  'cannot-consume': 'CANNOT_CONSUME',
  'room-full': 'ROOM_FULL',
  'not-live': 'NOT_LIVE',
  unavailable: 'UNAVAILABLE',
};

/** An error answered to the client as `{ ok: false, error: { code, message } }`. */
export class SignalingError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'SignalingError';
  }
}

/** The wire error for a thrown value, or undefined for an unexpected one (answered INTERNAL, logged). */
export function wireError(error: unknown): { code: ErrorCode; message: string } | undefined {
  if (error instanceof SignalingError || error instanceof TokenError) return { code: error.code, message: error.message };
  if (error instanceof RoomError) return { code: codeOfKind[error.kind], message: error.message };
  return undefined;
}

type WireEvent = { [E in ServerEventName]: [E, ServerEvents[E]] }[ServerEventName];

export function wireEvent(notice: RoomNotice): WireEvent {
  switch (notice.type) {
    case 'trackAdded': {
      const { trackId, kind, label } = notice.track;
      return ['newProducer', { producerId: trackId, kind, ...(label ? { source: label } : {}) }];
    }
    case 'trackRemoved':
      return ['producerClosed', { producerId: notice.trackId }];
    case 'consumerClosed':
      return ['consumerClosed', { consumerId: notice.consumerId, producerId: notice.trackId }];
    case 'consumerPaused':
      return ['consumerPaused', { consumerId: notice.consumerId }];
    case 'consumerResumed':
      return ['consumerResumed', { consumerId: notice.consumerId }];
    case 'consumerLayers':
      return ['consumerLayersChanged', { consumerId: notice.consumerId, spatialLayer: notice.spatialLayer, temporalLayer: notice.temporalLayer }];
    case 'status':
      return ['roomStatus', { viewers: notice.viewers, live: notice.live }];
  }
}
