import { io, type Socket } from 'socket.io-client';
import type { Ack, RequestName, RequestPayload, ResponseData, ServerEvents } from '../../../server/contracts/signaling.js';
import { serverEventNames } from '../../../server/contracts/serverEvents.js';
import { FloodlightError, SignalingError } from './errors.js';
import { TypedEmitter } from './typedEmitter.js';

/** Connection-level events, next to the server's own events from protocol.ts. */
export interface ConnectionEvents {
  /** Socket connected; `reconnected` is false only for the very first connection. */
  connected: { reconnected: boolean };
  disconnected: { reason: string };
  /** A connection attempt failed; socket.io keeps retrying unless `willRetry` is false. */
  connectError: { error: FloodlightError; willRetry: boolean };
}

export type SignalingEvents = ServerEvents & ConnectionEvents;

export interface SignalingClientOptions {
  /** Origin of the Floodlight server; defaults to the page's own origin (required outside a browser). */
  serverUrl?: string;
  /** How long to wait for a request's acknowledgement. */
  requestTimeoutMs?: number;
  /** socket.io's reconnection backoff after a dropped connection (socket.io's defaults: 1 s, up to 5 s). */
  reconnectionDelayMs?: number;
  reconnectionDelayMaxMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;
/** After the server itself drops the socket, socket.io will not retry on its own. */
const SERVER_DISCONNECT_RETRY_MS = 2_000;

interface PendingRequest {
  /** Rejects the request's promise with a SignalingError and forgets it. */
  fail: (code: 'TIMEOUT' | 'DISCONNECTED' | 'CLOSED', message: string) => void;
}

/**
 * The socket.io connection plus a typed request/response layer over it.
 *
 * `request()` is the only way to talk to the server: it resolves with the
 * ack's `data` or rejects with a SignalingError carrying the server's code
 * (or TIMEOUT / DISCONNECTED / CLOSED).
 */
export class SignalingClient extends TypedEmitter<SignalingEvents> {
  private socket: Socket | null = null;
  private readonly pending = new Set<PendingRequest>();
  private hasConnectedBefore = false;
  private serverDisconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private closed = false;
  private readonly requestTimeoutMs: number;
  /** The server in use: changes when the client follows a redirect or fails over. */
  private url: string | undefined;

  constructor(private readonly options: SignalingClientOptions = {}) {
    super();
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.url = options.serverUrl;
  }

  /** Base URL of the server this client talks to (the page's origin when none was given). */
  get serverUrl(): string | undefined {
    return this.url ?? (globalThis as { location?: { origin?: string } }).location?.origin;
  }

  get connected(): boolean {
    return this.socket?.connected ?? false;
  }

  /** The current socket id (changes on every reconnection). */
  get socketId(): string | undefined {
    return this.socket?.id;
  }

  /** Opens the socket (idempotent); socket.io then reconnects by itself with backoff. */
  connect(): void {
    if (this.closed) throw new FloodlightError('CLOSED', 'signaling client is closed');
    if (this.socket) return;
    this.socket = this.openSocket(this.url);
  }

