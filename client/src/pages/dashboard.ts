/**
 * /dashboard — the operators' view: workers, rooms, viewers, bitrate, loss,
 * alerts, webhooks, live, with a drill-down per room.
 *
 * Data flow:
 *   token      ?token=… (moved to sessionStorage, removed from the URL) or the token form
 *   first      GET /api/admin/overview (checks the token: 401/403 → the error state and the form)
 *              GET /api/admin/alerts   (alert history to start with)
 *   live       socket.io namespace /admin (auth: { token }): 'overview' every 2 s, 'alert' at once;
 *              whenever the socket has been silent > 3 s, GET /api/admin/overview every 2 s instead
 *   graphs     one point per overview snapshot, the last 5 min kept here (TimeChart)
 *   drill-down click a room → GET /api/rooms/<room>/stats every 2 s (history graph, QoE, thumbnail, alerts)
 *
 * Page states (main[data-state]): loading | ready | auth (no/bad token: form) | error (server unreachable
 * or without the operator API before any data arrived; retried).
 */
import { io, type Socket } from 'socket.io-client';
import {
  ApiError,
  fetchAlerts,
  fetchOverview,
  fetchRoomStats,
  parseAlert,
  parseOverview,
  type Alert,
  type Overview,
  type RoomStats,
  type WorkerLoad,
} from '../api/admin';
import { CHART_COLORS, TimeChart } from '../dashboard/timeChart';
import {
  DASH,
  formatAgo,
  formatBitrate,
  formatBytes,
  formatClock,
  formatDuration,
  formatMs,
  formatNumber,
  formatPercent,
  formatVideo,
} from '../dashboard/format';
import { byId, el, isValidRoomId, setVisible } from '../ui/dom';

declare global {
  interface Window {
    floodlightDashboard?: Record<string, unknown>;
  }
}

type PageState = 'loading' | 'ready' | 'auth' | 'error';
type ConnState = 'none' | 'socket' | 'polling' | 'offline';

const TOKEN_KEY = 'floodlight.adminToken';
const POLL_MS = 2_000;
/** The socket is considered silent (→ polling) after this long without an overview. */
const SOCKET_STALE_MS = 3_000;
const ROOM_POLL_MS = 2_000;
const RETRY_MS = 5_000;
const THUMBNAIL_REFRESH_MS = 3_000;
const MAX_RESOLVED_ALERTS = 50;
const RECENT_ALERTS_SHOWN = 15;

const RULE_TITLES: Record<string, string> = {
  stream_stalled: 'Stream stalled',
  low_bitrate: 'Low bitrate',
  high_loss: 'High packet loss',
  worker_died: 'Worker died',
  hls_stale: 'HLS playlist stale',
  viewer_drop: 'Viewers dropped',
};

const app = byId('app', HTMLElement);
const connText = byId('conn', HTMLSpanElement);
const updatedText = byId('updated', HTMLSpanElement);
const signOutButton = byId('sign-out', HTMLButtonElement);
const errorBox = byId('dash-error', HTMLParagraphElement);
const warningBox = byId('dash-warning', HTMLParagraphElement);
const tokenForm = byId('token-form', HTMLFormElement);
const tokenInput = byId('token-input', HTMLInputElement);
const loadingBox = byId('dash-loading', HTMLDivElement);
const content = byId('dash-content', HTMLDivElement);
const kpi = {
  rooms: byId('kpi-rooms', HTMLSpanElement),
  publishers: byId('kpi-publishers', HTMLSpanElement),
  webrtc: byId('kpi-webrtc', HTMLSpanElement),
  hls: byId('kpi-hls', HTMLSpanElement),
  bitrateIn: byId('kpi-in', HTMLSpanElement),
  bitrateOut: byId('kpi-out', HTMLSpanElement),
  loss: byId('kpi-loss', HTMLSpanElement),
  alerts: byId('kpi-alerts', HTMLSpanElement),
  alertsCard: byId('kpi-alerts-card', HTMLDivElement),
};
const workerList = byId('workers', HTMLUListElement);
const alertsCount = byId('alerts-count', HTMLSpanElement);
const activeAlertList = byId('alerts-active', HTMLUListElement);
const noActiveAlerts = byId('alerts-none', HTMLParagraphElement);
const recentAlertList = byId('alerts-recent', HTMLUListElement);
const noRecentAlerts = byId('alerts-recent-none', HTMLParagraphElement);
const roomsTable = byId('rooms-table', HTMLTableElement);
const roomsBody = byId('rooms-body', HTMLTableSectionElement);
const roomsEmpty = byId('rooms-empty', HTMLDivElement);
const detail = {
  panel: byId('room-detail', HTMLElement),
  title: byId('detail-title', HTMLHeadingElement),
  status: byId('detail-status', HTMLParagraphElement),
  watch: byId('detail-watch', HTMLAnchorElement),
  close: byId('detail-close', HTMLButtonElement),
  error: byId('detail-error', HTMLParagraphElement),
  thumb: byId('detail-thumb', HTMLDivElement),
  initial: byId('detail-initial', HTMLSpanElement),
  figures: byId('detail-figures', HTMLDListElement),
  alerts: byId('detail-alerts', HTMLUListElement),
  noAlerts: byId('detail-alerts-none', HTMLParagraphElement),
  chart: byId('chart-room', HTMLDivElement),
  lossChart: byId('chart-room-loss', HTMLDivElement),
};
const webhookList = byId('webhooks', HTMLUListElement);
const noWebhooks = byId('webhooks-none', HTMLParagraphElement);

