/**
 * Express app: the pages, health probes and the rooms API. Every response
 * carries security headers (helmet); unknown API paths and errors answer JSON.
 */
import fs from 'node:fs';
import path from 'node:path';
import express, { type Request, type Response, type NextFunction } from 'express';
import helmet from 'helmet';
import type { Logger } from '../observability/logger.js';
import type { RoomDirectory, RoomListing } from '../cluster/roomDirectory.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { WorkerPool } from '../media/workerPool.js';
import type { HlsService } from '../hls/hlsService.js';
import { createHlsRouter } from '../hls/hlsRoutes.js';
import type { HlsClusterProxy } from '../hls/hlsClusterProxy.js';
import type { ContentSteering } from '../hls/contentSteeringRouter.js';
import { roomIdSchema } from '../contracts/signaling.js';
import type { RoomListItem, RoomsResponse } from '../contracts/adminApi.js';

export interface HttpAppDeps {
  /** This node's rooms: their own figures are fresher than the directory's. */
  rooms: RoomRegistry;
  nodeId: string;
  /** Rooms are listed from the directory: every room someone serves, not just this node's. */
  directory: RoomDirectory;
  pool: WorkerPool;
  clientDir: string;
  logger: Logger;
  isShuttingDown: () => boolean;
  /** Absent when HLS is disabled. */
  hls: HlsService | undefined;
  /** Cluster routes (join placement, drain, settings); in cluster mode pages may also reach other nodes. */
  cluster?: { mode: 'memory' | 'redis'; routes: express.Router[] };
  /** Cluster mode: rooms recorded by another node are served from there (HLS, thumbnails, their /api/rooms fields). */
  hlsCluster?: HlsClusterProxy;
  /** HLS_PATHWAYS: steering manifests (answered here, never forwarded) and steered masters. */
  steering?: ContentSteering;
  /** Operator routes (/metrics, admin and stats APIs) and a hook that sees /hls requests. */
  observability?: { routes: express.Router; hlsRequestHook: express.RequestHandler };
  /** Ingest and egress routes: WHIP and WHEP endpoints and the stream key admin API. */
  ingestRoutes?: express.Router[];
}

const pages: Record<string, string> = {
  '/': 'index.html',
  '/broadcast': 'broadcast.html',
  '/watch': 'watch.html',
  // The page itself is public; its data comes from admin-only APIs.
  '/dashboard': 'dashboard.html',
};

