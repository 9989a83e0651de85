/**
 * The HTTP side WHIP (RFC 9725) and WHEP share: an endpoint (`/<kind>/:room`)
 * that takes an SDP offer and session resources (`/<kind>/:room/:session`)
 * that take PATCH and DELETE; CORS for browser clients on other origins
 * (credentials travel in a header, never cookies); problem+json errors; and
 * the 307 that sends a POST to the node placement picks in a cluster.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { isValidRoomId, ROOM_ID_RULE } from '../contracts/roomId.js';
import type { PlacementService } from '../cluster/placement/placementService.js';
import type { Logger } from '../observability/logger.js';
import { PROBLEM_CONTENT_TYPE, HttpProblem, problems } from './httpProblem.js';
import { endpointRateLimits, type RequestRateLimit } from './addressRateLimit.js';
import { iceServerLinks, type IceServer } from '../ingest/whip/iceServerLinks.js';

export const SDP = 'application/sdp';
export const SDPFRAG = 'application/trickle-ice-sdpfrag';

export function sendProblem(res: Response, problem: HttpProblem): void {
  if (res.headersSent) return;
  res.status(problem.status).set(problem.headers).set('Cache-Control', 'no-store').type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem.body));
}

/**
 * What a WHIP or WHEP router starts from: the router (case-sensitive, strict
 * paths), the ICE servers' Link headers, CORS for the endpoint and for its
 * sessions, and the per-address limits of POSTs and PATCHes.
 */
export function resourceRouter(kind: 'WHIP' | 'WHEP', options: { iceServers: readonly IceServer[]; rateLimit?: RequestRateLimit | undefined }) {
  return {
    router: express.Router({ caseSensitive: true, strict: true }),
    links: iceServerLinks(options.iceServers),
    endpointCors: cors('POST, OPTIONS'),
    sessionCors: cors('PATCH, DELETE, OPTIONS'),
    limits: endpointRateLimits(kind, options.rateLimit),
  };
}

/** CORS headers for a browser client on another origin. */
export function cors(methods: string) {
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

export function roomOf(req: Request): string {
  const room = req.params['room'] as string | undefined;
  if (!isValidRoomId(room)) throw problems.badRequest(ROOM_ID_RULE);
  return room;
}

export function requireType(req: Request, type: string): void {
  if (!req.is(type)) throw problems.unsupportedType(`Content-Type must be ${type}`);
}

export function requireText(req: Request, what: string): string {
  if (typeof req.body !== 'string' || req.body.length === 0) throw problems.badRequest(`the body must be ${what}`);
  return req.body;
}

/** An SDP body as express would not send it: a Buffer, so no "; charset=utf-8" is added (SDP is ASCII). */
export const sdpBody = (sdp: string): Buffer => Buffer.from(sdp);

/** A created session resource (201), or WHEP's counter-offer (406): the SDP, its Location and strong ETag. */
export function sendSdpResource(
  res: Response,
  resource: { status: number; location: string; etag: string; acceptPatch: string; sdp: string; links: readonly string[] },
): void {
  if (resource.links.length > 0) res.append('Link', [...resource.links]);
  res
    .status(resource.status)
    .set({ 'Content-Type': SDP, Location: resource.location, ETag: resource.etag, 'Accept-Patch': resource.acceptPatch, 'Cache-Control': 'no-store' })
    .send(sdpBody(resource.sdp));
}

/** A PATCH's answer: 200 with the server's sdpfrag and new ETag after an ICE restart, 204 otherwise. */
export function sendPatchResult(res: Response, restart: { fragment: string; etag: string } | undefined): void {
  if (!restart) {
    res.status(204).end();
    return;
  }
  res.status(200).set({ 'Content-Type': SDPFRAG, ETag: restart.etag, 'Cache-Control': 'no-store' }).send(sdpBody(restart.fragment));
}

/** CORS preflights of the endpoint and its sessions, and DELETE of a session (200). */
export function addPreflightAndDelete(router: Router, base: string, acceptPatch: string, end: (room: string, session: string) => void): void {
  router.options(`${base}/:room`, cors('POST, OPTIONS'), (_req, res) => {
    res.set('Accept-Post', SDP).status(204).end();
  });
  router.options(`${base}/:room/:session`, cors('PATCH, DELETE, OPTIONS'), (_req, res) => {
    res.set('Accept-Patch', acceptPatch).status(204).end();
  });
  router.delete(`${base}/:room/:session`, cors('PATCH, DELETE, OPTIONS'), (req, res) => {
    end(roomOf(req), req.params['session'] as string);
    res.status(200).end();
  });
}

/** 405 for other methods, and problem+json for every error of the resource's routes. */
export function finishResourceRoutes(router: Router, base: string, maxBodyBytes: number): void {
  const paths = [`${base}/:room`, `${base}/:room/:session`];
  router.all(paths, (req, res) => {
    const allow = req.params['session'] === undefined ? 'POST, OPTIONS' : 'PATCH, DELETE, OPTIONS';
    res.set('Allow', allow);
    sendProblem(res, new HttpProblem(405, 'Method Not Allowed', `${req.method} is not allowed here (allowed: ${allow})`));
  });
  router.use(paths, (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof HttpProblem) {
      sendProblem(res, error);
      return;
    }
    if (error.type === 'entity.too.large') {
      sendProblem(res, problems.tooLarge(`the body is over the limit (${maxBodyBytes} bytes for an offer)`));
      return;
    }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) {
      sendProblem(res, problems.badRequest('unreadable request body'));
      return;
    }
    next(error);
  });
}

/**
 * In a cluster, sends this POST (307, same method and body: RFC 9725 §4.5)
 * to the node that should take it instead of this one — the room's origin
 * for a publisher; another node when this one is draining or holds its
 * viewer limit — and says so; false: serve it here. Shared state out of
 * reach (Redis down) serves here, as the signaling join does.
 */
export async function redirected(
  res: Response,
  placement: PlacementService | undefined,
  request: { room: string; role: 'viewer' | 'publisher' },
  path: string,
  logger: Logger,
): Promise<boolean> {
  if (!placement) return false;
  let decision;
  try {
    ({ decision } = await placement.decide(request));
  } catch (error) {
    logger.warn({ err: (error as Error).message, room: request.room }, 'placement unavailable; serving the request here');
    return false;
  }
  if (decision.action === 'refuse') throw problems.unavailable(decision.reason, 5);
  if (decision.action === 'serve') return false;
  res
    .status(307)
    .set({ Location: new URL(path, decision.placement.node.publicUrl).href, 'Cache-Control': 'no-store' })
    .end();
  return true;
}