// ------------------------------------------------------------------ token

function readStoredToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

function storeToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // storage disabled: the token lives as long as the page
  }
}

/** ?token= wins (and leaves the address bar and history at once); otherwise this tab's stored one. */
function takeToken(): string | null {
  const url = new URL(location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl !== null) {
    url.searchParams.delete('token');
    history.replaceState(history.state, '', `${url.pathname}${url.search}${url.hash}`);
    if (fromUrl.trim()) {
      storeToken(fromUrl.trim());
      return fromUrl.trim();
    }
  }
  return readStoredToken();
}

// ------------------------------------------------------------------ page state

let pageState: PageState = 'loading';
let connState: ConnState = 'none';

function setPageState(state: PageState, message?: string): void {
  pageState = state;
  app.dataset['state'] = state;
  setVisible(loadingBox, state === 'loading');
  setVisible(content, state === 'ready');
  setVisible(tokenForm, state === 'auth');
  setVisible(signOutButton, state === 'ready' || state === 'error');
  errorBox.textContent = message ?? '';
  setVisible(errorBox, !!message && (state === 'auth' || state === 'error'));
  if (state !== 'ready') setVisible(warningBox, false);
  if (state === 'auth') tokenInput.focus();
}

const CONN_TEXT: Record<ConnState, string> = {
  none: 'Not connected',
  socket: 'Live · pushed every 2 s',
  polling: 'Live push unavailable · polling every 2 s',
  offline: 'Connection lost · retrying…',
};

function setConnState(state: ConnState): void {
  if (state === connState) return;
  connState = state;
  connText.dataset['conn'] = state;
  connText.textContent = CONN_TEXT[state];
}

function warn(message: string | null): void {
  warningBox.textContent = message ?? '';
  setVisible(warningBox, !!message && pageState === 'ready');
}

/** The operator-facing explanation of a refused token. */
function describeAuthError(error: ApiError | { code: string; status?: number }): string {
  switch (error.code) {
    case 'FORBIDDEN':
      return "This token is not an admin token (the server answered 403 FORBIDDEN). Viewer and publisher tokens cannot open the dashboard; issue one with npm run token -- --room '*' --role admin.";
    case 'TOKEN_EXPIRED':
      return 'This admin token has expired (401 TOKEN_EXPIRED). Issue a new one.';
    case 'TOKEN_INVALID':
      return 'This token is not valid for this server (401 TOKEN_INVALID): wrong secret, or mangled when pasted.';
    case 'UNAUTHORIZED':
      return 'The server wants an admin token (401 UNAUTHORIZED).';
    default:
      return `The token was refused (${error.status ?? ''} ${error.code}).`.replace('( ', '(');
  }
}

// ------------------------------------------------------------------ charts

/** Axis/legend figures in Mbit/s: "12", "3.5", "0.25". */
function formatMbps(value: number): string {
  return value >= 10 ? value.toFixed(0) : String(Number(value.toFixed(2)));
}

const charts: Record<string, TimeChart> = {};

function createOverviewCharts(): void {
  if (charts['viewers']) return;
  charts['viewers'] = new TimeChart(byId('chart-viewers', HTMLDivElement), {
    series: [
      { label: 'WebRTC', color: CHART_COLORS[1]!, fill: true },
      { label: 'HLS', color: CHART_COLORS[0]!, fill: true },
    ],
    format: (v) => formatNumber(v),
    minMax: 4,
  });
  charts['bitrate'] = new TimeChart(byId('chart-bitrate', HTMLDivElement), {
    series: [
      { label: 'In', color: CHART_COLORS[0]!, fill: true },
      { label: 'Out', color: CHART_COLORS[2]!, fill: true },
    ],
    format: formatMbps,
    minMax: 1,
  });
  charts['loss'] = new TimeChart(byId('chart-loss', HTMLDivElement), {
    series: [
      { label: 'Worst room', color: CHART_COLORS[4]! },
      { label: 'Average', color: CHART_COLORS[0]!, dash: [4, 4] },
    ],
    format: (v) => v.toFixed(1),
    minMax: 2,
  });
}

