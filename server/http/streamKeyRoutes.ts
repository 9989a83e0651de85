/**
 * The stream key admin API (contract: server/ingest/keys/streamKeyApi.ts).
 * Responses are never cached: one of them carries a secret.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { TokenService } from '../auth/tokens.js';
import { requireAdmin } from '../auth/adminAuth.js';
import { isValidRoomId, ROOM_ID_RULE } from '../contracts/roomId.js';
import { StreamKeyError, STREAM_KEY_ID_PATTERN } from '../ingest/keys/streamKey.js';
import type { StreamKeyStore } from '../ingest/keys/streamKeyStore.js';
import {
  STREAM_KEY_MAX_BODY_BYTES,
  createStreamKeyRequestSchema,
  type StreamKeyIssuedResponse,
  type StreamKeyListResponse,
} from '../ingest/keys/streamKeyApi.js';

export interface StreamKeyRoutesOptions {
  keys: StreamKeyStore;
  tokens: TokenService;
}

function sendError(res: Response, status: number, code: string, message: string): void {
  if (!res.headersSent) res.status(status).json({ error: { code, message } });
}

const STATUS_OF = { exists: [409, 'CONFLICT'], 'not-found': [404, 'NOT_FOUND'], invalid: [400, 'BAD_REQUEST'] } as const;

export function createStreamKeyRouter(options: StreamKeyRoutesOptions): Router {
  const { keys } = options;
  const router = express.Router({ caseSensitive: true, strict: true });
  const base = '/api/rooms/:room/keys';
  router.use(base, (req, res, next) => {
    res.set('Cache-Control', 'no-store');
    if (!isValidRoomId(req.params['room'])) {
      sendError(res, 400, 'BAD_REQUEST', ROOM_ID_RULE);
      return;
    }
    next();
  });
  router.use(base, requireAdmin(options.tokens));
  const roomOf = (req: Request): string => req.params['room'] as string;
  const idOf = (req: Request, res: Response): string | undefined => {
    const id = req.params['id'] as string;
    if (STREAM_KEY_ID_PATTERN.test(id)) return id;
    sendError(res, 404, 'NOT_FOUND', `no key ${id.slice(0, 32)}`);
    return undefined;
  };

  router.post(base, express.json({ limit: STREAM_KEY_MAX_BODY_BYTES, strict: true }), async (req, res) => {
    const parsed = createStreamKeyRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      sendError(res, 400, 'BAD_REQUEST', `body must be { "slot": "primary" | "backup" } (${parsed.error.issues[0]?.message ?? 'invalid'})`);
      return;
    }
    const key = await keys.create(roomOf(req), parsed.data.slot);
    res.status(201).json({ key } satisfies StreamKeyIssuedResponse);
  });

  router.get(base, async (req, res) => {
    res.json({ room: roomOf(req), keys: await keys.list(roomOf(req)) } satisfies StreamKeyListResponse);
  });

  router.post(`${base}/:id/rotate`, async (req, res) => {
    const id = idOf(req, res);
    if (id === undefined) return;
    res.json({ key: await keys.rotate(roomOf(req), id) } satisfies StreamKeyIssuedResponse);
  });

  router.delete(`${base}/:id`, async (req, res) => {
    const id = idOf(req, res);
    if (id === undefined) return;
    await keys.revoke(roomOf(req), id);
    res.status(204).end();
  });

  router.use(base, (error: Error & { status?: number; type?: string }, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof StreamKeyError) {
      const [status, code] = STATUS_OF[error.kind];
      sendError(res, status, code, error.message);
      return;
    }
    if (error.type === 'entity.too.large') {
      sendError(res, 413, 'PAYLOAD_TOO_LARGE', `at most ${STREAM_KEY_MAX_BODY_BYTES} bytes`);
      return;
    }
    if (error.status !== undefined && error.status >= 400 && error.status < 500) {
      sendError(res, 400, 'BAD_REQUEST', 'body must be JSON: { "slot": "primary" | "backup" }');
      return;
    }
    next(error);
  });
  return router;
}
