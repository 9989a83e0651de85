/**
 * HTTP delivery of the HLS output, as an express Router to mount at `/hls`:
 *
 *   GET /hls/:room/index.m3u8               master (multivariant) playlist
 *   GET /hls/:room/:rendition/index.m3u8    media playlist, with blocking reload
 *                                           (_HLS_msn / _HLS_part; _HLS_skip ignored,
 *                                           CAN-SKIP-UNTIL is never advertised)
 *   GET /hls/:room/:rendition/<file>        init sections, parts, segments
 *   OPTIONS *                               CORS preflight
 *
 * Security: room, rendition and file names are checked against strict
 * whitelists (after express decoded them, so %2e%2e / ..%2f arrive as '..'
 * and '../' and fail), and the resolved path must lie inside the HLS root.
 * A symbolic link on the way (room or rendition folder, or the file itself)
 * is never followed: it answers 404 like a missing file (hlsDirSafety.ts).
 * Anything invalid is 400, anything absent 404; nothing outside the root is
 * ever opened. A master request for a live room whose renditions are still
 * starting is held until a player can start from it (every listed rendition
 * has a complete segment; up to masterWaitTimeoutMs), and a media playlist
 * request (no directives) until its first segment is complete (up to three
 * target durations), so a player opened at go-live starts at once instead of
 * on retry timers. A master that cannot be made in that time answers 503 with
 * Retry-After (players retry 5xx, not 4xx).
 *
 * Blocking reload (RFC 8216bis §6.2.5.2): `_HLS_msn=M[&_HLS_part=N]` is held
 * until the playlist has that part (a part index past the end of segment M
 * means part 0 of M+1) or, without `_HLS_part`, the whole segment M; 400 if M
 * is more than two segments ahead or N more than the Advance Part Limit ahead;
 * 503 after three target durations. Ignored once the playlist has ENDLIST.
 * A request for the preload-hinted next part is likewise held until it exists.
 *
 * Headers: playlists `application/vnd.apple.mpegurl`; init sections, parts and
 * segments `video/mp4` (the type every player and CDN knows for fMP4;
 * `video/iso.segment` is more precise for .m4s but less widely recognised).
 * CORS `Access-Control-Allow-Origin: *` and `Cross-Origin-Resource-Policy:
 * cross-origin` (helmet's default same-origin CORP would stop no-cors media
 * loads from other sites). Caching for a CDN in front:
 *   - media files: `public, max-age=31536000, immutable` (names are unique per stream);
 *   - live playlist: `public, max-age=1`;
 *   - blocking-reload response: `public, max-age=6` (keyed by its query, and it
 *     remains a valid answer to that query);
 *   - ended playlist (EXT-X-ENDLIST): `public, max-age=30` (not longer: a new
 *     stream in the same room reuses the URL);
 *   - master: `public, max-age=2`;
 *   - errors: `no-store` (a cached 404 of a part about to exist would be fatal).
 */
import fsp from 'node:fs/promises';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { isPlainFileUnder } from './hlsDirSafety.js';
import { MIRROR_HEADER } from './mirror/leaderClient.js';
import { waitForMaster } from './publishWaits.js';
import { advancePartLimit } from './llHlsPlaylist.js';
import { PACKAGER_FILE_PATTERN, PLAYLIST_FILE } from './packagerFiles.js';
import { MASTER_PLAYLIST_FILE, RENDITION_NAME_PATTERN, ROOM_NAME_PATTERN, masterPlaylistFor } from './roomPackager.js';
import type { ServedRendition, ServedRenditions } from './servedRendition.js';

export const PLAYLIST_CONTENT_TYPE = 'application/vnd.apple.mpegurl';
export const MEDIA_CONTENT_TYPE = 'video/mp4';

export const CACHE_MEDIA = 'public, max-age=31536000, immutable';
export const CACHE_LIVE_PLAYLIST = 'public, max-age=1';
export const CACHE_BLOCKING_PLAYLIST = 'public, max-age=6';
export const CACHE_ENDED_PLAYLIST = 'public, max-age=30';
export const CACHE_MASTER = 'public, max-age=2';
export const CACHE_ERROR = 'no-store';