/** One line per worker; rebuilt (history dropped) if the number of workers changes. */
function ensureCpuChart(workers: WorkerLoad[]): TimeChart {
  const container = byId('chart-cpu', HTMLDivElement);
  const existing = charts['cpu'];
  if (existing && container.dataset['workers'] === String(workers.length)) return existing;
  existing?.destroy();
  container.replaceChildren();
  container.dataset['workers'] = String(workers.length);
  const chart = new TimeChart(container, {
    series: workers.map((worker, i) => ({ label: `Worker ${worker.index}`, color: CHART_COLORS[(i + 2) % CHART_COLORS.length]! })),
    format: (v) => v.toFixed(0),
    minMax: 20,
  });
  charts['cpu'] = chart;
  return chart;
}

function lossFigures(rooms: RoomStats[]): { worst: number | null; average: number | null } {
  const values = rooms.filter((room) => room.live && room.lossPercent !== null).map((room) => room.lossPercent!);
  if (values.length === 0) return { worst: null, average: null };
  return { worst: Math.max(...values), average: values.reduce((a, b) => a + b, 0) / values.length };
}

function pushCharts(overview: Overview): void {
  createOverviewCharts();
  const t = overview.at;
  const { totals } = overview;
  charts['viewers']!.push(t, [totals.webrtcViewers, totals.hlsViewers]);
  charts['bitrate']!.push(t, [totals.bitrateInBps / 1e6, totals.bitrateOutBps / 1e6]);
  const loss = lossFigures(overview.rooms);
  // No live room: loss is 0 rather than a gap, so the line keeps going.
  charts['loss']!.push(t, [loss.worst ?? 0, loss.average ?? 0]);
  ensureCpuChart(overview.workers).push(
    t,
    overview.workers.map((worker) => (worker.alive && worker.cpu !== null ? worker.cpu * 100 : null)),
  );
}

// ------------------------------------------------------------------ overview rendering

let lastOverview: Overview | null = null;

function renderKpis(overview: Overview): void {
  const { totals } = overview;
  kpi.rooms.textContent = formatNumber(totals.rooms);
  kpi.publishers.textContent = `${formatNumber(totals.publishers)} live`;
  kpi.webrtc.textContent = formatNumber(totals.webrtcViewers);
  kpi.hls.textContent = formatNumber(totals.hlsViewers);
  kpi.bitrateIn.textContent = formatBitrate(totals.bitrateInBps);
  kpi.bitrateOut.textContent = formatBitrate(totals.bitrateOutBps);
  const loss = lossFigures(overview.rooms);
  kpi.loss.textContent = loss.worst === null ? DASH : formatPercent(loss.worst);
  const active = activeAlerts();
  kpi.alerts.textContent = String(active.length);
  kpi.alertsCard.dataset['level'] = active.some((a) => a.severity === 'critical') ? 'critical' : active.length > 0 ? 'warning' : 'ok';
}

function meter(fraction: number | null, label: string): HTMLElement {
  const fill = el('div', { className: 'meter-fill' });
  const value = fraction === null ? 0 : Math.max(0, Math.min(1, fraction));
  // CSSOM, not a style attribute: allowed by the CSP.
  fill.style.width = `${(value * 100).toFixed(1)}%`;
  fill.dataset['level'] = value >= 0.85 ? 'high' : value >= 0.6 ? 'mid' : 'low';
  return el(
    'div',
    {
      className: 'meter',
      attrs: { role: 'meter', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(value * 100)) },
    },
    [fill],
  );
}

function renderWorkers(workers: WorkerLoad[]): void {
  const items = workers.map((worker) => {
    const cpuText = worker.cpu === null ? DASH : `${Math.round(worker.cpu * 100)} %`;
    const stat = (label: string, value: string) =>
      el('div', { className: 'worker-stat' }, [
        el('span', { className: 'worker-stat-value', text: value }),
        el('span', { className: 'worker-stat-label', text: label }),
      ]);
    return el('li', { className: 'worker', attrs: { 'data-alive': String(worker.alive), 'data-worker': String(worker.index) } }, [
      el('div', { className: 'worker-head' }, [
        el('strong', { text: `Worker ${worker.index}` }),
        el('span', { className: `badge ${worker.alive ? 'badge-ok' : 'badge-critical'}`, text: worker.alive ? 'alive' : 'down' }),
        el('span', { className: 'muted small', text: worker.pid === null ? '' : `pid ${worker.pid}` }),
        el('span', { className: 'worker-cpu', text: `CPU ${cpuText}` }),
      ]),
      meter(worker.cpu, `Worker ${worker.index} CPU`),
      el('div', { className: 'worker-stats' }, [
        stat('consumers', formatNumber(worker.consumers)),
        stat('producers', formatNumber(worker.producers)),
        stat('transports', formatNumber(worker.transports)),
        stat('routers', formatNumber(worker.routers)),
        stat('memory', formatBytes(worker.memoryBytes)),
        stat('restarts', formatNumber(worker.restarts)),
      ]),
    ]);
  });
  workerList.replaceChildren(...items);
}

