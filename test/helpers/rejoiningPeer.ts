/**
 * What the headless viewer and publisher share: one signaling connection, a
 * serial queue for every signaling/SDP step, and the session lifecycle:
 *
 *   join() ─► startSession() ─► 'joined'
 *   server `reconnect` event      ─► stopSession(), startSession() again (retried
 *   socket.io reconnected         ─┘ with backoff until rejoinTimeoutMs)
 *   server `roomClosed` / `kicked` ─► stopSession(), stay down
 *   close()                        ─► stopSession(), disconnect; idempotent
 *
 * A "session" is everything the server forgets when it drops a peer: the
 * join, the WebRTC transport and its producers/consumers. Subclasses build
 * and tear down sessions; this class decides when.
 */
import { EventEmitter } from 'node:events';
import type { ResponseData, Role } from '../../server/contracts/signaling.js';
import { SerialQueue } from './serialQueue.js';
import { SignalingClient, SignalingRequestError } from './signalingClient.js';
import { sleep } from './wait.js';

export type PeerState = 'idle' | 'joining' | 'joined' | 'rejoining' | 'roomClosed' | 'kicked' | 'failed' | 'closed';

export interface HeadlessPeerOptions {
  /** Server base URL, e.g. http://127.0.0.1:3000. */
  url: string;
  room: string;
  /** JWT (required for publishers, optional for viewers). */
  token?: string;
  /** Label for logs. */
  name?: string;
  /** Rejoin on the server's `reconnect` event. Default true. */
  autoRejoin?: boolean;
  /** Rejoin when socket.io reconnects after the connection dropped (server restart). Default true. */
  rejoinOnSocketReconnect?: boolean;
  /** Keep retrying a rejoin this long before giving up (state 'failed'). Default 30 000 ms. */
  rejoinTimeoutMs?: number;
  /** Only a 127.0.0.1 ICE candidate on our side. Default true. */
  loopbackOnly?: boolean;
  /** Accept SFU candidates that are not addresses of this machine. Default false. */
  allowRemoteMedia?: boolean;
  /** Default 10 000 ms. */
  requestTimeoutMs?: number;
  /** Default 10 000 ms. */
  connectTimeoutMs?: number;
  /** Log sink. Default: silent unless FLOODLIGHT_HEADLESS_DEBUG=1 (then stderr). */
  log?: (line: string) => void;
}

/** Errors worth retrying while rejoining (server busy rebuilding, connection blips). */
const RETRYABLE = new Set(['UNAVAILABLE', 'TIMEOUT', 'DISCONNECTED', 'INTERNAL', 'NOT_FOUND', 'RATE_LIMITED', 'NOT_JOINED']);

export abstract class RejoiningPeer extends EventEmitter {
  readonly signaling: SignalingClient;
  readonly name: string;
  state: PeerState = 'idle';
  /** Successful (re)joins. */
  joins = 0;
  /** Server `reconnect` events acted on. */
  reconnects = 0;
  /** socket.io reconnections after a dropped connection. */
  socketReconnects = 0;
  /** Last error of a failed rejoin or background step. */
  lastError: Error | undefined;
  /** performance.now() when join() was first called. */
  firstJoinStartedAt: number | undefined;
  /** performance.now() when the current session started joining. */
  sessionStartedAt: number | undefined;
  /** Peer id the server gave the current session. */
  peerId: string | undefined;

  protected readonly queue = new SerialQueue();
  protected readonly options: HeadlessPeerOptions;
  /** Bumped on every session start/stop; async steps compare it to notice they are stale. */
  protected sessionGeneration = 0;
  #everConnected = false;
  #closing = false;
  #rejoinPending = false;

