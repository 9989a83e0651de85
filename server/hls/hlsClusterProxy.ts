/**
 * HLS in a cluster: one node records a room (its origin, see hlsService.ts),
 * every node answers for it. A request for a room this node does not record
 * is forwarded to the origin node's publicUrl (directory → node registry),
 * path and query unchanged (blocking reloads included: the wait is the
 * origin's), and the answer streamed back with the headers that matter.
 *
 * - Loop guard: a forwarded request carries HOP_HEADER; a node receiving one
 *   answers from what it has (404 if nothing) and never forwards again.
 * - Origin unknown (nobody serves the room) → the local answer (404 today).
 *   Origin known but not announced or not answering → 502; no headers within
 *   upstreamTimeoutMs → 504; both `no-store`.
 * - The client going away aborts the upstream request.
 * - Audience: players are counted by the recording node only (its
 *   HlsAudience), forwarded requests by the player's address this node sends
 *   in CLIENT_IP_HEADER: one player, one count, in the one place that knows
 *   the room, whichever nodes its requests went through.
 */
import { Readable } from 'node:stream';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../observability/logger.js';
import type { RoomDirectory } from '../cluster/roomDirectory.js';
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import { ROOM_NAME_PATTERN } from './roomPackager.js';

export const HOP_HEADER = 'x-floodlight-hop';
/** On a forwarded request: the player's address, so the recording node counts the player, not this node. */
export const CLIENT_IP_HEADER = 'x-floodlight-client-ip';

/**
 * Longest wait for the origin's response headers. The origin holds a blocking
 * reload up to 3 target durations and a starting master up to
 * MASTER_WAIT_TIMEOUT_MS (6 s); this is above both, with a margin.
 */
export const UPSTREAM_TIMEOUT_MS = 15_000;

/** Response headers passed through from the origin. */
const FORWARDED_RESPONSE_HEADERS = [
  'content-type',
  'content-length',
  'content-range',
  'accept-ranges',
  'cache-control',
  'etag',
  'last-modified',
  'retry-after',
  'age',
  'access-control-allow-origin',
  'access-control-expose-headers',
  'cross-origin-resource-policy',
] as const;

/** Request headers passed to the origin (conditional and range requests). */
const FORWARDED_REQUEST_HEADERS = ['range', 'if-none-match', 'if-modified-since', 'if-range', 'cache-control', 'pragma', 'user-agent'] as const;

/** Origin lookups are shared for this long (a player asks for a part every ~0.27 s). */
const ORIGIN_CACHE_MS = 1_000;

export type RoomOrigin =
  { kind: 'here' } | { kind: 'none' } | { kind: 'unannounced'; node: string } | { kind: 'remote'; node: string; publicUrl: string; roles: readonly string[] };

export interface HlsClusterProxyOptions {
  nodeId: string;
  directory: Pick<RoomDirectory, 'originOf'>;
  nodes: Pick<NodeRegistry, 'get'>;
  /** This node records the room (a live local HLS stream): answer locally. */
  recordsHere: (room: string) => boolean;
  /** The node recording a room whose origin is `origin`, when not the origin itself (an `hls` node; see hlsService.ts). */
  recorderOf?: (room: string, origin: string) => Promise<string | undefined>;
  upstreamTimeoutMs?: number;
  logger: Logger;
}

export class HlsClusterProxy {
  readonly #options: HlsClusterProxyOptions;
  readonly #log: Logger;
  readonly #origins = new Map<string, { at: number; origin: Promise<RoomOrigin> }>();

