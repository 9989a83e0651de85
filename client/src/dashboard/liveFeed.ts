/**
 * The dashboard's data feed: GET /api/admin/overview first (it checks the
 * token), then the /admin socket ('overview' every 2 s, 'alert' at once);
 * whenever the socket has been silent > 3 s, polling the overview every 2 s
 * instead. Retries while the server is unreachable; stops on a refused token.
 */
import { io, type Socket } from 'socket.io-client';
import type { Alert, Overview } from '../../../server/contracts/adminApi';
import { fetchAlerts, fetchOverview } from '../api/admin';
import { ApiError } from '../api/http';
import type { AuthRefusal } from './adminToken';

export type ConnState = 'none' | 'socket' | 'polling' | 'offline';

export interface LiveFeedHandlers {
  overview: (overview: Overview) => void;
  /** Alerts from the socket and, once, the alert history. */
  alerts: (alerts: Alert[]) => void;
  /** The token was refused; the feed has stopped. */
  authRefused: (refusal: AuthRefusal) => void;
  /** No data could be fetched (`message` says why); the feed retries or shows the last data. */
  unreachable: (message: string) => void;
  /** Data arrives again after `unreachable`. */
  reachable: () => void;
  connection: (state: ConnState) => void;
}

const POLL_MS = 2_000;
/** The socket is considered silent (→ polling) after this long without an overview. */
const SOCKET_STALE_MS = 3_000;
const RETRY_MS = 5_000;

function describeFailure(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class LiveFeed {
  readonly #handlers: LiveFeedHandlers;
  #socket: Socket | null = null;
  #feedTimer: ReturnType<typeof setInterval> | null = null;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #lastSocketOverviewAt = 0;
  #lastPollAt = 0;
  #lastSuccessAt = 0;
  #polling = false;
  #connection: ConnState = 'none';
  /** Bumped on every (re)start and stop: stale async answers are dropped. */
  #generation = 0;

  constructor(handlers: LiveFeedHandlers) {
    this.#handlers = handlers;
  }

  /** First contact with this token (validates it), then live. */
  start(token: string): void {
    this.stop();
    void this.#begin(token, ++this.#generation);
  }

  stop(): void {
    this.#generation++;
    this.#socket?.removeAllListeners();
    this.#socket?.disconnect();
    this.#socket = null;
    if (this.#feedTimer) clearInterval(this.#feedTimer);
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#feedTimer = this.#retryTimer = null;
    this.#polling = false;
    this.#setConnection('none');
  }

  async #begin(token: string, current: number): Promise<void> {
    try {
      const overview = await fetchOverview(token);
      if (current !== this.#generation) return;
      this.#lastSuccessAt = this.#lastPollAt = Date.now();
      this.#handlers.overview(overview);
    } catch (error) {
      if (current !== this.#generation) return;
      if (this.#refused(error)) return;
      this.#handlers.unreachable(
        error instanceof ApiError && error.status === 404
          ? 'This server has no operator API (GET /api/admin/overview answered 404). Retrying…'
          : `Cannot reach the server (${describeFailure(error)}). Retrying…`,
      );
      this.#setConnection('offline');
      this.#retryTimer = setTimeout(() => this.start(token), RETRY_MS);
      return;
    }
    void this.#loadAlertHistory(token, current);
    this.#connectSocket(token, current);
    this.#feedTimer = setInterval(() => this.#tick(token, current), 1_000);
  }

  /** A refused token stops the feed (true); anything else is for the caller (false). */
  #refused(error: unknown): boolean {
    if (!(error instanceof ApiError && error.isAuth)) return false;
    this.stop();
    this.#handlers.authRefused({ code: error.code, status: error.status });
    return true;
  }

  async #loadAlertHistory(token: string, current: number): Promise<void> {
    try {
      const { active, history } = await fetchAlerts(token);
      if (current === this.#generation) this.#handlers.alerts([...history, ...active]);
    } catch {
      // The overview carries active and recent alerts anyway.
    }
  }

  #connectSocket(token: string, current: number): void {
    const socket = io('/admin', { auth: { token }, transports: ['websocket'], reconnectionDelay: 1_000, reconnectionDelayMax: 5_000 });
    this.#socket = socket;
    socket.on('overview', (overview: Overview) => {
      if (current !== this.#generation) return;
      this.#lastSocketOverviewAt = this.#lastSuccessAt = Date.now();
      this.#setConnection('socket');
      this.#handlers.reachable();
      this.#handlers.overview(overview);
    });
    socket.on('alert', (alert: Alert) => {
      if (current === this.#generation) this.#handlers.alerts([alert]);
    });
    socket.on('connect_error', (error: Error & { data?: { code?: unknown } }) => {
      if (current !== this.#generation) return;
      // message: UNAUTHORIZED | FORBIDDEN; data.code may say more (TOKEN_EXPIRED, TOKEN_INVALID).
      if (error.message === 'UNAUTHORIZED' || error.message === 'FORBIDDEN') {
        const detail = error.data?.code;
        this.stop();
        this.#handlers.authRefused({ code: typeof detail === 'string' ? detail : error.message, status: error.message === 'FORBIDDEN' ? 403 : 401 });
        return;
      }
      // Refused by a middleware: socket.io does not retry by itself.
      if (!socket.active) setTimeout(() => current === this.#generation && socket.connect(), RETRY_MS);
    });
    socket.on('disconnect', (reason) => {
      if (current !== this.#generation) return;
      // The server closed the namespace socket (e.g. the token expired): try again; polling covers meanwhile.
      if (reason === 'io server disconnect') setTimeout(() => current === this.#generation && socket.connect(), POLL_MS);
    });
  }

  /** Every second: fall back to polling while the socket is silent; say how the page is fed. */
  #tick(token: string, current: number): void {
    const now = Date.now();
    const socketLive = now - this.#lastSocketOverviewAt <= SOCKET_STALE_MS;
    if (!socketLive && !this.#polling && now - this.#lastPollAt >= POLL_MS) void this.#poll(token, current);
    if (socketLive) this.#setConnection('socket');
    else if (now - this.#lastSuccessAt <= SOCKET_STALE_MS + POLL_MS) this.#setConnection('polling');
    else this.#setConnection('offline');
  }

  async #poll(token: string, current: number): Promise<void> {
    this.#polling = true;
    this.#lastPollAt = Date.now();
    try {
      const overview = await fetchOverview(token);
      if (current !== this.#generation) return;
      this.#lastSuccessAt = Date.now();
      this.#handlers.reachable();
      this.#handlers.overview(overview);
    } catch (error) {
      if (current !== this.#generation || this.#refused(error)) return;
      this.#handlers.unreachable(`Cannot reach the server (${describeFailure(error)}); showing the last data.`);
    } finally {
      if (current === this.#generation) this.#polling = false;
    }
  }

  #setConnection(state: ConnState): void {
    if (state === this.#connection) return;
    this.#connection = state;
    this.#handlers.connection(state);
  }
}