export interface HlsRoutesOptions {
  /** The HLS root: files live in `<root>/<room>/<rendition>/`. */
  root: string;
  /** The live renditions of a room by name, if the room is live: its packagers, or the mirror of another origin's (servedRendition.ts). */
  lookup: (room: string) => ServedRenditions | undefined;
  /** Longest blocking wait. Default: 3 target durations of the rendition. */
  blockTimeoutMs?: number;
  /** How long a request for the hinted next part may wait. Default: 3 target durations. */
  partWaitTimeoutMs?: number;
  /** How long a master request for a live room whose renditions are starting is held. Default MASTER_WAIT_TIMEOUT_MS. */
  masterWaitTimeoutMs?: number;
  /** Rewrites a master before it is sent (content steering: contentSteeringRouter.ts). */
  steerMaster?: (room: string, master: string) => Promise<string>;
}

/** Below hls.js's time-to-first-byte limit for manifests (client HLS_CONFIG: 8 s), so a 503 still arrives. */
export const MASTER_WAIT_TIMEOUT_MS = 6_000;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const DIRECTIVE_VALUE = /^\d{1,10}$/;

function queryInt(req: Request, name: string): number | undefined {
  const raw = (req.query as Record<string, unknown>)[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== 'string' || !DIRECTIVE_VALUE.test(raw)) throw new HttpError(400, `${name} must be a decimal integer`);
  return Number(raw);
}

function setCors(res: Response): void {
  res.set({
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': 'Content-Length, Content-Range, Age, Date, ETag',
    'Cross-Origin-Resource-Policy': 'cross-origin',
  });
}

function sendError(res: Response, status: number, message: string): void {
  if (res.headersSent) return;
  res.status(status).set('Cache-Control', CACHE_ERROR).type('text/plain').send(`${message}\n`);
}

