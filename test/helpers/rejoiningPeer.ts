/**
 * What the headless viewer and publisher share: the SDK's RoomConnection (one
 * signaling connection, the join → setup → rejoin loop of the browser SDK),
 * with the headless peers' own media plugged in instead of a mediasoup-client
 * Device. The loop decides when sessions start and stop:
 *
 *   join() ─► setupSession() ─► 'joined'
 *   server `reconnect` event      ─► teardownSession(), setupSession() again
 *   socket.io reconnected         ─┘ (retried with backoff until rejoinTimeoutMs)
 *   server `roomClosed` / `kicked` ─► teardownSession(), stay down
 *   close()                        ─► teardownSession(), leave, disconnect; idempotent
 *
 * A "session" is everything the server forgets when it drops a peer: the
 * join, the WebRTC transport and its producers/consumers. Subclasses build
 * and tear down sessions; the SDK decides when.
 */
import { EventEmitter } from 'node:events';
import type { types as ms } from 'mediasoup';
import type { Role } from '../../server/contracts/signaling.js';
import { StaleAttemptError, type Attempt } from '../../client/src/sdk/attempt.js';
import type { FloodlightError } from '../../client/src/sdk/errors.js';
import { RoomConnection, type ConnectionPhase, type JoinedSession } from '../../client/src/sdk/roomConnection.js';
import type { SignalingClient } from '../../client/src/sdk/signalingClient.js';

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

/** What stats() of either headless peer starts with. */
export interface PeerStats {
  name: string;
  state: string;
  peerId: string | undefined;
  joins: number;
  reconnects: number;
  socketReconnects: number;
}

/**
 * One join as the headless peers get it: the join answer, and as "device" the
 * router's RTP capabilities (werift + sdpBridge need nothing else).
 */
export type HeadlessSession = JoinedSession<ms.RtpCapabilities>;

