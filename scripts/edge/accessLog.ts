/**
 * The edge's access log (format `floodlight_edge` in
 * deploy/nginx/floodlight-edge.conf.template), parsed, and the figure the
 * edge exists for: origin requests per object.
 */

export interface EdgeLogEntry {
  /** Unix time in seconds (ms resolution), when the response finished. */
  at: number;
  method: string;
  uri: string;
  status: number;
  bytes: number;
  requestSeconds: number;
  /** HIT, MISS, EXPIRED, STALE, UPDATING, REVALIDATED, BYPASS, or '-' (not cacheable / not cached). */
  cache: string;
  /** Origins tried, in order ("-" entries dropped); empty when the cache answered. */
  upstreams: string[];
  upstreamStatuses: string[];
  /** The cache key: the object plus its _HLS_* directives. */
  key: string;
}

const LINE = /^edge (\d+\.\d+) "(\S+) (\S+)" (\d{3}) (\d+) rt=(\S+) cache=(\S+) upstream="([^"]*)" ustatus="([^"]*)" urt="[^"]*" key="([^"]*)"$/;

/** Splits nginx's "a, b : c" upstream lists (", " between tries, " : " between internal redirects). */
function splitList(value: string): string[] {
  return value
    .split(/\s*[,:]\s+/)
    .map((s) => s.trim())
    .filter((s) => s && s !== '-');
}

export function parseEdgeLogLine(line: string): EdgeLogEntry | undefined {
  const m = LINE.exec(line.trim());
  if (!m) return undefined;
  return {
    at: Number(m[1]),
    method: m[2]!,
    uri: m[3]!,
    status: Number(m[4]),
    bytes: Number(m[5]),
    requestSeconds: Number(m[6]),
    cache: m[7]!,
    upstreams: splitList(m[8]!),
    upstreamStatuses: splitList(m[9]!),
    key: m[10]!,
  };
}

export function parseEdgeLog(text: string): EdgeLogEntry[] {
  const entries: EdgeLogEntry[] = [];
  for (const line of text.split('\n')) {
    const entry = parseEdgeLogLine(line);
    if (entry) entries.push(entry);
  }
  return entries;
}

export type ObjectKind = 'playlist' | 'blocking-playlist' | 'master' | 'part' | 'segment' | 'init' | 'other';

/** What an /hls object is, from its cache key (file names: server/hls/packagerFiles.ts). */
export function objectKind(key: string): ObjectKind {
  const [pathname = '', query = ''] = key.split('?');
  if (!pathname.startsWith('/hls/')) return 'other';
  if (pathname.endsWith('.m3u8')) {
    if (pathname.split('/').length === 4) return 'master';
    return /msn=\d/.test(query) ? 'blocking-playlist' : 'playlist';
  }
  const file = pathname.slice(pathname.lastIndexOf('/') + 1);
  if (file.startsWith('init-')) return 'init';
  if (file.startsWith('part-')) return 'part';
  if (file.startsWith('seg-')) return 'segment';
  return 'other';
}

export interface CollapseFigures {
  /** Client requests the edge answered. */
  clientRequests: number;
  /** Requests the edge sent to an origin (each origin tried counts). */
  originRequests: number;
  /** Distinct objects (cache keys) fetched from an origin at least once. */
  objects: number;
  /** originRequests / objects: 1.0 is perfect collapsing. */
  originRequestsPerObject: number;
  /** The same per kind of object. */
  byKind: Partial<Record<ObjectKind, { clientRequests: number; originRequests: number; objects: number; perObject: number }>>;
  /** Objects fetched from an origin more than once, worst first (for diagnosis). */
  worst: Array<{ key: string; originRequests: number }>;
}

/**
 * Origin requests per object over the given /hls entries. A plain live
 * playlist legitimately returns to the origin once its 1 s max-age has
 * passed: per object here means per cache key *and* per second of validity,
 * so `perObject` of 1.0 for playlists means one origin fetch per expiry.
 */
export function collapseFigures(entries: readonly EdgeLogEntry[]): CollapseFigures {
  const hls = entries.filter((e) => e.uri.startsWith('/hls/'));
  const perKey = new Map<string, { kind: ObjectKind; client: number; origin: number; fetchSeconds: Set<number> }>();
  for (const entry of hls) {
    let item = perKey.get(entry.key);
    if (!item) {
      item = { kind: objectKind(entry.key), client: 0, origin: 0, fetchSeconds: new Set() };
      perKey.set(entry.key, item);
    }
    item.client++;
    item.origin += entry.upstreams.length;
    if (entry.upstreams.length > 0) item.fetchSeconds.add(Math.floor(entry.at));
  }
  const byKind: CollapseFigures['byKind'] = {};
  let origin = 0;
  let objects = 0;
  let client = 0;
  const worst: CollapseFigures['worst'] = [];
  for (const [key, item] of perKey) {
    client += item.client;
    if (item.origin === 0) continue;
    // A live playlist's versions: at most one per second of max-age.
    const versions = item.kind === 'playlist' || item.kind === 'master' ? Math.max(1, item.fetchSeconds.size) : 1;
    origin += item.origin;
    objects += versions;
    const kind = (byKind[item.kind] ??= { clientRequests: 0, originRequests: 0, objects: 0, perObject: 0 });
    kind.clientRequests += item.client;
    kind.originRequests += item.origin;
    kind.objects += versions;
    if (item.origin > versions) worst.push({ key, originRequests: item.origin });
  }
  for (const kind of Object.values(byKind)) kind.perObject = kind.objects ? kind.originRequests / kind.objects : 0;
  worst.sort((a, b) => b.originRequests - a.originRequests);
  return {
    clientRequests: client,
    originRequests: origin,
    objects,
    originRequestsPerObject: objects ? origin / objects : 0,
    byKind,
    worst: worst.slice(0, 10),
  };
}
