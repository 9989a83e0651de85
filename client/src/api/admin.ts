/**
 * The operator APIs the dashboard reads, parsed defensively (a missing or odd
 * field becomes null / 0 / empty, never an exception that blanks the page):
 *
 *   GET /api/admin/overview      (admin token)  → Overview
 *   GET /api/admin/alerts        (admin token)  → { active, history }
 *   GET /api/rooms/:room/stats   (public)       → RoomStats
 *   socket.io namespace /admin   (auth: { token }) → 'overview' every 2 s, 'alert' on fire/resolve
 */

export type AlertRule = 'stream_stalled' | 'low_bitrate' | 'high_loss' | 'worker_died' | 'hls_stale' | 'viewer_drop' | string;

export interface Alert {
  id: string;
  rule: AlertRule;
  severity: 'warning' | 'critical';
  room: string | null;
  worker: number | null;
  state: 'firing' | 'resolved';
  message: string;
  value: number | null;
  /** ms epoch */
  firedAt: number | null;
  resolvedAt: number | null;
}

export interface WorkerLoad {
  index: number;
  alive: boolean;
  pid: number | null;
  /** Fraction of one core (1 = a whole core). */
  cpu: number | null;
  memoryBytes: number | null;
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
  restarts: number;
}

export interface RoomHistoryPoint {
  t: number;
  bitrateInBps: number | null;
  bitrateOutBps: number | null;
  viewers: number | null;
  lossPercent: number | null;
}

export interface RoomStats {
  id: string;
  live: boolean;
  since: number | null;
  video: { bitrateBps: number | null; fps: number | null; width: number | null; height: number | null; codec: string | null; score: number | null };
  audio: { bitrateBps: number | null };
  lossPercent: number | null;
  rttMs: number | null;
  jitterMs: number | null;
  viewers: { webrtc: number; hls: number };
  joins: number | null;
  leaves: number | null;
  watchTimeSeconds: number | null;
  qoe: {
    sessions: number;
    freezesPerMinute: number | null;
    droppedFramesPercent: number | null;
    jitterBufferDelayMs: number | null;
    latencyMs: number | null;
    firstFrameMsP50: number | null;
  };
  hls: { available: boolean; url: string | null; playlistAgeSeconds: number | null };
  thumbnail: string | null;
  alerts: Alert[];
  history: RoomHistoryPoint[];
}

export interface Overview {
  /** ms epoch of the snapshot (the client's clock when absent). */
  at: number;
  workers: WorkerLoad[];
  totals: { rooms: number; publishers: number; webrtcViewers: number; hlsViewers: number; bitrateInBps: number; bitrateOutBps: number };
  rooms: RoomStats[];
  alerts: { active: Alert[]; recent: Alert[] };
  webhooks: { endpoints: Array<{ url: string; ok: boolean | null; lastError: string | null; delivered: number; failed: number }> };
}

/** An API answer that is not 2xx; `code` is the server's error code when it sent one. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The token is the problem (missing, invalid, expired or not an admin's). */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

type Rec = Record<string, unknown>;

const REQUEST_TIMEOUT_MS = 5_000;

function rec(value: unknown): Rec {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Rec) : {};
}

