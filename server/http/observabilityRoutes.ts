/**
 * Operator HTTP endpoints:
 *   GET  /metrics                 Prometheus text (admin only with METRICS_REQUIRE_ADMIN=true)
 *   GET  /api/admin/overview      admin: workers, totals, rooms, alerts, webhooks
 *   GET  /api/admin/alerts        admin: { active, history }
 *   GET  /api/rooms/:room/stats   public: one room's stats and its ingests' health (Cache-Control max-age=2)
 *   POST /api/rooms/:room/qoe     public: a watch page's QoE report (≤ 4 KiB JSON) → 204
 * Errors are JSON `{ error: { code, message } }`.
 */
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { TokenService } from '../auth/tokens.js';
import { requireAdmin } from '../auth/adminAuth.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import { roomIdSchema } from '../contracts/signaling.js';
import type { Observability } from '../observability/observability.js';
import { QOE_MAX_BODY_BYTES, qoeReportSchema } from '../contracts/qoeReport.js';
import type { RoomStats } from '../contracts/adminApi.js';
import type { RoomIngestStats } from '../contracts/ingestHealth.js';
import { describeIngests } from '../ingest/ingestHealthReport.js';

export interface ObservabilityRoutesOptions {
  observability: Observability;
  tokens: TokenService;
  rooms: RoomRegistry;
  metricsRequireAdmin: boolean;
}

function sendError(res: Response, status: number, code: string, message: string): void {
  if (res.headersSent) return;
  res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message } });
}

function roomParam(req: Request, res: Response): string | undefined {
  const parsed = roomIdSchema.safeParse(req.params['room']);
  if (!parsed.success) {
    sendError(res, 400, 'BAD_REQUEST', 'invalid room name (1-64 characters of A-Z a-z 0-9 _ -)');
    return undefined;
  }
  return parsed.data;
}

export function createObservabilityRouter(options: ObservabilityRoutesOptions): Router {
  const { observability, tokens, rooms } = options;
  const router = express.Router({ caseSensitive: true, strict: true });
  const adminOnly = requireAdmin(tokens);

  const metricsHandler = async (_req: Request, res: Response) => {
    const text = await observability.metrics.render();
    res.set({ 'Content-Type': observability.metrics.contentType, 'Cache-Control': 'no-store' }).send(text);
  };
  if (options.metricsRequireAdmin) router.get('/metrics', adminOnly, metricsHandler);
  else router.get('/metrics', metricsHandler);

  router.get('/api/admin/overview', adminOnly, (_req, res) => {
    res.set('Cache-Control', 'no-store').json(observability.overview());
  });

  router.get('/api/admin/alerts', adminOnly, (_req, res) => {
    res.set('Cache-Control', 'no-store').json({ active: observability.alertManager.active(), history: observability.alertManager.history() });
  });

  router.get('/api/rooms/:room/stats', async (req, res) => {
    const room = roomParam(req, res);
    if (room === undefined) return;
    const stats = observability.roomStats(room);
    if (!stats) {
      sendError(res, 404, 'NOT_FOUND', `no room "${room}"`);
      return;
    }
    const body: RoomStats & RoomIngestStats = { ...stats, ingest: await describeIngests(rooms.get(room)?.sources() ?? []) };
    res.set('Cache-Control', 'public, max-age=2').json(body);
  });

  const qoeBody = express.json({ limit: QOE_MAX_BODY_BYTES, strict: true, type: ['application/json', 'text/plain'] });
  router.post(
    '/api/rooms/:room/qoe',
    (req, res, next) => {
      const room = roomParam(req, res);
      if (room === undefined) {
        observability.metrics.qoeRejected('invalid');
        return;
      }
      if (!rooms.get(room)) {
        observability.metrics.qoeRejected('unknown_room');
        sendError(res, 404, 'NOT_FOUND', `no room "${room}"`);
        return;
      }
      next();
    },
    qoeBody,
    (req, res) => {
      const room = req.params['room'];
      const parsed = qoeReportSchema.safeParse(req.body);
      if (!parsed.success) {
        observability.metrics.qoeRejected('invalid');
        const issue = parsed.error.issues[0]!;
        const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
        sendError(
          res,
          400,
          'BAD_REQUEST',
          req.body === undefined ? 'body must be a JSON object (Content-Type: application/json)' : `invalid QoE report: ${where}${issue.message}`,
        );
        return;
      }
      // The room may have closed while the body arrived.
      if (!rooms.get(room)) {
        observability.metrics.qoeRejected('unknown_room');
        sendError(res, 404, 'NOT_FOUND', `no room "${room}"`);
        return;
      }
      if (observability.qoe.ingest(room, parsed.data) === 'rate_limited') {
        observability.metrics.qoeRejected('rate_limited');
        res.set('Retry-After', '1');
        sendError(res, 429, 'RATE_LIMITED', 'at most about one QoE report per second per session');
        return;
      }
      observability.metrics.qoeAccepted(parsed.data.transport);
      res.status(204).end();
    },
  );

  // Body parser errors of the QoE route: too large, not JSON.
  router.use((error: Error & { status?: number; type?: string }, req: Request, res: Response, next: NextFunction) => {
    if (req.path.endsWith('/qoe') && (error.type === 'entity.too.large' || error.status === 413)) {
      observability.metrics.qoeRejected('too_large');
      sendError(res, 413, 'PAYLOAD_TOO_LARGE', `QoE reports are limited to ${QOE_MAX_BODY_BYTES} bytes`);
      return;
    }
    if (req.path.endsWith('/qoe') && error.status !== undefined && error.status >= 400 && error.status < 500) {
      observability.metrics.qoeRejected('invalid');
      sendError(res, 400, 'BAD_REQUEST', error.type === 'entity.parse.failed' ? 'body is not valid JSON' : 'unreadable request body');
      return;
    }
    next(error);
  });

  return router;
}