  constructor(
    options: HeadlessPeerOptions,
    readonly role: Role,
  ) {
    super();
    this.options = options;
    this.name = options.name ?? `${role}-${Math.random().toString(36).slice(2, 7)}`;
    this.signaling = new SignalingClient(options.url, {
      ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      ...(options.connectTimeoutMs !== undefined ? { connectTimeoutMs: options.connectTimeoutMs } : {}),
    });
    this.signaling.on('reconnect', ({ reason }) => {
      this.log(`server asked to reconnect: ${reason}`);
      if (!this.isActive() || !(this.options.autoRejoin ?? true)) return;
      this.reconnects++;
      this.emit('reconnect', reason);
      void this.#scheduleRejoin(`server reconnect (${reason})`);
    });
    this.signaling.on('roomClosed', ({ reason }) => this.#goDown('roomClosed', reason));
    this.signaling.on('kicked', ({ reason }) => this.#goDown('kicked', reason));
    this.signaling.socket.on('connect', () => {
      if (!this.#everConnected) {
        this.#everConnected = true;
        return;
      }
      this.log('signaling reconnected');
      if (!this.isActive() || !(this.options.rejoinOnSocketReconnect ?? true)) return;
      this.socketReconnects++;
      void this.#scheduleRejoin('socket reconnected');
    });
    this.signaling.socket.on('disconnect', (reason) => {
      this.log(`signaling disconnected: ${reason}`);
    });
  }

  /**
   * Connects, joins and sets media up. Rejects if the first join fails (with a
   * SignalingRequestError carrying the server's code, e.g. TOKEN_INVALID); the
   * peer then holds no resources and stays in state 'failed'.
   */
  async join(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`${this.name}: join() called in state ${this.state}`);
    this.firstJoinStartedAt = performance.now();
    this.state = 'joining';
    try {
      await this.signaling.connect();
      try {
        await this.queue.push(() => this.#startSession());
      } catch (error) {
        // A server `reconnect` during the first join restarts it: wait for that.
        if (!(error instanceof StaleSessionError) || !this.isActive()) throw error;
        await this.queue.drain();
        if (this.currentState() !== 'joined') throw this.lastError ?? error;
      }
    } catch (error) {
      this.lastError = toError(error);
      if (this.currentState() !== 'closed') {
        // A failed first join leaves nothing running (no PeerConnection, no
        // ffmpeg, no socket); the instance is spent: make a new one to retry.
        this.state = 'failed';
        this.sessionGeneration++;
        this.signaling.close();
        await this.stopSession();
        await this.onClose();
      }
      throw error;
    }
  }

  /** Leaves and releases everything (PeerConnection, sockets, child processes). Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.state = 'closed';
    this.sessionGeneration++;
    // Do not wait for queued steps: closing the signaling fails them fast.
    this.signaling.close();
    try {
      await this.stopSession();
    } finally {
      await this.onClose();
      this.emit('closed');
    }
  }

  /** The state, un-narrowed (it changes behind TypeScript's back across awaits). */
  currentState(): PeerState {
    return this.state;
  }

  /** Whether the peer should be (or become) joined: not closed, not evicted for good. */
  isActive(): boolean {
    return this.state === 'joining' || this.state === 'joined' || this.state === 'rejoining';
  }

  /** Sets media up for a fresh server session (join included). */
  protected abstract startSession(): Promise<void>;
  /** Releases local media state of the current session. Must be idempotent and never throw. */
  protected abstract stopSession(): Promise<void>;
  /** Final cleanup after the last stopSession (e.g. kill ffmpeg). */
  protected async onClose(): Promise<void> {}

  /** join request; on ALREADY_JOINED (server kept our old seat) leaves and joins again. */
  protected async joinRoom(): Promise<ResponseData['join']> {
    const payload = {
      room: this.options.room,
      role: this.role,
      ...(this.options.token !== undefined ? { token: this.options.token } : {}),
    };
    try {
      return await this.signaling.request('join', payload);
    } catch (error) {
      if (!(error instanceof SignalingRequestError) || error.code !== 'ALREADY_JOINED') throw error;
      this.log('server still had us joined; leaving first');
      await this.signaling.request('leave', {});
      return this.signaling.request('join', payload);
    }
  }

  protected log(line: string): void {
    const sink = this.options.log ?? (process.env['FLOODLIGHT_HEADLESS_DEBUG'] ? (l: string) => process.stderr.write(`${l}\n`) : undefined);
    sink?.(`[${this.name}] ${line}`);
  }

  /** Throws if `generation` is no longer the current session (rejoined or closed meanwhile). */
  protected assertCurrent(generation: number): void {
    if (generation !== this.sessionGeneration || this.state === 'closed') {
      throw new StaleSessionError();
    }
  }

  /** Runs a background step on the queue; failures are logged, never thrown. */
  protected background(label: string, step: () => Promise<void>): void {
    let generation = -1;
    void this.queue
      .push(async () => {
        if (!this.isActive()) return;
        generation = this.sessionGeneration;
        await step();
      })
      .catch((error: unknown) => {
        // A rejoin/close tearing the session down under the step is not a failure.
        if (error instanceof StaleSessionError || !this.isActive() || generation !== this.sessionGeneration) return;
        this.lastError = toError(error);
        this.log(`${label} failed: ${this.lastError.message}`);
        this.emit('stepFailed', label, this.lastError);
      });
  }

  async #startSession(): Promise<void> {
    this.sessionGeneration++;
    this.sessionStartedAt = performance.now();
    await this.startSession();
    this.joins++;
    this.state = 'joined';
    this.emit('joined', { rejoin: this.joins > 1 });
    this.log(`joined (${this.joins > 1 ? `rejoin #${this.joins - 1}` : 'first join'}) as ${this.peerId ?? '?'}`);
  }

  async #scheduleRejoin(why: string): Promise<void> {
    // Tear down right away (stale consumers must stop counting), rebuild in order.
    this.sessionGeneration++;
    await this.stopSession();
    // Triggers arriving before a queued rejoin has started are served by it.
    if (this.#rejoinPending) return;
    this.#rejoinPending = true;
    await this.queue
      .push(async () => {
        this.#rejoinPending = false;
        if (!this.isActive()) return;
        this.state = 'rejoining';
        const deadline = performance.now() + (this.options.rejoinTimeoutMs ?? 30_000);
        let delay = 200;
        for (let attempt = 1; ; attempt++) {
          try {
            await this.#startSession();
            this.emit('rejoined', why);
            return;
          } catch (error) {
            if (!this.isActive()) return;
            await this.stopSession();
            const err = toError(error);
            const retryable = err instanceof SignalingRequestError ? RETRYABLE.has(err.code) : true;
            if (!retryable || performance.now() + delay > deadline) {
              this.state = 'failed';
              this.lastError = err;
              this.log(`rejoin after ${why} failed for good (attempt ${attempt}): ${err.message}`);
              this.emit('failed', err);
              return;
            }
            this.log(`rejoin attempt ${attempt} failed (${err.message}); retrying in ${delay} ms`);
            await sleep(delay);
            delay = Math.min(delay * 2, 2_000);
          }
        }
      })
      .catch((error: unknown) => {
        this.lastError = toError(error);
      });
  }

  #goDown(state: 'roomClosed' | 'kicked', reason: string): void {
    this.log(`${state}: ${reason}`);
    if (this.state === 'closed') return;
    this.state = state;
    this.sessionGeneration++;
    void this.stopSession();
    this.emit(state, reason);
  }
}

export class StaleSessionError extends Error {
  constructor() {
    super('session was replaced (rejoin) or the peer was closed');
    this.name = 'StaleSessionError';
  }
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