function num(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

function count(value: unknown): number {
  return num(value) ?? 0;
}

function str(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** ms epoch from a number or an ISO string. */
function time(value: unknown): number | null {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string') {
    const parsed = Date.parse(value);
    return Number.isFinite(parsed) ? parsed : null;
  }
  return null;
}

function list<T>(value: unknown, parse: (item: unknown) => T | null): T[] {
  return Array.isArray(value) ? value.map(parse).filter((item): item is T => item !== null) : [];
}

/** Only same-origin paths: the CSP allows nothing else anyway. */
function localPath(value: unknown): string | null {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') ? value : null;
}

export function parseAlert(value: unknown): Alert | null {
  const a = rec(value);
  const id = str(a['id']);
  const rule = str(a['rule']);
  if (!id || !rule) return null;
  return {
    id,
    rule,
    severity: a['severity'] === 'critical' ? 'critical' : 'warning',
    room: str(a['room']),
    worker: num(a['worker']),
    state: a['state'] === 'resolved' ? 'resolved' : 'firing',
    message: str(a['message']) ?? rule,
    value: num(a['value']),
    firedAt: time(a['firedAt']),
    resolvedAt: time(a['resolvedAt']),
  };
}

function parseWorker(value: unknown, position: number): WorkerLoad {
  const w = rec(value);
  return {
    index: num(w['index']) ?? position,
    alive: w['alive'] !== false,
    pid: num(w['pid']),
    cpu: num(w['cpu']),
    memoryBytes: num(w['memoryBytes']),
    routers: count(w['routers']),
    transports: count(w['transports']),
    producers: count(w['producers']),
    consumers: count(w['consumers']),
    restarts: count(w['restarts']),
  };
}

function parseHistoryPoint(value: unknown): RoomHistoryPoint | null {
  const p = rec(value);
  const t = time(p['t']);
  if (t === null) return null;
  return { t, bitrateInBps: num(p['bitrateInBps']), bitrateOutBps: num(p['bitrateOutBps']), viewers: num(p['viewers']), lossPercent: num(p['lossPercent']) };
}

export function parseRoomStats(value: unknown): RoomStats | null {
  const r = rec(value);
  const id = str(r['id']);
  if (!id) return null;
  const video = rec(r['video']);
  const audio = rec(r['audio']);
  const viewers = rec(r['viewers']);
  const qoe = rec(r['qoe']);
  const hls = rec(r['hls']);
  return {
    id,
    live: r['live'] === true,
    since: time(r['since']),
    video: {
      bitrateBps: num(video['bitrateBps']),
      fps: num(video['fps']),
      width: num(video['width']),
      height: num(video['height']),
      codec: str(video['codec']),
      score: num(video['score']),
    },
    audio: { bitrateBps: num(audio['bitrateBps']) },
    lossPercent: num(r['lossPercent']),
    rttMs: num(r['rttMs']),
    jitterMs: num(r['jitterMs']),
    viewers: { webrtc: count(viewers['webrtc']), hls: count(viewers['hls']) },
    joins: num(r['joins']),
    leaves: num(r['leaves']),
    watchTimeSeconds: num(r['watchTimeSeconds']),
    qoe: {
      sessions: count(qoe['sessions']),
      freezesPerMinute: num(qoe['freezesPerMinute']),
      droppedFramesPercent: num(qoe['droppedFramesPercent']),
      jitterBufferDelayMs: num(qoe['jitterBufferDelayMs']),
      latencyMs: num(qoe['latencyMs']),
      firstFrameMsP50: num(qoe['firstFrameMsP50']),
    },
    hls: { available: hls['available'] === true, url: str(hls['url']), playlistAgeSeconds: num(hls['playlistAgeSeconds']) },
    thumbnail: localPath(r['thumbnail']),
    alerts: list(r['alerts'], parseAlert),
    history: list(r['history'], parseHistoryPoint).sort((a, b) => a.t - b.t),
  };
}

export function parseOverview(value: unknown): Overview {
  const o = rec(value);
  const totals = rec(o['totals']);
  const alerts = rec(o['alerts']);
  const webhooks = rec(o['webhooks']);
  return {
    at: time(o['at']) ?? Date.now(),
    workers: Array.isArray(o['workers']) ? o['workers'].map(parseWorker).sort((a, b) => a.index - b.index) : [],
    totals: {
      rooms: count(totals['rooms']),
      publishers: count(totals['publishers']),
      webrtcViewers: count(totals['webrtcViewers']),
      hlsViewers: count(totals['hlsViewers']),
      bitrateInBps: count(totals['bitrateInBps']),
      bitrateOutBps: count(totals['bitrateOutBps']),
    },
    rooms: list(o['rooms'], parseRoomStats),
    alerts: { active: list(alerts['active'], parseAlert), recent: list(alerts['recent'], parseAlert) },
    webhooks: {
      endpoints: list(webhooks['endpoints'], (item) => {
        const e = rec(item);
        const url = str(e['url']);
        if (!url) return null;
        return {
          url,
          ok: typeof e['ok'] === 'boolean' ? e['ok'] : null,
          lastError: str(e['lastError']),
          delivered: count(e['delivered']),
          failed: count(e['failed']),
        };
      }),
    },
  };
}

async function getJson(path: string, token: string | null, signal: AbortSignal): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['authorization'] = `Bearer ${token}`;
  const response = await fetch(path, { cache: 'no-store', headers, signal });
  if (!response.ok) {
    let code = `HTTP_${response.status}`;
    let message = `server answered ${response.status}`;
    try {
      const error = rec(rec(await response.json())['error']);
      code = str(error['code']) ?? code;
      message = str(error['message']) ?? message;
    } catch {
      // not JSON
    }
    throw new ApiError(response.status, code, message);
  }
  return response.json();
}

export async function fetchOverview(token: string, signal: AbortSignal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<Overview> {
  return parseOverview(await getJson('/api/admin/overview', token, signal));
}

export async function fetchAlerts(
  token: string,
  signal: AbortSignal = AbortSignal.timeout(REQUEST_TIMEOUT_MS),
): Promise<{ active: Alert[]; history: Alert[] }> {
  const body = rec(await getJson('/api/admin/alerts', token, signal));
  return { active: list(body['active'], parseAlert), history: list(body['history'], parseAlert) };
}

export async function fetchRoomStats(room: string, signal: AbortSignal = AbortSignal.timeout(REQUEST_TIMEOUT_MS)): Promise<RoomStats> {
  const stats = parseRoomStats(await getJson(`/api/rooms/${encodeURIComponent(room)}/stats`, null, signal));
  if (!stats) throw new ApiError(200, 'BAD_RESPONSE', 'unexpected answer from the room stats API');
  return stats;
}
