/**
 * A room's program: its status (which encoder is on air, both slots'
 * health, the last switch) and the operator's manual switch. Contract:
 * server/contracts/programApi.ts. Admin JWT on every route; never cached.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { z } from 'zod';
import type { TokenService } from '../auth/tokens.js';
import { requireAdmin } from '../auth/adminAuth.js';
import { isValidRoomId, ROOM_ID_RULE } from '../contracts/roomId.js';
import { PROGRAM_MAX_BODY_BYTES, programSlots, type ProgramStatus } from '../contracts/programApi.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import { BackupSwitchError } from '../rooms/backupSwitch.js';
import { RoomError } from '../rooms/roomError.js';

export interface ProgramRoutesOptions {
  rooms: RoomRegistry;
  tokens: TokenService;
}

const switchRequestSchema = z.strictObject({ slot: z.enum(programSlots) });
const BODY_RULE = 'body must be JSON: { "slot": "primary" | "backup" }';

function sendError(res: Response, status: number, code: string, message: string): void {
  if (!res.headersSent) res.status(status).json({ error: { code, message } });
}

export function createProgramRouter(options: ProgramRoutesOptions): Router {
  const { rooms } = options;
  const router = express.Router({ caseSensitive: true, strict: true });
  const path = '/api/rooms/:room/program';
  router.use(path, (req, res, next) => {
    res.set('Cache-Control', 'no-store');
    if (!isValidRoomId(req.params['room'])) {
      sendError(res, 400, 'BAD_REQUEST', ROOM_ID_RULE);
      return;
    }
    next();
  });
  router.use(path, requireAdmin(options.tokens));
  const roomOf = (req: Request, res: Response) => {
    const room = rooms.get(req.params['room'] as string);
    if (!room || room.closed) sendError(res, 404, 'NOT_FOUND', `no room ${req.params['room'] as string} on this node`);
    return room && !room.closed ? room : undefined;
  };

  router.get(path, (req, res) => {
    const room = roomOf(req, res);
    if (room) res.json(room.programStatus() satisfies ProgramStatus);
  });

  router.post(path, express.json({ limit: PROGRAM_MAX_BODY_BYTES, strict: true }), (req, res) => {
    const parsed = switchRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      sendError(res, 400, 'BAD_REQUEST', BODY_RULE);
      return;
    }
    const room = roomOf(req, res);
    if (!room) return;
    try {
      room.switchProgram(parsed.data.slot);
    } catch (error) {
      if (error instanceof BackupSwitchError) {
        sendError(res, 409, error.kind === 'empty' ? 'SLOT_EMPTY' : 'SLOT_UNHEALTHY', error.message);
        return;
      }
      if (error instanceof RoomError) {
        sendError(res, 404, 'NOT_FOUND', error.message);
        return;
      }
      throw error;
    }
    res.json(room.programStatus() satisfies ProgramStatus);
  });

  router.use(path, (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error.type === 'entity.too.large') {
      sendError(res, 413, 'PAYLOAD_TOO_LARGE', `at most ${PROGRAM_MAX_BODY_BYTES} bytes`);
      return;
    }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) {
      sendError(res, 400, 'BAD_REQUEST', BODY_RULE);
      return;
    }
    next(error);
  });
  return router;
}
