/**
 * WHIP (RFC 9725) over HTTP:
 *   POST    /whip/:room            application/sdp offer → 201 answer, Location, ETag, Accept-Patch, Link ICE servers
 *   PATCH   /whip/:room/:session   application/trickle-ice-sdpfrag: trickle → 204, ICE restart → 200 (If-Match required)
 *   DELETE  /whip/:room/:session   → 200, the source ends and its transport is freed
 *   OPTIONS both                   CORS preflight, Accept-Post / Accept-Patch
 * `Authorization: Bearer` on POST is a stream key of the room (its slot decides
 * primary or backup) or a publisher JWT for the room. The session URL itself
 * is the capability for PATCH and DELETE (an unguessable UUID).
 * Errors are RFC 9457 problem+json (whipProblem.ts).
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { TokenService } from '../auth/tokens.js';
import { bearerToken } from '../auth/adminAuth.js';
import { isValidRoomId, ROOM_ID_RULE } from '../contracts/roomId.js';
import type { StreamKeyStore } from '../ingest/keys/streamKeyStore.js';
import { authorizeIngest } from '../ingest/ingestAuth.js';
import type { WhipSessions } from '../ingest/whip/whipSessions.js';
import { iceServerLinks, type IceServer } from '../ingest/whip/iceServerLinks.js';
import { PROBLEM_CONTENT_TYPE, WhipProblem, problems } from '../ingest/whip/whipProblem.js';

/** Offers are a few KiB (Chromium's with simulcast ~8 KiB); anything much larger is not an offer. */
export const WHIP_MAX_OFFER_BYTES = 32 * 1024;
const MAX_FRAGMENT_BYTES = 8 * 1024;
const SDP = 'application/sdp';
const SDPFRAG = 'application/trickle-ice-sdpfrag';

export interface WhipRoutesOptions {
  sessions: WhipSessions;
  keys: StreamKeyStore;
  tokens: TokenService;
  iceServers: readonly IceServer[];
}

function sendProblem(res: Response, problem: WhipProblem): void {
  if (res.headersSent) return;
  res.status(problem.status).set(problem.headers).set('Cache-Control', 'no-store').type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body));
}

/** CORS for browser WHIP clients on other origins (tokens travel in a header, never cookies). */
function cors(methods: string) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    res.set({
      'Access-Control-Allow-Origin': '*',
      'Access-Control-Allow-Methods': methods,
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, If-Match',
      'Access-Control-Expose-Headers': 'Location, ETag, Link, Accept-Patch, Accept-Post, Retry-After',
      'Access-Control-Max-Age': '600',
    });
    next();
  };
}

function roomOf(req: Request): string {
  const room = req.params['room'] as string | undefined;
  if (!isValidRoomId(room)) throw problems.badRequest(ROOM_ID_RULE);
  return room;
}

function requireType(req: Request, type: string): void {
  if (!req.is(type)) throw problems.unsupportedType(`Content-Type must be ${type}`);
}

function requireText(req: Request, what: string): string {
  if (typeof req.body !== 'string' || req.body.length === 0) throw problems.badRequest(`the body must be ${what}`);
  return req.body;
}

export function createWhipRouter(options: WhipRoutesOptions): Router {
  const { sessions } = options;
  const router = express.Router({ caseSensitive: true, strict: true });
  const links = iceServerLinks(options.iceServers);
  const endpointCors = cors('POST, OPTIONS');
  const sessionCors = cors('PATCH, DELETE, OPTIONS');
  const offerBody = express.text({ type: SDP, limit: WHIP_MAX_OFFER_BYTES });
  const fragmentBody = express.text({ type: SDPFRAG, limit: MAX_FRAGMENT_BYTES });

  router.options('/whip/:room', endpointCors, (_req, res) => {
    res.set('Accept-Post', SDP).status(204).end();
  });

  router.post(
    '/whip/:room',
    endpointCors,
    async (req, res, next) => {
      const room = roomOf(req);
      requireType(req, SDP);
      const auth = await authorizeIngest(bearerToken(req), room, { keys: options.keys, tokens: options.tokens });
      if (!auth.ok) throw auth.status === 401 ? problems.unauthorized(auth.detail) : problems.forbidden(auth.detail);
      res.locals['slot'] = auth.slot;
      next();
    },
    offerBody,
    async (req, res) => {
      const room = roomOf(req);
      const offer = requireText(req, 'an SDP offer');
      const result = await sessions.publish(room, res.locals['slot'] as 'primary' | 'backup', offer);
      if (links.length > 0) res.append('Link', links);
      res
        .status(201)
        .set({
          'Content-Type': SDP,
          Location: `/whip/${room}/${result.sessionId}`,
          ETag: result.etag,
          'Accept-Patch': SDPFRAG,
          'Cache-Control': 'no-store',
        })
        // A Buffer: express would add "; charset=utf-8" to a string, and SDP is ASCII.
        .send(Buffer.from(result.answer));
    },
  );

  router.options('/whip/:room/:session', sessionCors, (_req, res) => {
    res.set('Accept-Patch', SDPFRAG).status(204).end();
  });

  router.patch(
    '/whip/:room/:session',
    sessionCors,
    (req, _res, next) => {
      requireType(req, SDPFRAG);
      next();
    },
    fragmentBody,
    async (req, res) => {
      const result = await sessions.patch(roomOf(req), req.params['session'] as string, req.get('If-Match'), requireText(req, 'a trickle-ice-sdpfrag'));
      if (result.kind === 'trickle') {
        res.status(204).end();
        return;
      }
      res.status(200).set({ 'Content-Type': SDPFRAG, ETag: result.etag, 'Cache-Control': 'no-store' }).send(Buffer.from(result.fragment));
    },
  );

  router.delete('/whip/:room/:session', sessionCors, (req, res) => {
    sessions.end(roomOf(req), req.params['session'] as string);
    res.status(200).end();
  });

  router.all(['/whip/:room', '/whip/:room/:session'], (req, res) => {
    const allow = req.params['session'] === undefined ? 'POST, OPTIONS' : 'PATCH, DELETE, OPTIONS';
    res.set('Allow', allow);
    sendProblem(res, new WhipProblem(405, 'Method Not Allowed', `${req.method} is not a WHIP method here (allowed: ${allow})`));
  });

  router.use(['/whip/:room', '/whip/:room/:session'], (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof WhipProblem) {
      sendProblem(res, error);
      return;
    }
    if (error.type === 'entity.too.large') {
      sendProblem(res, problems.tooLarge(`the body is over the limit (${WHIP_MAX_OFFER_BYTES} bytes for an offer)`));
      return;
    }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) {
      sendProblem(res, problems.badRequest('unreadable request body'));
      return;
    }
    next(error);
  });
  return router;
}