export function createHlsRouter(options: HlsRoutesOptions): Router {
  const root = path.resolve(options.root);
  const router = express.Router({ caseSensitive: true, strict: true });

  /** Resolves a validated path and double-checks it stays inside the root. */
  const resolveInside = (...segments: string[]): string => {
    const resolved = path.resolve(root, ...segments);
    if (!resolved.startsWith(root + path.sep)) throw new HttpError(400, 'bad path');
    return resolved;
  };

  const checkRoom = (room: string | undefined): string => {
    if (!room || !ROOM_NAME_PATTERN.test(room)) throw new HttpError(400, 'bad room name');
    return room;
  };

  router.use((req, res, next) => {
    setCors(res);
    if (req.method === 'OPTIONS') {
      res
        .status(204)
        .set({
          'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
          'Access-Control-Allow-Headers': 'Range, If-None-Match, If-Modified-Since, Cache-Control',
          'Access-Control-Max-Age': '86400',
          'Cache-Control': 'public, max-age=86400',
        })
        .end();
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.set('Allow', 'GET, HEAD, OPTIONS');
      sendError(res, 405, 'method not allowed');
      return;
    }
    next();
  });

  router.get('/:room/index.m3u8', async (req, res) => {
    const room = checkRoom(req.params.room);
    const packagers = options.lookup(room);
    let text: string | undefined;
    if (packagers && Object.values(packagers).some((p) => !p.closed)) {
      text = startableMaster(packagers);
      if (text === undefined) {
        // Starting: hold the request until a player can start from the master (one opened at go-live starts at once).
        const gone = new AbortController();
        res.once('close', () => gone.abort());
        const current = () => Object.values(options.lookup(room) ?? {}).filter((p) => !p.closed);
        text = await waitForMaster(() => startableMaster(options.lookup(room)), current, options.masterWaitTimeoutMs ?? MASTER_WAIT_TIMEOUT_MS, gone.signal);
        // Held long enough: what there is beats a 503.
        const now = options.lookup(room);
        text ??= now ? masterPlaylistFor(now) : undefined;
      }
      if (text === undefined) {
        res.set('Retry-After', '1');
        sendError(res, 503, 'stream is starting');
        return;
      }
    } else {
      text = await readPlainFile(root, resolveInside(room, MASTER_PLAYLIST_FILE));
      if (text === undefined) {
        sendError(res, 404, 'no such stream');
        return;
      }
    }
    // A follower mirrors the plain master (its variants by rendition URI); players get the steered one.
    if (options.steerMaster && req.get(MIRROR_HEADER) === undefined) text = await options.steerMaster(room, text);
    sendPlaylist(res, text, CACHE_MASTER);
  });

  router.get('/:room/:rendition/:file', async (req, res) => {
    const room = checkRoom(req.params.room);
    const rendition = req.params.rendition;
    const file = req.params.file;
    if (!rendition || !RENDITION_NAME_PATTERN.test(rendition)) throw new HttpError(400, 'bad rendition name');
    if (!file || !PACKAGER_FILE_PATTERN.test(file)) throw new HttpError(400, 'bad file name');
    const dir = resolveInside(room, rendition);
    const absolute = resolveInside(room, rendition, file);
    const packager = livePackager(options.lookup(room), rendition);

    if (file === PLAYLIST_FILE) {
      await servePlaylist(req, res, absolute, packager);
      return;
    }

    let exists = await isPlainFileUnder(root, absolute);
    if (!exists && packager) {
      // A request for the hinted next part is held until the part exists.
      const timeout = options.partWaitTimeoutMs ?? 3 * packager.status().targetDuration * 1000;
      if (await packager.waitForFile(file, timeout)) exists = await isPlainFileUnder(root, absolute);
    }
    if (!exists) {
      // 410: an object of this stream that fell out of the window will never come back (a CDN may stop asking).
      if (packager?.wasRemoved(file)) sendError(res, 410, 'gone: behind the playlist window');
      else sendError(res, 404, 'not found');
      return;
    }
    await new Promise<void>((resolve, reject) => {
      res.sendFile(
        file,
        {
          root: dir,
          dotfiles: 'deny',
          // A media object's name is unique and its bytes never change, and a redundant origin
          // serves the same bytes under the same name: the name is a strong validator that both
          // origins share (the mtime-based default differs between them).
          headers: { 'Content-Type': MEDIA_CONTENT_TYPE, 'Cache-Control': CACHE_MEDIA, ETag: `"${file}"` },
          etag: false,
          lastModified: false,
          cacheControl: false,
        },
        (error) => {
          if (!error) {
            resolve();
            return;
          }
          const status = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode;
          if (status === 404) sendError(res, 404, 'not found');
          else if (!res.headersSent) {
            reject(error);
            return;
          }
          resolve();
        },
      );
    });
  });

  async function servePlaylist(req: Request, res: Response, absolute: string, packager: ServedRendition | undefined): Promise<void> {
    const msn = queryInt(req, '_HLS_msn');
    const part = queryInt(req, '_HLS_part');
    if (part !== undefined && msn === undefined) throw new HttpError(400, '_HLS_part needs _HLS_msn');
    const skip = (req.query as Record<string, unknown>)['_HLS_skip'];
    if (skip !== undefined && skip !== 'YES' && skip !== 'v2') throw new HttpError(400, '_HLS_skip must be YES or v2');

    let blocking = false;
    if (packager && msn === undefined && !packager.ended && packager.status().lastCompleteMsn < 0) {
      // Nothing a player can start from yet (see startableMaster): hold until the first segment is complete.
      const status = packager.status();
      const timeout = options.blockTimeoutMs ?? 3 * status.targetDuration * 1000;
      await packager.waitFor(Math.max(0, status.lastMsn, status.mediaSequence), undefined, timeout);
    } else if (packager && msn !== undefined && !packager.ended) {
      const status = packager.status();
      const problem = directiveProblem(status.lastMsn, status.lastPart, status.partTarget, msn, part);
      if (problem) throw new HttpError(400, problem);
      blocking = true;
      const timeout = options.blockTimeoutMs ?? 3 * status.targetDuration * 1000;
      const ok = await packager.waitFor(msn, part, timeout);
      if (!ok) {
        res.set('Retry-After', '1');
        sendError(res, 503, `_HLS_msn=${msn}${part === undefined ? '' : ` _HLS_part=${part}`} not available in time`);
        return;
      }
    }
    // A live packager's own playlist (what it last renamed into place); the
    // disk copy only when no packager runs the room (ended, or another process).
    const text = packager ? packager.playlist : await readPlainFile(root, absolute);
    if (text === undefined) {
      if (packager) {
        res.set('Retry-After', '1');
        sendError(res, 503, 'stream is starting');
      } else {
        sendError(res, 404, 'no such playlist');
      }
      return;
    }
    const ended = text.includes('#EXT-X-ENDLIST');
    const cache = ended ? CACHE_ENDED_PLAYLIST : blocking ? CACHE_BLOCKING_PLAYLIST : CACHE_LIVE_PLAYLIST;
    sendPlaylist(res, text, cache);
  }

  router.use((_req, res) => {
    sendError(res, 404, 'not found');
  });

  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (error instanceof HttpError) {
      sendError(res, error.status, error.message);
      return;
    }
    // Malformed percent-encoding in the path (express: 400 URIError).
    const status = (error as { status?: number } | null)?.status;
    if (status === 400 || error instanceof URIError) {
      sendError(res, 400, 'bad request');
      return;
    }
    next(error);
  });

  return router;
}