interface RoomRow {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
}

const roomRows = new Map<string, RoomRow>();

function roomRow(id: string): RoomRow {
  let row = roomRows.get(id);
  if (row) return row;
  const cells = Array.from({ length: 10 }, (_, i) => el('td', i >= 3 ? { className: 'num' } : {}));
  const tr = el('tr', { className: 'room-row', attrs: { 'data-room': id, tabindex: '0', role: 'button', 'aria-label': `Details of room ${id}` } }, cells);
  tr.addEventListener('click', () => selectRoom(id));
  tr.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      selectRoom(id);
    }
  });
  row = { tr, cells };
  roomRows.set(id, row);
  return row;
}

function renderRooms(rooms: RoomStats[]): void {
  const sorted = [...rooms].sort(
    (a, b) => Number(b.live) - Number(a.live) || b.viewers.webrtc + b.viewers.hls - (a.viewers.webrtc + a.viewers.hls) || a.id.localeCompare(b.id),
  );
  const seen = new Set<string>();
  const rows = sorted.map((room) => {
    seen.add(room.id);
    const row = roomRow(room.id);
    const [name, status, video, bitrate, webrtc, hls, loss, rtt, freezes, alerts] = row.cells as [HTMLTableCellElement, ...HTMLTableCellElement[]];
    name.replaceChildren(el('strong', { text: room.id }));
    const since = room.live && room.since !== null ? ` · ${formatDuration((Date.now() - room.since) / 1000)}` : '';
    status!.replaceChildren(
      el('span', { className: `badge ${room.live ? 'badge-live-dot' : 'badge-muted'}`, text: room.live ? 'live' : 'offline' }),
      document.createTextNode(since),
    );
    video!.textContent = room.live ? formatVideo(room.video) : DASH;
    bitrate!.textContent = room.live ? formatBitrate((room.video.bitrateBps ?? 0) + (room.audio.bitrateBps ?? 0)) : DASH;
    webrtc!.textContent = formatNumber(room.viewers.webrtc);
    hls!.textContent = formatNumber(room.viewers.hls);
    loss!.textContent = formatPercent(room.lossPercent);
    loss!.dataset['level'] =
      room.lossPercent !== null && room.lossPercent >= 5 ? 'critical' : room.lossPercent !== null && room.lossPercent >= 1 ? 'warning' : '';
    rtt!.textContent = formatMs(room.rttMs);
    freezes!.textContent = formatNumber(room.qoe.freezesPerMinute, 2);
    const firing = room.alerts.filter((a) => a.state === 'firing').length;
    alerts!.replaceChildren(firing > 0 ? el('span', { className: 'badge badge-critical', text: String(firing) }) : document.createTextNode('0'));
    row.tr.classList.toggle('is-selected', room.id === selectedRoom);
    row.tr.dataset['live'] = String(room.live);
    return row.tr;
  });
  for (const id of [...roomRows.keys()]) if (!seen.has(id)) roomRows.delete(id);
  roomsBody.replaceChildren(...rows);
  setVisible(roomsTable, rows.length > 0);
  setVisible(roomsEmpty, rows.length === 0);
}

function renderWebhooks(overview: Overview): void {
  const endpoints = overview.webhooks.endpoints;
  webhookList.replaceChildren(
    ...endpoints.map((endpoint) =>
      el('li', { className: 'webhook', attrs: { 'data-ok': String(endpoint.ok) } }, [
        el('span', {
          className: `badge ${endpoint.ok === false ? 'badge-critical' : endpoint.ok ? 'badge-ok' : 'badge-muted'}`,
          text: endpoint.ok === false ? 'failing' : endpoint.ok ? 'ok' : 'idle',
        }),
        el('code', { className: 'webhook-url', text: endpoint.url }),
        el('span', { className: 'muted small', text: `${endpoint.delivered} delivered · ${endpoint.failed} failed` }),
        ...(endpoint.lastError ? [el('span', { className: 'webhook-error small', text: endpoint.lastError })] : []),
      ]),
    ),
  );
  setVisible(noWebhooks, endpoints.length === 0);
}

