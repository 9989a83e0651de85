/**
 * WHIP (RFC 9725) over HTTP:
 *   POST    /whip/:room            application/sdp offer → 201 answer, Location, ETag, Accept-Patch, Link ICE servers
 *   PATCH   /whip/:room/:session   application/trickle-ice-sdpfrag: trickle → 204, ICE restart → 200 (If-Match required)
 *   DELETE  /whip/:room/:session   → 200, the source ends and its transport is freed
 *   OPTIONS both                   CORS preflight, Accept-Post / Accept-Patch
 *   POST elsewhere in a cluster    307 to the room's origin node (or another when this one drains)
 * `Authorization: Bearer` on POST is a stream key of the room (its slot decides
 * primary or backup) or a publisher JWT for the room. The session URL itself
 * is the capability for PATCH and DELETE (an unguessable UUID).
 * POST and PATCH are rate limited per client address: over the limit, 429 +
 * Retry-After (webrtc/addressRateLimit.ts), before anything else is done.
 * Errors are RFC 9457 problem+json (webrtc/httpProblem.ts). In a cluster a POST
 * for a room whose origin is another node is answered 307 to that node.
 */
import express, { type Router } from 'express';
import type { TokenService } from '../auth/tokens.js';
import { bearerToken } from '../auth/adminAuth.js';
import type { StreamKeyStore } from '../ingest/keys/streamKeyStore.js';
import { authorizeIngest } from '../ingest/ingestAuth.js';
import type { WhipSessions } from '../ingest/whip/whipSessions.js';
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

/** Offers are a few KiB (Chromium's with simulcast ~8 KiB); anything much larger is not an offer. */
export const WHIP_MAX_OFFER_BYTES = 32 * 1024;
const MAX_FRAGMENT_BYTES = 8 * 1024;

export interface WhipRoutesOptions {
  sessions: WhipSessions;
  keys: StreamKeyStore;
  tokens: TokenService;
  iceServers: readonly IceServer[];
  /** Cluster placement: a POST for a room published from another node is sent there (307). */
  placement?: PlacementService;
  /** POSTs per client address (PATCHes get PATCH_ALLOWANCE times more); more get 429. Default DEFAULT_REQUEST_RATE_LIMIT. */
  rateLimit?: RequestRateLimit;
  logger: Logger;
}

export function createWhipRouter(options: WhipRoutesOptions): Router {
  const { sessions } = options;
  const { router, links, endpointCors, sessionCors, limits } = resourceRouter('WHIP', options);
  const offerBody = express.text({ type: SDP, limit: WHIP_MAX_OFFER_BYTES });
  const fragmentBody = express.text({ type: SDPFRAG, limit: MAX_FRAGMENT_BYTES });

  addPreflightAndDelete(router, '/whip', SDPFRAG, (room, session) => sessions.end(room, session));

  router.post(
    '/whip/:room',
    endpointCors,
    limits.posts.middleware,
    async (req, res, next) => {
      const room = roomOf(req);
      requireType(req, SDP);
      const auth = await authorizeIngest(bearerToken(req), room, { keys: options.keys, tokens: options.tokens });
      if (!auth.ok) throw auth.status === 401 ? problems.unauthorized(auth.detail) : problems.forbidden(auth.detail);
      res.locals['slot'] = auth.slot;
      if (!(await redirected(res, options.placement, { room, role: 'publisher' }, `/whip/${room}`, options.logger))) next();
    },
    offerBody,
    async (req, res) => {
      const room = roomOf(req);
      const offer = requireText(req, 'an SDP offer');
      const result = await sessions.publish(room, res.locals['slot'] as 'primary' | 'backup', offer);
      sendSdpResource(res, { status: 201, location: `/whip/${room}/${result.sessionId}`, etag: result.etag, acceptPatch: SDPFRAG, sdp: result.answer, links });
    },
  );

  router.patch(
    '/whip/:room/:session',
    sessionCors,
    limits.patches.middleware,
    (req, _res, next) => {
      requireType(req, SDPFRAG);
      next();
    },
    fragmentBody,
    async (req, res) => {
      const result = await sessions.patch(roomOf(req), req.params['session'] as string, req.get('If-Match'), requireText(req, 'a trickle-ice-sdpfrag'));
      sendPatchResult(res, result.kind === 'restart' ? result : undefined);
    },
  );

  finishResourceRoutes(router, '/whip', WHIP_MAX_OFFER_BYTES);
  return router;
}
