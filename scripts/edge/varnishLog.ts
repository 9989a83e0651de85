/**
 * The Varnish edge's access log: what `varnishncsa -c -b -F VARNISH_LOG_FORMAT`
 * writes (one line per client request and one per backend fetch), turned into
 * the nginx edge's entries (accessLog.ts), so that `collapseFigures` and the
 * tests read both edges alike.
 *
 * Varnish logs a client request and the origin fetch it caused as separate
 * transactions: the client's `Link` names its fetch, a fetch's `Link` names
 * its retry (a new transaction per origin tried). Each fetch chain is folded
 * into the client request that started it (a miss, or a stale hit whose
 * background refresh it was); its last transaction logs every origin tried
 * (`upstreams`) and their answers (`ustatus`, "-" when an origin did not answer:
 * refused, reset or timed out). A fetch that no client line names (its client
 * line was not logged) is kept as an entry of its own, so that origin requests
 * are never undercounted.
 */
import type { EdgeLogEntry } from './accessLog.js';

/** varnishncsa -F: tab-separated, see `parseVarnishLog`. std.log() values come from deploy/varnish/floodlight-edge.vcl. */
export const VARNISH_LOG_FORMAT = [
  '%{Varnish:side}x',
  '%{Varnish:vxid}x',
  '%{VSL:Link[2]}x',
  '%{sec}t.%{msec_frac}t',
  '%D',
  '%m',
  '%U%q',
  '%s',
  '%b',
  '%{Varnish:handling}x',
  '%{X-Edge-Cache}o',
  '%{VCL_Log:key}x',
  '%{VCL_Log:upstreams}x',
  '%{VCL_Log:ustatus}x',
].join('\\t');

/** Requests for this path are answered by the edge itself (vcl_recv) and never logged as entries. */
export const LOG_MARK_PATH = '/.floodlight-edge/log-mark/';

interface Line {
  side: 'c' | 'b';
  vxid: string;
  link: string;
  startSeconds: number;
  durationSeconds: number;
  method: string;
  uri: string;
  status: number;
  bytes: number;
  handling: string;
  cache: string;
  key: string;
  upstreams: string[];
  upstreamStatuses: string[];
}

const words = (value: string | undefined): string[] => (value ?? '').split(' ').filter((w) => w && w !== '-');

function parseLine(text: string, originNames: readonly string[]): Line | undefined {
  const f = text.split('\t');
  if (f.length !== 14 || (f[0] !== 'c' && f[0] !== 'b')) return undefined;
  const startSeconds = Number(f[3]);
  const durationUs = Number(f[4]);
  const status = Number(f[7]);
  if (!Number.isFinite(startSeconds) || !Number.isFinite(durationUs) || !Number.isInteger(status)) return undefined;
  // Pages and API fetches name their backend (origin_N); /hls fetches log addresses.
  const upstreams = words(f[12]).map((name) => {
    const index = /^origin_(\d+)(?:_unprobed)?$/.exec(name)?.[1];
    return index === undefined ? name : (originNames[Number(index)] ?? name);
  });
  return {
    side: f[0],
    vxid: f[1]!,
    link: f[2]!,
    startSeconds,
    durationSeconds: durationUs / 1e6,
    method: f[5]!,
    uri: f[6]!,
    status,
    bytes: Number(f[8]) || 0,
    handling: f[9]!,
    cache: f[10]!,
    key: f[11]!,
    upstreams,
    // "-" stays: an origin that gave no answer, one per origin tried.
    upstreamStatuses: (f[13] ?? '').split(' ').filter(Boolean),
  };
}

function entry(line: Line, fetch: Line | undefined): EdgeLogEntry {
  return {
    at: line.startSeconds + line.durationSeconds,
    method: line.method,
    uri: line.uri,
    status: line.status,
    bytes: line.bytes,
    requestSeconds: line.durationSeconds,
    // X-Edge-Cache (HIT, STALE, MISS, PASS); synth and pipe have none.
    cache: line.cache !== '-' && line.cache !== '' ? line.cache : line.handling.toUpperCase(),
    upstreams: fetch?.upstreams ?? [],
    upstreamStatuses: fetch?.upstreamStatuses ?? [],
    key: line.key || fetch?.key || line.uri,
  };
}

/**
 * Entries in log order of the client lines. `originNames[i]` is the address
 * of the VCL's backend origin_i (VarnishConfig.addresses).
 */
export function parseVarnishLog(text: string, originNames: readonly string[] = []): EdgeLogEntry[] {
  const clients: Line[] = [];
  const fetches = new Map<string, Line>();
  for (const raw of text.split('\n')) {
    const line = parseLine(raw, originNames);
    if (!line) continue;
    if (line.side === 'c') {
      if (!line.uri.startsWith(LOG_MARK_PATH)) clients.push(line);
    } else {
      fetches.set(line.vxid, line);
    }
  }
  const used = new Set<string>();
  /** The last transaction of the fetch chain starting at `vxid` (retries link onwards). */
  const lastOfChain = (vxid: string): Line | undefined => {
    let fetch = fetches.get(vxid);
    while (fetch) {
      used.add(fetch.vxid);
      const next = fetches.get(fetch.link);
      if (!next || used.has(next.vxid)) return fetch;
      fetch = next;
    }
    return undefined;
  };
  const entries = clients.map((client) => entry(client, client.link === '-' ? undefined : lastOfChain(client.link)));
  for (const fetch of fetches.values()) {
    if (used.has(fetch.vxid)) continue;
    const last = lastOfChain(fetch.vxid);
    if (last && last.upstreams.length > 0) entries.push(entry({ ...last, key: fetch.key || last.key, cache: '-', handling: '-' }, last));
  }
  return entries;
}