function applyOverview(overview: Overview): void {
  // Socket and polling may both deliver the same snapshot, or an older one late.
  if (lastOverview && overview.at < lastOverview.at) return;
  lastOverview = overview;
  for (const alert of [...overview.alerts.recent, ...overview.alerts.active]) upsertAlert(alert);
  settleAlerts(overview);
  if (pageState !== 'ready') setPageState('ready');
  pushCharts(overview);
  renderKpis(overview);
  renderWorkers(overview.workers);
  renderRooms(overview.rooms);
  renderAlerts();
  renderWebhooks(overview);
  updatedText.textContent = `· updated ${formatClock(overview.at)}`;
}

// ------------------------------------------------------------------ alerts

const alertsById = new Map<string, Alert>();

function upsertAlert(alert: Alert): void {
  const previous = alertsById.get(alert.id);
  // A resolved alert never goes back to firing (a new firing is a new alert id).
  if (previous?.state === 'resolved' && alert.state === 'firing') return;
  alertsById.set(alert.id, alert);
}

/** The snapshot says what is active at its time: anything else that fired before then has resolved. */
function settleAlerts(overview: Overview): void {
  const active = new Set(overview.alerts.active.map((a) => a.id));
  for (const alert of alertsById.values()) {
    if (alert.state === 'firing' && !active.has(alert.id) && (alert.firedAt ?? 0) <= overview.at) {
      alertsById.set(alert.id, { ...alert, state: 'resolved' });
    }
  }
  const resolved = [...alertsById.values()].filter((a) => a.state === 'resolved').sort(byRecency);
  for (const old of resolved.slice(MAX_RESOLVED_ALERTS)) alertsById.delete(old.id);
}

function byRecency(a: Alert, b: Alert): number {
  return (b.resolvedAt ?? b.firedAt ?? 0) - (a.resolvedAt ?? a.firedAt ?? 0);
}

function activeAlerts(): Alert[] {
  return [...alertsById.values()]
    .filter((a) => a.state === 'firing')
    .sort((a, b) => Number(b.severity === 'critical') - Number(a.severity === 'critical') || (b.firedAt ?? 0) - (a.firedAt ?? 0));
}

function alertItem(alert: Alert): HTMLLIElement {
  const scope = [alert.room ? `room ${alert.room}` : null, alert.worker !== null ? `worker ${alert.worker}` : null].filter(Boolean).join(' · ');
  const when =
    alert.state === 'firing'
      ? `since ${formatClock(alert.firedAt)} (${formatAgo(alert.firedAt).replace(' ago', '')})`
      : `${formatClock(alert.firedAt)} → ${formatClock(alert.resolvedAt)}${alert.firedAt !== null && alert.resolvedAt !== null ? ` (${formatDuration((alert.resolvedAt - alert.firedAt) / 1000)})` : ''}`;
  return el(
    'li',
    { className: 'alert', attrs: { 'data-state': alert.state, 'data-severity': alert.severity, 'data-rule': alert.rule, 'data-alert': alert.id } },
    [
      el('div', { className: 'alert-head' }, [
        el('span', {
          className: `badge ${alert.state === 'resolved' ? 'badge-muted' : alert.severity === 'critical' ? 'badge-critical' : 'badge-warning'}`,
          text: alert.state === 'resolved' ? 'resolved' : alert.severity,
        }),
        el('strong', { text: RULE_TITLES[alert.rule] ?? alert.rule }),
        el('span', { className: 'muted small', text: scope }),
      ]),
      el('p', { className: 'alert-message', text: alert.message }),
      el('p', { className: 'alert-time muted small', text: when }),
    ],
  );
}

function renderAlerts(): void {
  const active = activeAlerts();
  const recent = [...alertsById.values()]
    .filter((a) => a.state === 'resolved')
    .sort(byRecency)
    .slice(0, RECENT_ALERTS_SHOWN);
  activeAlertList.replaceChildren(...active.map(alertItem));
  recentAlertList.replaceChildren(...recent.map(alertItem));
  setVisible(noActiveAlerts, active.length === 0);
  setVisible(noRecentAlerts, recent.length === 0);
  alertsCount.textContent = active.length > 0 ? `${active.length} active` : '';
  alertsCount.dataset['level'] = active.some((a) => a.severity === 'critical') ? 'critical' : active.length ? 'warning' : '';
  if (lastOverview) renderKpis(lastOverview);
}

function onAlertEvent(raw: unknown): void {
  const alert = parseAlert(raw);
  if (!alert) return;
  upsertAlert(alert);
  renderAlerts();
}

// ------------------------------------------------------------------ live feed

let token: string | null = null;
let socket: Socket | null = null;
let feedTimer: ReturnType<typeof setInterval> | null = null;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let lastSocketOverviewAt = 0;
let lastPollAt = 0;
let lastSuccessAt = 0;
let polling = false;
/** Bumped on every (re)start and sign-out: stale async answers are dropped. */
let generation = 0;

