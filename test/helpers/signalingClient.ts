/**
 * A typed socket.io client for the Floodlight signaling protocol
 * (server/contracts/signaling.ts): `request(name, payload)` emits with an
 * acknowledgement and unwraps `{ ok, data | error }`, throwing
 * `SignalingRequestError` (with the server's error code) on `ok: false`.
 */
import { io, type Socket } from 'socket.io-client';
import type { Ack, ErrorCode, RequestName, RequestPayload, ResponseData, ServerEventName, ServerEvents } from '../../server/contracts/signaling.js';

export class SignalingRequestError extends Error {
  constructor(
    readonly request: string,
    /** The server's error code, or 'TIMEOUT' / 'DISCONNECTED' for client-side failures. */
    readonly code: ErrorCode | 'TIMEOUT' | 'DISCONNECTED',
    message: string,
  ) {
    super(`${request} failed: ${code}: ${message}`);
    this.name = 'SignalingRequestError';
  }
}

export interface SignalingClientOptions {
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Per-request acknowledgement timeout. Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** socket.io path if the server mounts it elsewhere. Default '/socket.io'. */
  path?: string;
  /** Let socket.io reconnect the connection after it drops. Default true. */
  reconnection?: boolean;
}

export class SignalingClient {
  readonly socket: Socket;
  readonly #requestTimeoutMs: number;
  readonly #connectTimeoutMs: number;
  #closed = false;
  readonly #pending = new Set<(reason: string) => void>();

  constructor(
    readonly url: string,
    options: SignalingClientOptions = {},
  ) {
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
    this.socket = io(url, {
      transports: ['websocket'],
      // One connection per peer: never multiplex two test peers on one socket.
      forceNew: true,
      autoConnect: false,
      reconnection: options.reconnection ?? true,
      reconnectionDelay: 250,
      reconnectionDelayMax: 2_000,
      ...(options.path ? { path: options.path } : {}),
    });
    this.socket.on('disconnect', (reason) => this.#failPending(`connection lost (${reason})`));
  }

  #failPending(reason: string): void {
    for (const fail of [...this.#pending]) fail(reason);
  }

  get connected(): boolean {
    return this.socket.connected;
  }

  /** Opens the connection; rejects with the last connect error after the timeout. */
  connect(): Promise<void> {
    if (this.socket.connected) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let lastError: Error | undefined;
      const cleanup = (): void => {
        clearTimeout(timer);
        this.socket.off('connect', onConnect);
        this.socket.off('connect_error', onError);
      };
      const onConnect = (): void => {
        cleanup();
        resolve();
      };
      const onError = (error: Error): void => {
        lastError = error;
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`could not connect to signaling at ${this.url} within ${this.#connectTimeoutMs} ms` + (lastError ? `: ${lastError.message}` : '')));
      }, this.#connectTimeoutMs);
      this.socket.on('connect', onConnect);
      this.socket.on('connect_error', onError);
      this.socket.connect();
    });
  }

  /**
   * Sends one request and resolves with its `data`. Fails fast (code
   * 'DISCONNECTED') when the socket is down or drops mid-request: socket.io
   * would otherwise buffer the emit and replay it onto a new server session.
   */
  request<N extends RequestName>(name: N, payload: RequestPayload<N>, timeoutMs = this.#requestTimeoutMs): Promise<ResponseData[N]> {
    return new Promise<ResponseData[N]>((resolve, reject) => {
      if (this.#closed || !this.socket.connected) {
        reject(new SignalingRequestError(name, 'DISCONNECTED', this.#closed ? 'client closed' : 'not connected'));
        return;
      }
      const pending = (reason: string): void => {
        clearTimeout(timer);
        this.#pending.delete(pending);
        reject(new SignalingRequestError(name, 'DISCONNECTED', reason));
      };
      const timer = setTimeout(() => {
        this.#pending.delete(pending);
        reject(new SignalingRequestError(name, 'TIMEOUT', `no acknowledgement within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.add(pending);
      this.socket.emit(name, payload, (ack: Ack<ResponseData[N]>) => {
        if (!this.#pending.delete(pending)) return; // already timed out / disconnected
        clearTimeout(timer);
        if (!ack || typeof ack !== 'object' || !('ok' in ack)) {
          reject(new SignalingRequestError(name, 'INTERNAL', `malformed acknowledgement: ${JSON.stringify(ack)}`));
        } else if (!ack.ok) {
          reject(new SignalingRequestError(name, ack.error.code, ack.error.message));
        } else {
          resolve(ack.data);
        }
      });
    });
  }

  on<E extends ServerEventName>(event: E, handler: (data: ServerEvents[E]) => void): () => void {
    const listener = handler as (...args: unknown[]) => void;
    this.socket.on(event as string, listener);
    return () => this.socket.off(event as string, listener);
  }

  /** Disconnects for good (no automatic reconnection). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#failPending('client closed');
    this.socket.removeAllListeners();
    this.socket.io.removeAllListeners();
    this.socket.disconnect();
  }
}