export function createHttpApp(deps: HttpAppDeps): express.Express {
  const { directory, rooms, pool, clientDir, logger, isShuttingDown, hls } = deps;
  const log = logger.child({ component: 'http' });
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', 'strong');
  app.use(
    helmet({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'"],
          imgSrc: ["'self'", 'data:', 'blob:'],
          mediaSrc: ["'self'", 'blob:'],
          // In a cluster the SDK asks other nodes where to rejoin (their join endpoint) when its node is gone.
          // hls.js on the watch page loads a steered stream from its pathways (HLS_PATHWAYS).
          connectSrc:
            deps.cluster?.mode === 'redis' ? ["'self'", 'ws:', 'wss:', 'http:', 'https:'] : ["'self'", 'ws:', 'wss:', ...(deps.steering?.connectSources ?? [])],
          workerSrc: ["'self'", 'blob:'],
          objectSrc: ["'none'"],
          frameAncestors: ["'none'"],
          // Pages are often served over plain HTTP on a LAN address; upgrading
          // their subresources to HTTPS would break them.
          upgradeInsecureRequests: null,
        },
      },
      // Plain-HTTP deployments are common on a LAN; HSTS belongs to the TLS proxy.
      strictTransportSecurity: false,
      crossOriginEmbedderPolicy: false,
    }),
  );

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', (_req, res) => {
    const workers = pool.details().map(({ index, alive }) => ({ index, alive }));
    const ready = !isShuttingDown() && pool.allAlive;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not ready', shuttingDown: isShuttingDown(), workers });
  });

  app.get('/api/rooms', async (_req, res) => {
    const listings = await directory.list();
    const remote = await remoteHls(deps.hlsCluster, listings, (id) => hls?.status(id) !== undefined);
    const list = listings.map((listing): RoomListItem => {
      const local = rooms.get(listing.id);
      const status = hls?.status(listing.id);
      const room = {
        id: listing.id,
        live: listing.live,
        viewers: Object.entries(listing.viewersByNode).reduce((sum, [node, n]) => sum + (node === deps.nodeId && local ? 0 : n), local?.viewerCount ?? 0),
        workers: local?.summary().workers ?? [],
        routers: local?.summary().routers ?? 0,
        createdAt: listing.createdAt,
      };
      if (remote.has(room.id)) return { ...room, hls: { available: listing.live, url: hlsUrl(room.id) }, thumbnail: thumbnailUrl(room.id) };
      return {
        ...room,
        hls: status ? { available: status.available, url: status.url } : { available: false, url: null },
        thumbnail: hls?.thumbnailPath(room.id) ? thumbnailUrl(room.id) : null,
      };
    });
    res.set('Cache-Control', 'no-store').json({ rooms: list, hls: { enabled: !!hls?.enabled, reason: hls?.disabledReason ?? null } } satisfies RoomsResponse);
  });

  app.get('/api/rooms/:room/thumbnail.jpg', (req, res) => {
    const room = roomIdSchema.safeParse(req.params['room']);
    if (!room.success) {
      res.status(400).json({ error: { code: 'BAD_REQUEST', message: 'invalid room name' } });
      return;
    }
    const file = hls?.thumbnailPath(room.data);
    const notFound = (): void => {
      res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no thumbnail for this room' } });
    };
    if (!file && deps.hlsCluster) {
      // Written by the node that records the room.
      deps.hlsCluster.forward(req, res, notFound, room.data, ({ status, message }) => {
        res
          .status(status)
          .set('Cache-Control', 'no-store')
          .json({ error: { code: 'UNAVAILABLE', message } });
      });
      return;
    }
    if (!file) {
      notFound();
      return;
    }
    // Refreshed every few seconds by the recorder.
    res
      .set('Cache-Control', 'public, max-age=2')
      .type('image/jpeg')
      .sendFile(file, { dotfiles: 'allow' }, (error) => {
        if (error && !res.headersSent) res.status(404).end();
      });
  });

  for (const routes of deps.cluster?.routes ?? []) app.use(routes);

  if (deps.observability) app.use(deps.observability.routes);
  for (const routes of deps.ingestRoutes ?? []) app.use(routes);

  const hlsHooks = deps.observability ? [deps.observability.hlsRequestHook] : [];
  const steering = deps.steering?.enabled ? deps.steering : undefined;
  if (steering) app.use('/hls', steering.router);
  // Before the local routes: what another node records is answered from there.
  if (deps.hlsCluster) app.use('/hls', ...hlsHooks, deps.hlsCluster.hlsHandler);
  if (hls) {
    const routes = createHlsRouter({ root: hls.root, lookup: (room) => hls.lookup(room), ...(steering ? { steerMaster: steering.master } : {}) });
    app.use('/hls', ...(deps.hlsCluster ? [] : hlsHooks), routes);
  }

  app.use('/api', (_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'no such API endpoint' } });
  });

  for (const [route, file] of Object.entries(pages)) {
    app.get(route, (_req, res) => {
      const filePath = path.join(clientDir, file);
      if (!fs.existsSync(filePath)) {
        res.status(503).type('text/plain').send('The client is not built. Run "npm run setup" and restart.\n');
        return;
      }
      res.set('Cache-Control', 'no-cache').sendFile(filePath);
    });
  }

  app.use(
    '/assets',
    express.static(clientDir, {
      index: false,
      fallthrough: true,
      setHeaders: (res) => res.setHeader('Cache-Control', 'no-cache'),
    }),
  );

  app.use((_req, res) => {
    res.status(404).json({ error: { code: 'NOT_FOUND', message: 'not found' } });
  });

  app.use((error: Error & { status?: number; type?: string; code?: string }, req: Request, res: Response, _next: NextFunction) => {
    // A client that went away (hls.js cancelling a request, a closed tab) is not a server error.
    if (req.destroyed || error.code === 'ECONNABORTED' || error.code === 'ECONNRESET' || error.code === 'EPIPE') {
      if (!res.headersSent) res.status(499).end();
      return;
    }
    if (res.headersSent) return;
    const status = error.status && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) log.error({ err: error }, 'request failed');
    res.status(status).json({ error: { code: status >= 500 ? 'INTERNAL' : 'BAD_REQUEST', message: status >= 500 ? 'internal error' : error.message } });
  });

  return app;
}

const hlsUrl = (room: string): string => `/hls/${room}/index.m3u8`;
const thumbnailUrl = (room: string): string => `/api/rooms/${room}/thumbnail.jpg`;

/** Rooms not recorded here whose origin node records HLS (announces the `hls` role): their HLS is served through this node. */
async function remoteHls(proxy: HlsClusterProxy | undefined, listings: RoomListing[], recordedHere: (room: string) => boolean): Promise<Set<string>> {
  const remote = new Set<string>();
  if (!proxy) return remote;
  await Promise.all(
    listings
      .filter((listing) => !recordedHere(listing.id) && listing.origin)
      .map(async (listing) => {
        const origin = await proxy.originOf(listing.id).catch(() => undefined);
        if (origin?.kind === 'remote' && origin.roles.includes('hls')) remote.add(listing.id);
      }),
  );
  return remote;
}