/** Test peers come back quicker than browsers: 200 ms doubling to 2 s, and every session counts as healthy. */
const TEST_BACKOFF = { initialMs: 200, maxMs: 2_000, healthySessionMs: 0 };
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_REJOIN_TIMEOUT_MS = 30_000;

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

  protected readonly options: HeadlessPeerOptions;
  readonly #connection: RoomConnection<ms.RtpCapabilities>;
  /** Teardowns still finishing (werift closes asynchronously): close() waits for them. */
  readonly #teardowns = new Set<Promise<void>>();
  /** Why the current rejoin happens, for the 'rejoined' event. */
  #rejoinCause = 'rejoin';
  /** Since when rejoins have been failing (undefined while joined). */
  #retryingSince: number | undefined;
  /** Why the first join was abandoned, when it was not the loop's own error. */
  #firstJoinFailure: Error | undefined;
  #lastConnectError: Error | undefined;
  #closing = false;

  constructor(
    options: HeadlessPeerOptions,
    readonly role: Role,
  ) {
    super();
    this.options = options;
    this.name = options.name ?? `${role}-${Math.random().toString(36).slice(2, 7)}`;
    this.#connection = new RoomConnection({
      room: options.room,
      role,
      ...(options.token !== undefined ? { token: options.token } : {}),
      signaling: {
        serverUrl: options.url,
        reconnectionDelayMs: 250,
        reconnectionDelayMaxMs: 2_000,
        ...(options.requestTimeoutMs !== undefined ? { requestTimeoutMs: options.requestTimeoutMs } : {}),
      },
      backoff: TEST_BACKOFF,
      rejoinOnServerRequest: options.autoRejoin ?? true,
      rejoinOnSocketReconnect: options.rejoinOnSocketReconnect ?? true,
      log: { info: (line) => this.log(line), warn: (line) => this.log(line) },
      hooks: {
        prepareDevice:
          () =>
          ({ routerRtpCapabilities }) =>
            Promise.resolve(routerRtpCapabilities),
        onJoining: () => {
          this.sessionStartedAt = performance.now();
        },
        setup: async (session) => {
          this.peerId = session.data.peerId;
          await this.setupSession(session);
        },
        teardown: () => this.#teardown(),
        onPhase: (phase) => this.#onPhase(phase),
        onRetry: (error, delayMs) => this.#onRetry(error, delayMs),
        onFatal: (error) => this.#onFatal(error),
      },
    });
    this.signaling = this.#connection.signaling;
    this.signaling.on('reconnect', ({ reason }) => {
      this.log(`server asked to reconnect: ${reason}`);
      if (!(this.options.autoRejoin ?? true)) return;
      this.reconnects++;
      this.#rejoinCause = `server reconnect (${reason})`;
      this.emit('reconnect', reason);
    });
    this.signaling.on('connected', ({ reconnected }) => {
      if (!reconnected) return;
      this.log('signaling reconnected');
      if (!(this.options.rejoinOnSocketReconnect ?? true)) return;
      this.socketReconnects++;
      this.#rejoinCause = 'socket reconnected';
    });
    this.signaling.on('disconnected', ({ reason }) => this.log(`signaling disconnected: ${reason}`));
    this.signaling.on('connectError', ({ error }) => {
      this.#lastConnectError = error;
    });
  }

  /**
   * Connects, joins and sets media up. Rejects if the first join fails (with a
   * FloodlightError carrying the server's code, e.g. TOKEN_INVALID); the peer
   * then holds no resources and stays in state 'failed'.
   */
  async join(): Promise<void> {
    if (this.state !== 'idle') throw new Error(`${this.name}: join() called in state ${this.state}`);
    this.firstJoinStartedAt = performance.now();
    this.state = 'joining';
    const connectTimeoutMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const connectTimer = setTimeout(() => {
      if (this.signaling.connected) return;
      const cause = this.#lastConnectError ? `: ${this.#lastConnectError.message}` : '';
      this.#abandonFirstJoin(new Error(`could not connect to signaling at ${this.options.url} within ${connectTimeoutMs} ms${cause}`));
    }, connectTimeoutMs);
    try {
      await this.prepare();
      await this.#connection.start();
    } catch (error) {
      const failure = this.#firstJoinFailure ?? toError(error);
      this.lastError = failure;
      if (this.currentState() !== 'closed') {
        // A failed first join leaves nothing running (no PeerConnection, no
        // ffmpeg, no socket); the instance is spent: make a new one to retry.
        this.state = 'failed';
        this.#connection.close();
        await this.#teardownsDone();
        await this.onClose();
      }
      throw failure;
    } finally {
      clearTimeout(connectTimer);
    }
  }

  /** Leaves and releases everything (PeerConnection, sockets, child processes). Idempotent. */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    this.state = 'closed';
    // Tears the session down at once; pending steps fail fast as the signaling closes.
    this.#connection.close();
    try {
      await this.#teardownsDone();
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

  /** Who this peer is and how its (re)joins went. */
  protected peerStats(): PeerStats {
    return {
      name: this.name,
      state: this.state,
      peerId: this.peerId,
      joins: this.joins,
      reconnects: this.reconnects,
      socketReconnects: this.socketReconnects,
    };
  }

  /** Sets media up for a fresh server session (joined already). Wrap awaits in `session.attempt.guard()`. */
  protected abstract setupSession(session: HeadlessSession): Promise<void>;
  /** Releases local media state of the current session. Must be idempotent and never throw. */
  protected abstract teardownSession(): Promise<void>;
  /** Before the first join (e.g. start ffmpeg so it warms up while we signal). */
  protected async prepare(): Promise<void> {}
  /** Final cleanup after the last teardownSession (e.g. kill ffmpeg). */
  protected async onClose(): Promise<void> {}

  protected log(line: string): void {
    const sink = this.options.log ?? (process.env['FLOODLIGHT_HEADLESS_DEBUG'] ? (l: string) => process.stderr.write(`${l}\n`) : undefined);
    sink?.(`[${this.name}] ${line}`);
  }

  /** Runs a step of the current session in the background; failures are logged and emitted, never thrown. */
  protected background(label: string, attempt: Attempt, step: () => Promise<void>): void {
    step().catch((error: unknown) => {
      // A rejoin/close tearing the session down under the step is not a failure.
      if (error instanceof StaleAttemptError || !attempt.active) return;
      this.lastError = toError(error);
      this.log(`${label} failed: ${this.lastError.message}`);
      this.emit('stepFailed', label, this.lastError);
    });
  }

  #teardown(): void {
    const done = this.teardownSession().catch(() => undefined);
    this.#teardowns.add(done);
    void done.then(() => this.#teardowns.delete(done));
  }

  async #teardownsDone(): Promise<void> {
    await Promise.all([...this.#teardowns]);
  }

  #onPhase(phase: ConnectionPhase): void {
    if (phase === 'joined') {
      this.#retryingSince = undefined;
      this.joins++;
      this.state = 'joined';
      const rejoin = this.joins > 1;
      this.emit('joined', { rejoin });
      if (rejoin) this.emit('rejoined', this.#rejoinCause);
      this.log(`joined (${rejoin ? `rejoin #${this.joins - 1}` : 'first join'}) as ${this.peerId ?? '?'}`);
    } else if (phase === 'reconnecting' && this.isActive()) {
      this.state = this.joins > 0 ? 'rejoining' : 'joining';
    }
  }

  #onRetry(error: FloodlightError, delayMs: number | undefined): void {
    this.lastError = error;
    if (this.joins === 0) {
      // The first join fails fast (tests want the error, not a retry loop); connecting
      // is retried by socket.io until connectTimeoutMs.
      if (delayMs !== undefined) this.#abandonFirstJoin(error);
      return;
    }
    const now = performance.now();
    this.#retryingSince ??= now;
    const rejoinTimeoutMs = this.options.rejoinTimeoutMs ?? DEFAULT_REJOIN_TIMEOUT_MS;
    if (now - this.#retryingSince + (delayMs ?? 0) <= rejoinTimeoutMs) return;
    this.log(`rejoin failed for good: ${error.code}: ${error.message}`);
    this.state = 'failed';
    this.emit('failed', error);
    this.#connection.close();
  }

  #onFatal(error: FloodlightError): void {
    this.lastError = error;
    if (this.joins === 0) return; // join() rejects with it
    const state = error.code === 'KICKED' ? 'kicked' : error.code === 'ROOM_CLOSED' ? 'roomClosed' : 'failed';
    this.log(`${state}: ${error.message}`);
    this.state = state;
    this.emit(state, state === 'failed' ? error : error.message);
  }

  /** Gives up the first join with `error` (join() rejects with it). */
  #abandonFirstJoin(error: Error): void {
    if (this.joins > 0 || this.#firstJoinFailure) return;
    this.#firstJoinFailure = error;
    this.#connection.close();
  }
}

export function toError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