  /**
   * Moves to another server (a cluster node): connects a new socket there
   * first, and only once it is up drops the current one, so a server that
   * does not answer leaves this client where it was (rejects). Then emits
   * `connected` (reconnected: true): the server-side peer is new.
   */
  async switchServer(url: string, connectTimeoutMs = 5_000): Promise<void> {
    if (this.closed) throw new FloodlightError('CLOSED', 'signaling client is closed');
    const next = this.openSocket(url);
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new FloodlightError('DISCONNECTED', `no connection to ${url} within ${connectTimeoutMs} ms`)), connectTimeoutMs);
        next.once('connect', () => {
          clearTimeout(timer);
          resolve();
        });
      });
    } catch (error) {
      next.removeAllListeners();
      next.disconnect();
      throw error;
    }
    if (this.closed) {
      next.removeAllListeners();
      next.disconnect();
      throw new FloodlightError('CLOSED', 'signaling client is closed');
    }
    const previous = this.socket;
    this.socket = next;
    this.url = url;
    if (this.serverDisconnectTimer) clearTimeout(this.serverDisconnectTimer);
    this.serverDisconnectTimer = null;
    this.rejectAllPending('DISCONNECTED', `moved to ${url}`);
    if (previous) {
      previous.removeAllListeners();
      previous.disconnect();
    }
    this.hasConnectedBefore = true;
    this.emit('connected', { reconnected: true });
  }

  /** A socket whose events count only while it is the current one. */
  private openSocket(url: string | undefined): Socket {
    const socketOptions = {
      transports: ['websocket'],
      autoConnect: false,
      // One client, one connection: a publisher and a viewer in one page (or many test
      // peers in one process) must never share a socket, i.e. a server-side peer.
      forceNew: true,
      ...(this.options.reconnectionDelayMs !== undefined ? { reconnectionDelay: this.options.reconnectionDelayMs } : {}),
      ...(this.options.reconnectionDelayMaxMs !== undefined ? { reconnectionDelayMax: this.options.reconnectionDelayMaxMs } : {}),
    };
    const socket = url ? io(url, socketOptions) : io(socketOptions);
    const current = (): boolean => socket === this.socket;

    socket.on('connect', () => {
      if (!current()) return; // a server being switched to: switchServer() adopts it
      const reconnected = this.hasConnectedBefore;
      this.hasConnectedBefore = true;
      this.emit('connected', { reconnected });
    });
    socket.on('disconnect', (reason) => {
      if (!current()) return;
      this.rejectAllPending('DISCONNECTED', `socket disconnected (${reason})`);
      this.emit('disconnected', { reason });
      // socket.io only retries by itself when the drop was not the server's decision.
      // The server also disconnects on restart/shutdown, so we retry after a pause;
      // owners that must not come back (kicked, closed) close this client first.
      if (reason === 'io server disconnect' && !this.closed) {
        this.serverDisconnectTimer = setTimeout(() => {
          this.serverDisconnectTimer = null;
          if (!this.closed) socket.connect();
        }, SERVER_DISCONNECT_RETRY_MS);
      }
    });
    socket.on('connect_error', (error) => {
      if (!current()) return;
      // socket.active is false when a server middleware refused the handshake:
      // socket.io will not retry that, and neither should we.
      const willRetry = socket.active;
      const code = willRetry ? 'DISCONNECTED' : 'CONNECT_REFUSED';
      this.emit('connectError', { error: new FloodlightError(code, error.message), willRetry });
    });
    for (const name of serverEventNames) {
      socket.on(name, (payload: unknown) => {
        if (current()) this.emit(name, payload as ServerEvents[typeof name]);
      });
    }
    socket.connect();
    return socket;
  }

  /** Resolves once connected (immediately if already), rejects if closed meanwhile. */
  waitForConnection(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new FloodlightError('CLOSED', 'signaling client is closed'));
    return new Promise((resolve, reject) => {
      const offConnected = this.on('connected', () => {
        cleanup();
        resolve();
      });
      const offClosed = this.on('disconnected', ({ reason }) => {
        if (!this.closed) return;
        cleanup();
        reject(new FloodlightError('CLOSED', `signaling client is closed (${reason})`));
      });
      const cleanup = () => {
        offConnected();
        offClosed();
      };
    });
  }

  /** Sends one request and resolves with the ack's data. */
  request<N extends RequestName>(name: N, payload: RequestPayload<N>): Promise<ResponseData[N]> {
    const socket = this.socket;
    if (this.closed) {
      return Promise.reject(new SignalingError('CLOSED', 'signaling client is closed', name));
    }
    // Refuse rather than let socket.io buffer it: a request replayed on a later
    // connection would act on a server session that no longer exists.
    if (!socket || !socket.connected) {
      return Promise.reject(new SignalingError('DISCONNECTED', 'not connected to the server', name));
    }
    return new Promise<ResponseData[N]>((resolve, reject) => {
      const settle = () => {
        this.pending.delete(entry);
        clearTimeout(timer);
      };
      const entry: PendingRequest = {
        fail: (code, message) => {
          settle();
          reject(new SignalingError(code, message, name));
        },
      };
      const timer = setTimeout(() => {
        entry.fail('TIMEOUT', `no answer to "${name}" within ${this.requestTimeoutMs} ms`);
      }, this.requestTimeoutMs);
      this.pending.add(entry);

      socket.emit(name, payload, (ack: Ack<ResponseData[N]> | undefined) => {
        if (!this.pending.has(entry)) return; // already timed out or failed
        settle();
        if (ack?.ok) {
          resolve(ack.data);
        } else if (ack?.ok === false) {
          reject(new SignalingError(ack.error.code, ack.error.message, name));
        } else {
          reject(new SignalingError('BAD_RESPONSE', `malformed answer to "${name}"`, name));
        }
      });
    });
  }

  /** Disconnects for good (idempotent). Pending requests reject with CLOSED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.serverDisconnectTimer) clearTimeout(this.serverDisconnectTimer);
    this.rejectAllPending('CLOSED', 'signaling client is closed');
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      // Detach first so the socket's own 'disconnect' does not schedule a retry.
      socket.removeAllListeners();
      socket.disconnect();
    }
    this.emit('disconnected', { reason: 'closed' });
    this.removeAllListeners();
  }

  private rejectAllPending(code: 'DISCONNECTED' | 'CLOSED', message: string): void {
    for (const entry of [...this.pending]) entry.fail(code, message);
  }
}
