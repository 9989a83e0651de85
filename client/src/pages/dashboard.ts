/**
 * /dashboard — the operators' view: workers, rooms, viewers, bitrate, loss,
 * alerts, webhooks, live, with a drill-down per room. This file holds the
 * page state and wires the parts in client/src/dashboard/:
 *
 *   adminToken   ?token=… (moved to sessionStorage, removed from the URL) or the token form
 *   liveFeed     GET /api/admin/overview, then the /admin socket; polling while it is silent
 *   alertBook    alerts from snapshots, socket events and the history, one per id
 *   overviewCharts / workersView / roomsTable   the overview's parts
 *   roomDetail   click a room → its stats every 2 s (#room=<room> in the URL)
 *   clusterView  GET /api/cluster every 2 s: nodes, their load and state, rooms by node
 *
 * Page states (main[data-state]): loading | ready | auth (no/bad token: form) | error (server unreachable
 * or without the operator API before any data arrived; retried).
 */
import type { Alert, Overview } from '../../../server/contracts/adminApi';
import { describeAuthRefusal, storeToken, takeToken, type AuthRefusal } from '../dashboard/adminToken';
import { AlertBook } from '../dashboard/alertBook';
import { ClusterView } from '../dashboard/clusterView';
import { alertItem } from '../dashboard/alertItem';
import { DASH, epochMs, formatBitrate, formatClock, formatNumber, formatPercent } from '../dashboard/format';
import { LiveFeed, type ConnState } from '../dashboard/liveFeed';
import { charts, lossFigures, pushOverviewCharts } from '../dashboard/overviewCharts';
import { RoomDetail } from '../dashboard/roomDetail';
import { RoomsTable } from '../dashboard/roomsTable';
import { renderWorkers } from '../dashboard/workersView';
import { byId, el, isValidRoomId, setVisible } from '../ui/dom';

declare global {
  interface Window {
    floodlightDashboard?: Record<string, unknown>;
  }
}

type PageState = 'loading' | 'ready' | 'auth' | 'error';

const RECENT_ALERTS_SHOWN = 15;

const CONN_TEXT: Record<ConnState, string> = {
  none: 'Not connected',
  socket: 'Live · pushed every 2 s',
  polling: 'Live push unavailable · polling every 2 s',
  offline: 'Connection lost · retrying…',
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
const webhookList = byId('webhooks', HTMLUListElement);
const noWebhooks = byId('webhooks-none', HTMLParagraphElement);

// ------------------------------------------------------------------ page state

let pageState: PageState = 'loading';
let connState: ConnState = 'none';
let token: string | null = null;
let lastOverview: Overview | null = null;
const alertBook = new AlertBook();

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

function setConnState(state: ConnState): void {
  connState = state;
  connText.dataset['conn'] = state;
  connText.textContent = CONN_TEXT[state];
}

function warn(message: string | null): void {
  warningBox.textContent = message ?? '';
  setVisible(warningBox, !!message && pageState === 'ready');
}

// ------------------------------------------------------------------ rendering

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
}

function renderAlerts(): void {
  const active = alertBook.active();
  const recent = alertBook.resolved().slice(0, RECENT_ALERTS_SHOWN);
  activeAlertList.replaceChildren(...active.map(alertItem));
  recentAlertList.replaceChildren(...recent.map(alertItem));
  setVisible(noActiveAlerts, active.length === 0);
  setVisible(noRecentAlerts, recent.length === 0);
  const level = alertBook.level();
  alertsCount.textContent = active.length > 0 ? `${active.length} active` : '';
  alertsCount.dataset['level'] = level === 'ok' ? '' : level;
  kpi.alerts.textContent = String(active.length);
  kpi.alertsCard.dataset['level'] = level;
}

function renderWebhooks(overview: Overview): void {
  const endpoints = overview.webhooks.endpoints;
  webhookList.replaceChildren(
    ...endpoints.map((endpoint) =>
      el('li', { className: 'webhook', attrs: { 'data-ok': String(endpoint.ok) } }, [
        el('span', { className: `badge ${endpoint.ok ? 'badge-ok' : 'badge-critical'}`, text: endpoint.ok ? 'ok' : 'failing' }),
        el('code', { className: 'webhook-url', text: endpoint.url }),
        el('span', { className: 'muted small', text: `${endpoint.delivered} delivered · ${endpoint.failed} failed` }),
        ...(endpoint.lastError ? [el('span', { className: 'webhook-error small', text: endpoint.lastError })] : []),
      ]),
    ),
  );
  setVisible(noWebhooks, endpoints.length === 0);
}

const roomsTable = new RoomsTable((room) => selectRoom(room));
const roomDetail = new RoomDetail(() => selectRoom(null));

function applyOverview(overview: Overview): void {
  // Socket and polling may both deliver the same snapshot, or an older one late.
  if (lastOverview && (epochMs(overview.at) ?? 0) < (epochMs(lastOverview.at) ?? 0)) return;
  lastOverview = overview;
  alertBook.settle(overview);
  if (pageState !== 'ready') setPageState('ready');
  pushOverviewCharts(overview);
  renderKpis(overview);
  renderWorkers(workerList, overview.workers);
  roomsTable.render(overview.rooms);
  renderAlerts();
  renderWebhooks(overview);
  updatedText.textContent = `· updated ${formatClock(overview.at)}`;
}

function onAlerts(alerts: Alert[]): void {
  for (const alert of alerts) alertBook.upsert(alert);
  renderAlerts();
}

// ------------------------------------------------------------------ feed and token

const clusterView = new ClusterView();

function authRefused(refusal: AuthRefusal): void {
  clusterView.stop();
  storeToken(null);
  token = null;
  tokenInput.value = '';
  setPageState('auth', describeAuthRefusal(refusal));
}

const feed = new LiveFeed({
  overview: applyOverview,
  alerts: onAlerts,
  authRefused,
  unreachable: (message) => {
    if (pageState === 'ready') warn(message);
    else setPageState('error', message);
  },
  reachable: () => warn(null),
  connection: setConnState,
});

function start(): void {
  if (!token) {
    feed.stop();
    clusterView.stop();
    setPageState('auth');
    return;
  }
  if (pageState !== 'ready') setPageState('loading');
  feed.start(token);
  clusterView.start(token);
}

// ------------------------------------------------------------------ room drill-down

function selectRoom(room: string | null): void {
  if (!roomDetail.select(room)) return;
  roomsTable.markSelected(room);
  const hash = room ? `#room=${encodeURIComponent(room)}` : '';
  if (location.hash !== hash) history.replaceState(history.state, '', `${location.pathname}${location.search}${hash}`);
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
  start();
});

signOutButton.addEventListener('click', () => {
  feed.stop();
  clusterView.stop();
  storeToken(null);
  token = null;
  selectRoom(null);
  setPageState('auth');
});

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
  get cluster() {
    return clusterView.overview;
  },
  get selectedRoom() {
    return roomDetail.room;
  },
  selectRoom,
};

token = takeToken();
start();
const initialRoom = roomFromHash();
if (initialRoom) selectRoom(initialRoom);