function stopFeed(): void {
  generation++;
  socket?.removeAllListeners();
  socket?.disconnect();
  socket = null;
  if (feedTimer) clearInterval(feedTimer);
  if (retryTimer) clearTimeout(retryTimer);
  feedTimer = retryTimer = null;
  polling = false;
  setConnState('none');
}

function authFailed(error: ApiError | { code: string; status?: number }): void {
  stopFeed();
  storeToken(null);
  token = null;
  tokenInput.value = '';
  setPageState('auth', describeAuthError(error));
}

/** First contact: validates the token and fills the page, then goes live. */
async function start(): Promise<void> {
  stopFeed();
  const current = ++generation;
  if (!token) {
    setPageState('auth');
    return;
  }
  if (pageState !== 'ready') setPageState('loading');
  try {
    const overview = await fetchOverview(token);
    if (current !== generation) return;
    lastSuccessAt = lastPollAt = Date.now();
    applyOverview(overview);
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof ApiError && error.isAuth) {
      authFailed(error);
      return;
    }
    const message =
      error instanceof ApiError && error.status === 404
        ? 'This server has no operator API (GET /api/admin/overview answered 404). Retrying…'
        : `Cannot reach the server (${error instanceof Error ? error.message : String(error)}). Retrying…`;
    if (pageState === 'ready') warn(message);
    else setPageState('error', message);
    setConnState('offline');
    retryTimer = setTimeout(() => void start(), RETRY_MS);
    return;
  }
  void loadAlertHistory(current);
  connectSocket(current);
  feedTimer = setInterval(() => feedTick(current), 1_000);
}

async function loadAlertHistory(current: number): Promise<void> {
  if (!token) return;
  try {
    const { active, history } = await fetchAlerts(token);
    if (current !== generation) return;
    for (const alert of [...history, ...active]) upsertAlert(alert);
    renderAlerts();
  } catch {
    // The overview carries active and recent alerts anyway.
  }
}

function connectSocket(current: number): void {
  const s = io('/admin', { auth: { token }, transports: ['websocket'], reconnectionDelay: 1_000, reconnectionDelayMax: 5_000 });
  socket = s;
  s.on('overview', (raw: unknown) => {
    if (current !== generation) return;
    lastSocketOverviewAt = lastSuccessAt = Date.now();
    setConnState('socket');
    warn(null);
    applyOverview(parseOverview(raw));
  });
  s.on('alert', (raw: unknown) => {
    if (current === generation) onAlertEvent(raw);
  });
  s.on('connect_error', (error: Error & { data?: unknown }) => {
    if (current !== generation) return;
    // message: UNAUTHORIZED | FORBIDDEN; data.code may say more (TOKEN_EXPIRED, TOKEN_INVALID).
    if (error.message === 'UNAUTHORIZED' || error.message === 'FORBIDDEN') {
      const detail = error.data && typeof error.data === 'object' ? (error.data as Record<string, unknown>)['code'] : undefined;
      authFailed({ code: typeof detail === 'string' ? detail : error.message, status: error.message === 'FORBIDDEN' ? 403 : 401 });
      return;
    }
    // Refused by a middleware: socket.io does not retry by itself.
    if (!s.active) setTimeout(() => current === generation && s.connect(), RETRY_MS);
  });
  s.on('disconnect', (reason) => {
    if (current !== generation) return;
    // The server closed the namespace socket (e.g. the token expired): try again; polling covers meanwhile.
    if (reason === 'io server disconnect') setTimeout(() => current === generation && s.connect(), POLL_MS);
  });
}

/** Every second: fall back to polling while the socket is silent; say how the page is fed. */
function feedTick(current: number): void {
  const now = Date.now();
  const socketLive = now - lastSocketOverviewAt <= SOCKET_STALE_MS;
  if (!socketLive && !polling && now - lastPollAt >= POLL_MS) void poll(current);
  if (socketLive) setConnState('socket');
  else if (now - lastSuccessAt <= SOCKET_STALE_MS + POLL_MS) setConnState('polling');
  else setConnState('offline');
}

async function poll(current: number): Promise<void> {
  if (!token) return;
  polling = true;
  lastPollAt = Date.now();
  try {
    const overview = await fetchOverview(token);
    if (current !== generation) return;
    lastSuccessAt = Date.now();
    warn(null);
    applyOverview(overview);
  } catch (error) {
    if (current !== generation) return;
    if (error instanceof ApiError && error.isAuth) {
      authFailed(error);
      return;
    }
    warn(`Cannot reach the server (${error instanceof Error ? error.message : String(error)}); showing the last data.`);
  } finally {
    if (current === generation) polling = false;
  }
}

// ------------------------------------------------------------------ room drill-down

let selectedRoom: string | null = null;
let roomTimer: ReturnType<typeof setTimeout> | null = null;
let roomGeneration = 0;
let roomThumb: { path: string | null; image: HTMLImageElement | null; loading: HTMLImageElement | null } = { path: null, image: null, loading: null };
/** Client-side points for a room whose stats carry no history. */
let roomLocalHistory: Array<{ t: number; values: Array<number | null> }> = [];

