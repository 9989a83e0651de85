/**
 * Secondary HLS audience signal at the origin: distinct (client IP, User-Agent)
 * pairs that fetched a playlist of a room within the last 15 s.
 *
 * It undercounts behind a CDN (the CDN fetches once for everyone) and
 * overcounts NATs with several players of one browser type as one; the
 * QoE beacons (QoeStore) are the primary estimate. Exposed as the
 * `floodlight_hls_origin_clients` metric only. Memory is bounded (clients per
 * room, rooms), and only rooms that exist are tracked.
 *
 * In a cluster a player's requests may reach the recording node through
 * another node's proxy (hls/hlsClusterProxy.ts). Only the recording node
 * counts (the server's `isKnownRoom` says "recorded here" in cluster mode):
 * it knows the room even when the proxying node has no such room, and a
 * player switching nodes stays one client. A forwarded request (hop header)
 * is counted by the player's address the proxy sends, not the proxy's.
 */
import { createHash } from 'node:crypto';
import type { Request, Response, NextFunction } from 'express';
import { CLIENT_IP_HEADER, HOP_HEADER } from '../hls/hlsClusterProxy.js';
import { MIRROR_HEADER } from '../hls/mirror/leaderClient.js';

export interface HlsAudienceOptions {
  /** Whether this node counts the room's players: it has the room (in a cluster: it records it). */
  isKnownRoom: (room: string) => boolean;
  now?: () => number;
  windowMs?: number;
  maxClientsPerRoom?: number;
  maxRooms?: number;
}

const PLAYLIST_PATH = /^\/([A-Za-z0-9_-]{1,64})\/(?:[a-z0-9]{1,16}\/)?index\.m3u8$/;

export class HlsAudience {
  readonly #options: HlsAudienceOptions;
  readonly #now: () => number;
  readonly #windowMs: number;
  readonly #rooms = new Map<string, Map<string, number>>();

  constructor(options: HlsAudienceOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#windowMs = options.windowMs ?? 15_000;
  }

  /** Express middleware for the /hls mount: records playlist requests, always calls next(). */
  readonly middleware = (req: Request, _res: Response, next: NextFunction): void => {
    // A redundant origin's follower pulling this node's playlists is not a player.
    if (req.method === 'GET' && req.headers[MIRROR_HEADER] === undefined) {
      const match = PLAYLIST_PATH.exec(req.path);
      if (match) this.record(match[1]!, playerAddress(req), req.headers['user-agent'] ?? '');
    }
    next();
  };

  record(room: string, ip: string, userAgent: string): void {
    if (!this.#options.isKnownRoom(room)) return;
    let clients = this.#rooms.get(room);
    if (!clients) {
      if (this.#rooms.size >= (this.#options.maxRooms ?? 1000)) return;
      clients = new Map();
      this.#rooms.set(room, clients);
    }
    const key = createHash('sha1').update(ip).update('\n').update(userAgent.slice(0, 256)).digest('base64');
    if (!clients.has(key) && clients.size >= (this.#options.maxClientsPerRoom ?? 20_000)) return;
    clients.delete(key);
    clients.set(key, this.#now());
  }

  clients(room: string): number {
    const clients = this.#rooms.get(room);
    if (!clients) return 0;
    const since = this.#now() - this.#windowMs;
    let n = 0;
    for (const seen of clients.values()) if (seen >= since) n++;
    return n;
  }

  total(): number {
    let n = 0;
    for (const room of this.#rooms.keys()) n += this.clients(room);
    return n;
  }

  /** Drops clients outside the window and empty rooms. */
  prune(): void {
    const since = this.#now() - this.#windowMs;
    for (const [room, clients] of this.#rooms) {
      // Insertion order is last-seen order: stop at the first recent one.
      for (const [key, seen] of clients) {
        if (seen >= since) break;
        clients.delete(key);
      }
      if (clients.size === 0) this.#rooms.delete(room);
    }
  }

  clear(): void {
    this.#rooms.clear();
  }
}

/** The player's address: the connection's, or for a request another node forwarded (hop header), the one it names. */
function playerAddress(req: Request): string {
  const forwardedFor = req.headers[HOP_HEADER] !== undefined ? req.headers[CLIENT_IP_HEADER] : undefined;
  return typeof forwardedFor === 'string' ? forwardedFor.slice(0, 64) : (req.ip ?? req.socket.remoteAddress ?? '');
}