/**
 * The master once a player can start from it: every rendition it lists has a
 * complete segment. hls.js (1.7) counts a media playlist holding only parts
 * of an unfinished segment as empty (LEVEL_EMPTY_ERROR) and reloads it with
 * backoff (0.5 s, then 1 s…), which cost about 1.5 s at go-live; waiting here
 * for the rest of the first segment costs less than one segment.
 */
function startableMaster(packagers: ServedRenditions | undefined): string | undefined {
  if (!packagers) return undefined;
  const text = masterPlaylistFor(packagers);
  if (text === undefined) return undefined;
  const listed = Object.values(packagers).filter((p) => !p.closed && p.readySince !== undefined);
  return listed.every((p) => p.ended || p.status().lastCompleteMsn >= 0) ? text : undefined;
}

/** As a Buffer, so express does not append '; charset=utf-8' to the playlist type. */
function sendPlaylist(res: Response, text: string, cacheControl: string): void {
  res.status(200).set({ 'Content-Type': PLAYLIST_CONTENT_TYPE, 'Cache-Control': cacheControl }).send(Buffer.from(text, 'utf8'));
}

function livePackager(packagers: ServedRenditions | undefined, rendition: string): ServedRendition | undefined {
  if (!packagers || !Object.hasOwn(packagers, rendition)) return undefined;
  const packager = packagers[rendition];
  return packager && !packager.closed ? packager : undefined;
}

/**
 * Why a blocking request is refused (400), per RFC 8216bis §6.2.5.2: msn more
 * than two segments past the last one, or the part more than the Advance Part
 * Limit past the last part.
 */
export function directiveProblem(lastMsn: number, lastPart: number, partTarget: number | undefined, msn: number, part: number | undefined): string | undefined {
  if (msn > lastMsn + 2) return `_HLS_msn=${msn} is more than two segments ahead of ${Math.max(lastMsn, -1)}`;
  if (part !== undefined && partTarget !== undefined) {
    const limit = advancePartLimit(partTarget);
    const ahead = msn === lastMsn ? part - lastPart : msn > lastMsn ? part + 1 : 0;
    if (ahead > limit) return `_HLS_part=${part} is more than ${limit.toFixed(1)} parts ahead`;
  }
  return undefined;
}

/** The text of a regular file under `root` reached without links; undefined if there is none. */
async function readPlainFile(root: string, file: string): Promise<string | undefined> {
  if (!(await isPlainFileUnder(root, file))) return undefined;
  try {
    return await fsp.readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}