function roomCharts(): { main: TimeChart; loss: TimeChart } {
  if (!charts['room']) {
    charts['room'] = new TimeChart(detail.chart, {
      series: [
        { label: 'In', color: CHART_COLORS[0]!, fill: true },
        { label: 'Out', color: CHART_COLORS[2]! },
        { label: 'Viewers', color: CHART_COLORS[1]!, scale: 'viewers' },
      ],
      rightScale: 'viewers',
      format: formatMbps,
      formatRight: (v) => v.toFixed(0),
      minMax: 1,
      minMaxRight: 4,
    });
    charts['roomLoss'] = new TimeChart(detail.lossChart, {
      series: [{ label: 'Loss', color: CHART_COLORS[4]!, fill: true }],
      format: (v) => v.toFixed(1),
      minMax: 2,
    });
  }
  return { main: charts['room']!, loss: charts['roomLoss']! };
}

function selectRoom(id: string | null): void {
  if (id === selectedRoom) {
    if (id) detail.panel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    return;
  }
  selectedRoom = id;
  roomGeneration++;
  if (roomTimer) clearTimeout(roomTimer);
  roomTimer = null;
  roomLocalHistory = [];
  dropThumbnail();
  for (const [room, row] of roomRows) row.tr.classList.toggle('is-selected', room === id);
  const hash = id ? `#room=${encodeURIComponent(id)}` : '';
  if (location.hash !== hash) history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`);
  setVisible(detail.panel, id !== null);
  if (!id) return;
  detail.title.textContent = id;
  detail.initial.textContent = id.charAt(0).toUpperCase();
  detail.watch.href = `/watch?room=${encodeURIComponent(id)}`;
  detail.status.textContent = 'Loading…';
  detail.figures.replaceChildren();
  detail.alerts.replaceChildren();
  setVisible(detail.error, false);
  const { main, loss } = roomCharts();
  main.clear();
  loss.clear();
  void refreshRoom(roomGeneration);
  detail.panel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
}

async function refreshRoom(current: number): Promise<void> {
  const room = selectedRoom;
  if (!room || current !== roomGeneration) return;
  try {
    const stats = await fetchRoomStats(room);
    if (current !== roomGeneration) return;
    setVisible(detail.error, false);
    renderRoomDetail(stats);
  } catch (error) {
    if (current !== roomGeneration) return;
    detail.error.textContent =
      error instanceof ApiError && error.status === 404
        ? `Room ${room} does not exist (any more).`
        : `Cannot load the room's stats (${error instanceof Error ? error.message : String(error)}).`;
    setVisible(detail.error, true);
  } finally {
    if (current === roomGeneration) roomTimer = setTimeout(() => void refreshRoom(current), ROOM_POLL_MS);
  }
}

/** One label/value pair of the drill-down (a div per pair: allowed inside <dl>, keeps them together in the grid). */
function figure(label: string, value: string, hint?: string): HTMLElement[] {
  const dd = el('dd', { text: value });
  if (hint) dd.title = hint;
  return [el('div', { className: 'figure' }, [el('dt', { text: label }), dd])];
}

