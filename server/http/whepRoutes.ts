/**
 * WHEP (draft-ietf-wish-whep) over HTTP, the playback twin of WHIP:
 *   POST    /whep/:room            application/sdp recvonly offer → 201 answer, or 406 with the
 *                                  server's counter-offer; Location, ETag, Accept-Patch either way
 *   PATCH   /whep/:room/:session   application/sdp: the answer to a counter-offer → 204;
 *                                  application/trickle-ice-sdpfrag: trickle → 204, ICE restart → 200 (If-Match)
 *   DELETE  /whep/:room/:session   → 200, the player leaves and its transport is freed
 *   OPTIONS both                   CORS preflight, Accept-Post / Accept-Patch
 * POST and PATCH are rate limited per client address: over the limit, 429 +
 * Retry-After (webrtc/addressRateLimit.ts), before anything else is done.
 * A room that is not live answers 409 + Retry-After. Viewing is open unless
 * the server requires viewer tokens (REQUIRE_VIEWER_TOKEN, as on socket.io):
 * then `Authorization: Bearer <JWT for the room>`; a token given is checked
 * either way. In a cluster a POST on a draining or full node is answered 307
 * to the node placement picks; a room live elsewhere is served here as an edge.
 */
import express, { type Router } from 'express';
import { TokenError, type TokenService } from '../auth/tokens.js';
import { bearerToken } from '../auth/adminAuth.js';
import type { WhepSessions } from '../egress/whep/whepSessions.js';
import type { IceServer } from '../ingest/whip/iceServerLinks.js';
import type { PlacementService } from '../cluster/placement/placementService.js';
import type { Logger } from '../observability/logger.js';
import { problems } from '../webrtc/httpProblem.js';
import type { RequestRateLimit } from '../webrtc/addressRateLimit.js';
import {
  addPreflightAndDelete,
  finishResourceRoutes,
  redirected,
  requireText,
  requireType,
  resourceRouter,
  roomOf,
  sendPatchResult,
  sendSdpResource,
  SDP,
  SDPFRAG,
} from '../webrtc/httpResource.js';
import { WHIP_MAX_OFFER_BYTES } from './whipRoutes.js';

/** A player's offer is no larger than an encoder's. */
export const WHEP_MAX_OFFER_BYTES = WHIP_MAX_OFFER_BYTES;

export interface WhepRoutesOptions {
  sessions: WhepSessions;
  tokens: TokenService;
  requireViewerToken: boolean;
  iceServers: readonly IceServer[];
  /** Cluster placement: a POST this node should not serve is sent elsewhere (307). */
  placement?: PlacementService;
  /** POSTs per client address (PATCHes get PATCH_ALLOWANCE times more); more get 429. Default DEFAULT_REQUEST_RATE_LIMIT. */
  rateLimit?: RequestRateLimit;
  logger: Logger;
}

async function authorizeViewer(token: string | undefined, room: string, options: WhepRoutesOptions): Promise<void> {
  if (token === undefined || token === '') {
    if (options.requireViewerToken) throw problems.unauthorized('viewing needs a token (Authorization: Bearer <viewer JWT for the room>)');
    return;
  }
  try {
    await options.tokens.verifyForRoom(token, room);
  } catch (error) {
    if (error instanceof TokenError) throw error.code === 'TOKEN_WRONG_ROOM' ? problems.forbidden(error.message) : problems.unauthorized(error.message);
    throw error;
  }
}

export function createWhepRouter(options: WhepRoutesOptions): Router {
  const { sessions } = options;
  const { router, links, endpointCors, sessionCors, limits } = resourceRouter('WHEP', options);
  const offerBody = express.text({ type: SDP, limit: WHEP_MAX_OFFER_BYTES });
  const patchBody = express.text({ type: [SDP, SDPFRAG], limit: WHEP_MAX_OFFER_BYTES });
  const acceptPatch = `${SDP}, ${SDPFRAG}`;

  addPreflightAndDelete(router, '/whep', acceptPatch, (room, session) => sessions.end(room, session));

  router.post(
    '/whep/:room',
    endpointCors,
    limits.posts.middleware,
    async (req, res, next) => {
      const room = roomOf(req);
      requireType(req, SDP);
      await authorizeViewer(bearerToken(req), room, options);
      if (!(await redirected(res, options.placement, { room, role: 'viewer' }, `/whep/${room}`, options.logger))) next();
    },
    offerBody,
    async (req, res) => {
      const room = roomOf(req);
      const result = await sessions.play(room, requireText(req, 'an SDP offer'));
      sendSdpResource(res, { status: result.status, location: `/whep/${room}/${result.sessionId}`, etag: result.etag, acceptPatch, sdp: result.sdp, links });
    },
  );

  router.patch(
    '/whep/:room/:session',
    sessionCors,
    limits.patches.middleware,
    (req, _res, next) => {
      if (!req.is(SDP) && !req.is(SDPFRAG)) throw problems.unsupportedType(`Content-Type must be ${SDP} (an answer) or ${SDPFRAG}`);
      next();
    },
    patchBody,
    async (req, res) => {
      const type = req.is(SDP) ? 'sdp' : 'sdpfrag';
      const body = requireText(req, type === 'sdp' ? 'an SDP answer' : 'a trickle-ice-sdpfrag');
      const result = await sessions.patch(roomOf(req), req.params['session'] as string, type, req.get('If-Match'), body);
      sendPatchResult(res, result.kind === 'restart' ? result : undefined);
    },
  );

  finishResourceRoutes(router, '/whep', WHEP_MAX_OFFER_BYTES);
  return router;
}
