/**
 * GET /api/rooms/:room/join?role=viewer|publisher[&region=] → JoinPlacementResponse
 * (contracts/joinApi.ts): which node a client should join, and alternates.
 *
 * Public and open to any origin (CORS `*`, no credentials): pages are served
 * by whichever node the user opened, and the SDK asks any reachable node of
 * the cluster when its own node is gone. It reveals nothing the nodes'
 * public URLs do not.
 */
import express, { type Response, type Router } from 'express';
import { z } from 'zod';
import { roleSchema, roomIdSchema } from '../contracts/signaling.js';
import { REGION_PATTERN, type JoinPlacementResponse } from '../contracts/joinApi.js';
import type { PlacementService } from '../cluster/placement/placementService.js';
import type { Logger } from '../observability/logger.js';

const querySchema = z.object({
  role: roleSchema.default('viewer'),
  region: z.string().regex(REGION_PATTERN, 'region must be 1-64 characters of A-Z a-z 0-9 _ . -').optional(),
});

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message } });
}

export function createJoinRouter(deps: { placement: PlacementService; logger: Logger }): Router {
  const router = express.Router({ caseSensitive: true, strict: true });
  const log = deps.logger.child({ component: 'join' });

  router.options('/api/rooms/:room/join', (_req, res) => {
    res.set({ 'Access-Control-Allow-Origin': '*', 'Access-Control-Allow-Methods': 'GET', 'Access-Control-Max-Age': '600' }).status(204).end();
  });

  router.get('/api/rooms/:room/join', async (req, res) => {
    res.set('Access-Control-Allow-Origin', '*');
    const room = roomIdSchema.safeParse(req.params['room']);
    if (!room.success) {
      sendError(res, 400, 'BAD_REQUEST', 'invalid room name (1-64 characters of A-Z a-z 0-9 _ -)');
      return;
    }
    const query = querySchema.safeParse(req.query);
    if (!query.success) {
      const issue = query.error.issues[0]!;
      const message = issue.path[0] === 'role' ? 'role must be "viewer" or "publisher"' : `${issue.path.join('.')}: ${issue.message}`;
      sendError(res, 400, 'BAD_REQUEST', message);
      return;
    }
    let placement;
    try {
      placement = await deps.placement.place({ room: room.data, role: query.data.role, region: query.data.region });
    } catch (error) {
      log.warn({ err: (error as Error).message, room: room.data }, 'placement failed');
      res.set('Retry-After', '1');
      sendError(res, 503, 'UNAVAILABLE', 'the cluster state is out of reach; try again, or join this node');
      return;
    }
    if (!placement) {
      res.set('Retry-After', '1');
      sendError(res, 503, 'UNAVAILABLE', 'no node can take this join right now (all draining or full)');
      return;
    }
    const body: JoinPlacementResponse = {
      node: placement.node.id,
      url: placement.node.publicUrl,
      alternates: placement.alternates.map((node) => node.publicUrl),
    };
    res.set('Cache-Control', 'no-store').json(body);
  });

  return router;
}