function renderRoomDetail(stats: RoomStats): void {
  const viewers = stats.viewers.webrtc + stats.viewers.hls;
  detail.status.textContent = stats.live
    ? `Live${stats.since !== null ? ` for ${formatDuration((Date.now() - stats.since) / 1000)}` : ''} · ${viewers} ${viewers === 1 ? 'viewer' : 'viewers'}`
    : 'Offline';
  detail.panel.dataset['live'] = String(stats.live);
  const q = stats.qoe;
  detail.figures.replaceChildren(
    ...figure('Video', stats.live ? formatVideo(stats.video) : DASH),
    ...figure('Video bitrate', formatBitrate(stats.video.bitrateBps)),
    ...figure('Audio bitrate', formatBitrate(stats.audio.bitrateBps)),
    ...figure('Stream score', stats.video.score === null ? DASH : `${stats.video.score} / 10`, "mediasoup's score of the publisher's video"),
    ...figure('Packet loss', formatPercent(stats.lossPercent)),
    ...figure('RTT', formatMs(stats.rttMs)),
    ...figure('Jitter', formatMs(stats.jitterMs)),
    ...figure('Viewers', `${stats.viewers.webrtc} WebRTC · ${stats.viewers.hls} HLS`),
    ...figure('Joins / leaves', `${formatNumber(stats.joins)} / ${formatNumber(stats.leaves)}`),
    ...figure('Watch time', formatDuration(stats.watchTimeSeconds)),
    ...figure('QoE sessions', formatNumber(q.sessions)),
    ...figure('Freezes / min', formatNumber(q.freezesPerMinute, 2)),
    ...figure('Dropped frames', formatPercent(q.droppedFramesPercent, 2)),
    ...figure('Jitter buffer', formatMs(q.jitterBufferDelayMs)),
    ...figure('HLS latency', formatMs(q.latencyMs)),
    ...figure('First frame (p50)', formatMs(q.firstFrameMsP50)),
    ...figure(
      'HLS',
      stats.hls.available
        ? `ready · playlist ${stats.hls.playlistAgeSeconds === null ? DASH : `${stats.hls.playlistAgeSeconds.toFixed(1)} s old`}`
        : 'not available',
    ),
  );

  const { main, loss } = roomCharts();
  let points: Array<{ t: number; in: number | null; out: number | null; viewers: number | null; loss: number | null }>;
  if (stats.history.length > 0) {
    points = stats.history.map((p) => ({ t: p.t, in: p.bitrateInBps, out: p.bitrateOutBps, viewers: p.viewers, loss: p.lossPercent }));
  } else {
    // No server-side history: build it from what this page has polled.
    const bitrate = stats.live ? (stats.video.bitrateBps ?? 0) + (stats.audio.bitrateBps ?? 0) : 0;
    roomLocalHistory.push({ t: Date.now(), values: [bitrate, null, viewers, stats.lossPercent] });
    roomLocalHistory = roomLocalHistory.filter((p) => p.t >= Date.now() - 300_000);
    points = roomLocalHistory.map((p) => ({ t: p.t, in: p.values[0] ?? null, out: null, viewers: p.values[2] ?? null, loss: p.values[3] ?? null }));
  }
  const mbps = (v: number | null) => (v === null ? null : v / 1e6);
  main.setPoints(points.map((p) => ({ t: p.t, values: [mbps(p.in), mbps(p.out), p.viewers] })));
  loss.setPoints(points.map((p) => ({ t: p.t, values: [p.loss] })));

  const alerts = [...stats.alerts].sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing') || byRecency(a, b));
  detail.alerts.replaceChildren(...alerts.map(alertItem));
  setVisible(detail.noAlerts, alerts.length === 0);

  if (stats.thumbnail !== roomThumb.path) {
    dropThumbnail();
    roomThumb.path = stats.thumbnail;
  }
  if (roomThumb.path && (!roomThumb.image || Date.now() - Number(roomThumb.image.dataset['loadedAt'] ?? 0) >= THUMBNAIL_REFRESH_MS)) loadThumbnail();
}

/** The room's poster frame, fetched off-screen and swapped in once decoded (no flicker). */
function loadThumbnail(): void {
  const path = roomThumb.path;
  if (!path || roomThumb.loading) return;
  const next = el('img', { className: 'thumb-image', attrs: { alt: `Latest frame of ${selectedRoom ?? ''}`, decoding: 'async' } });
  roomThumb.loading = next;
  next.addEventListener('load', () => {
    if (roomThumb.loading !== next) return;
    roomThumb.loading = null;
    if (roomThumb.path !== path) return;
    next.dataset['loadedAt'] = String(Date.now());
    if (roomThumb.image) roomThumb.image.replaceWith(next);
    else detail.thumb.prepend(next);
    roomThumb.image = next;
    detail.thumb.classList.add('has-image');
  });
  next.addEventListener('error', () => {
    if (roomThumb.loading === next) roomThumb.loading = null;
  });
  next.src = `${path}?t=${Date.now()}`;
}

function dropThumbnail(): void {
  roomThumb.image?.remove();
  roomThumb = { path: null, image: null, loading: null };
  detail.thumb.classList.remove('has-image');
}

function roomFromHash(): string | null {
  const match = /^#room=(.+)$/.exec(location.hash);
  const room = match ? decodeURIComponent(match[1]!) : null;
  return isValidRoomId(room) ? room : null;
}

// ------------------------------------------------------------------ wiring

tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const value = tokenInput.value.trim();
  if (!value) return;
  token = value;
  storeToken(value);
  tokenInput.value = '';
  void start();
});

signOutButton.addEventListener('click', () => {
  stopFeed();
  storeToken(null);
  token = null;
  selectRoom(null);
  setPageState('auth');
});

detail.close.addEventListener('click', () => selectRoom(null));
window.addEventListener('hashchange', () => selectRoom(roomFromHash()));

window.floodlightDashboard = {
  charts,
  get state() {
    return pageState;
  },
  get connection() {
    return connState;
  },
  get overview() {
    return lastOverview;
  },
  get selectedRoom() {
    return selectedRoom;
  },
  selectRoom,
};

token = takeToken();
void start();
const initialRoom = roomFromHash();
if (initialRoom) selectRoom(initialRoom);