  constructor(options: HlsClusterProxyOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'hls-proxy' });
  }

  /** Where the room's HLS is recorded, as far as the directory knows. */
  originOf(room: string): Promise<RoomOrigin> {
    const now = Date.now();
    const cached = this.#origins.get(room);
    if (cached && now - cached.at < ORIGIN_CACHE_MS) return cached.origin;
    const origin = this.#lookup(room);
    this.#origins.set(room, { at: now, origin });
    // Forget failed lookups at once; keep the map to the rooms asked about lately.
    origin.catch(() => this.#origins.delete(room));
    for (const [key, entry] of this.#origins) if (now - entry.at >= ORIGIN_CACHE_MS) this.#origins.delete(key);
    return origin;
  }

  async #lookup(room: string): Promise<RoomOrigin> {
    const lease = await this.#options.directory.originOf(room);
    if (!lease) return { kind: 'none' };
    const node = (await this.#options.recorderOf?.(room, lease.node)) ?? lease.node;
    if (node === this.#options.nodeId) return { kind: 'here' };
    const record = await this.#options.nodes.get(node);
    return record ? { kind: 'remote', node, publicUrl: record.publicUrl, roles: record.roles } : { kind: 'unannounced', node };
  }

  /** For `/hls`, before the local routes: forwards what this node does not record. */
  readonly hlsHandler: RequestHandler = (req, res, next) => {
    const room = req.path.split('/')[1];
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !room || !ROOM_NAME_PATTERN.test(room) || this.#options.recordsHere(room)) {
      next();
      return;
    }
    this.forward(req, res, next, room, (body) => {
      res.set({ 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' });
      res.status(body.status).set('Cache-Control', 'no-store').type('text/plain').send(`${body.message}\n`);
    });
  };

  /**
   * Forwards `req` (its original path and query) to the room's origin node,
   * or calls `next()` when the answer is this node's to give: a forwarded
   * request (loop guard), a room recorded here or by nobody.
   */
  forward(req: Request, res: Response, next: NextFunction, room: string, fail: (error: { status: number; message: string }) => void): void {
    if (req.headers[HOP_HEADER] !== undefined) {
      next();
      return;
    }
    this.originOf(room).then(
      (origin) => {
        if (origin.kind === 'here' || origin.kind === 'none') {
          next();
          return;
        }
        if (origin.kind === 'unannounced') {
          fail({ status: 502, message: `the origin node of room "${room}" (${origin.node}) is not reachable` });
          return;
        }
        // Appended, not resolved: a publicUrl with a path (behind a proxy) keeps it.
        this.#pipe(req, res, new URL(origin.publicUrl.replace(/\/+$/, '') + req.originalUrl), origin.node, fail).catch((error: unknown) => {
          this.#log.error({ room, err: (error as Error).message }, 'forwarding an HLS request failed');
          res.destroy();
        });
      },
      (error: unknown) => {
        this.#log.warn({ room, err: (error as Error).message }, 'could not look up the origin of a room');
        fail({ status: 502, message: 'the cluster directory is not available' });
      },
    );
  }

  async #pipe(req: Request, res: Response, url: URL, node: string, fail: (error: { status: number; message: string }) => void): Promise<void> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.#options.upstreamTimeoutMs ?? UPSTREAM_TIMEOUT_MS);
    const onClientGone = (): void => controller.abort();
    res.once('close', onClientGone);
    // An explicit cache-control: fetch would add `no-cache` to a conditional request, and the origin answer 200 instead of 304.
    const headers: Record<string, string> = { [HOP_HEADER]: '1', 'accept-encoding': 'identity', 'cache-control': 'max-age=0' };
    const clientIp = req.ip ?? req.socket.remoteAddress;
    if (clientIp) headers[CLIENT_IP_HEADER] = clientIp;
    for (const name of FORWARDED_REQUEST_HEADERS) {
      const value = req.headers[name];
      if (typeof value === 'string') headers[name] = value;
    }
    let upstream: globalThis.Response;
    try {
      upstream = await fetch(url, { method: req.method, headers, signal: controller.signal, redirect: 'manual' });
    } catch (error) {
      clearTimeout(timer);
      res.off('close', onClientGone);
      if (res.destroyed || res.writableEnded) return;
      this.#log.warn({ node, url: url.pathname, err: (error as Error).message, timedOut }, 'HLS request to the origin node failed');
      fail(
        timedOut
          ? { status: 504, message: `the origin node ${node} did not answer in time` }
          : { status: 502, message: `the origin node ${node} is not reachable` },
      );
      return;
    } finally {
      clearTimeout(timer);
    }
    res.status(upstream.status);
    for (const name of FORWARDED_RESPONSE_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) res.setHeader(name, value);
    }
    if (!upstream.body || req.method === 'HEAD') {
      res.off('close', onClientGone);
      res.end();
      return;
    }
    // Streamed as it arrives: a segment is never held whole in memory here.
    const body = Readable.fromWeb(upstream.body as import('node:stream/web').ReadableStream<Uint8Array>);
    body.on('error', () => res.destroy());
    body.on('end', () => res.off('close', onClientGone));
    body.pipe(res);
  }
}
