import type { ResponseData, Role } from '../../../server/contracts/signaling.js';
import { Attempt, StaleAttemptError } from './attempt.js';
import { FloodlightError, SignalingError, isFatal, toFloodlightError } from './errors.js';
import { SignalingClient, type SignalingClientOptions } from './signalingClient.js';

/**
 * Where the room connection stands:
 *   connecting   – first join not done yet
 *   joined       – joined and the owner's media set up
 *   reconnecting – lost the socket or rejoining after a drop
 *   failed       – gave up for good (fatal error)
 *   closed       – closed by the user
 */
export type ConnectionPhase = 'connecting' | 'joined' | 'reconnecting' | 'failed' | 'closed';

export type JoinData = ResponseData['join'];

/** Turns a join answer into the owner's device (see RoomConnectionHooks.prepareDevice). */
export type DeviceLoader<D> = (data: JoinData) => Promise<D>;

export interface JoinedSession<D> {
  attempt: Attempt;
  data: JoinData;
  /** What prepareDevice() made of this join: fresh per join, the router may have changed across a rebuild. */
  device: D;
}

/**
 * What the owner plugs into the connection. `D` is whatever the owner needs per join to
 * speak WebRTC: a loaded mediasoup-client Device in browsers (browserDevice.ts), the
 * router's capabilities for the headless test peers.
 */
export interface RoomConnectionHooks<D> {
  /**
   * Called as each attempt starts, before the socket is even up, so that slow local work
   * (detecting the browser's WebRTC handler) overlaps the round trips; the returned
   * loader then runs on the join answer. Failures fail the attempt.
   */
  prepareDevice(): DeviceLoader<D>;
  /** The socket is up and the join request is about to go out. */
  onJoining?(): void;
  /** Build transports/producers/consumers for a fresh join. Wrap awaits in `attempt.guard()`. */
  setup(session: JoinedSession<D>): Promise<void>;
  /** Drop every local transport/producer/consumer, synchronously. Must be idempotent. */
  teardown(): void;
  onPhase(phase: ConnectionPhase): void;
  /** A transient failure; the connection retries by itself after `delayMs` (undefined: socket.io's own retry). */
  onRetry(error: FloodlightError, delayMs: number | undefined): void;
  onFatal(error: FloodlightError): void;
}

/** Pauses between failed attempts. */
export interface RejoinBackoff {
  /** First pause, doubled after each failure (±20 % jitter)… */
  initialMs: number;
  /** …up to this. */
  maxMs: number;
  /** A session that lived at least this long earns an immediate rejoin and a backoff reset. */
  healthySessionMs: number;
}

export interface RoomConnectionOptions<D> {
  room: string;
  role: Role;
  token?: string;
  signaling?: SignalingClientOptions;
  hooks: RoomConnectionHooks<D>;
  backoff?: Partial<RejoinBackoff>;
  /** Rejoin when the server asks to (its `reconnect` event). Default true. */
  rejoinOnServerRequest?: boolean;
  /** Rejoin when the socket comes back after a drop (the server forgot us). Default true. */
  rejoinOnSocketReconnect?: boolean;
  /** Where progress lines go. Default: the console. */
  log?: { info(line: string): void; warn(line: string): void };
}

/** Browsers: 1 s, 2 s, 4 s … capped at 10 s, and a 5 s session counts as healthy. */
const DEFAULT_BACKOFF: RejoinBackoff = { initialMs: 1_000, maxMs: 10_000, healthySessionMs: 5_000 };

const consoleLog = {
  info: (line: string) => console.info(`[floodlight] ${line}`),
  warn: (line: string) => console.warn(`[floodlight] ${line}`),
};

/**
 * Joins a room and keeps it joined. One loop runs attempts one after another:
 * wait for the socket → (leave) → join → load the owner's device → owner's setup(), then
 * waits until something asks for a rejoin (socket reconnect, the server's
 * `reconnect` event, an unrecoverable transport), tears down, and goes again.
 * Fatal errors (bad token, kicked, room closed…) end the loop.
 */
export class RoomConnection<D> {
  readonly signaling: SignalingClient;
  private readonly hooks: RoomConnectionHooks<D>;
  private readonly backoff: RejoinBackoff;
  private readonly log: { info(line: string): void; warn(line: string): void };
  private phaseValue: ConnectionPhase = 'connecting';
  private attempt: Attempt | null = null;
  private attemptCounter = 0;
  /** The current attempt has started talking over the socket (so a reconnect invalidates it). */
  private attemptUsesSocket = false;
  private stopped = false;
  private everJoined = false;
  private joinedAt = 0;
  /** Socket id on which the server last accepted our join: a rejoin there must `leave` first. */
  private joinedOnSocketId: string | undefined;
  private backoffMs: number;
  private wakeFromSleep: (() => void) | null = null;
  private settleStart: { resolve: () => void; reject: (error: FloodlightError) => void } | null = null;
  private readonly unsubscribers: Array<() => void> = [];

  constructor(private readonly options: RoomConnectionOptions<D>) {
    this.hooks = options.hooks;
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    this.backoffMs = this.backoff.initialMs;
    this.log = options.log ?? consoleLog;
    this.signaling = new SignalingClient(options.signaling);
    const s = this.signaling;
    this.unsubscribers.push(
      s.on('connected', () => {
        // A new socket is a new server-side peer: whatever the attempt built is gone.
        // (An attempt still waiting for the socket simply carries on.)
        if (this.attemptUsesSocket && options.rejoinOnSocketReconnect !== false) this.requestRejoin('socket reconnected');
      }),
      s.on('disconnected', () => {
        // Keep playing/sending what still flows; the rejoin happens on reconnect.
        if (this.phaseValue === 'joined') this.setPhase('reconnecting');
      }),
      s.on('connectError', ({ error, willRetry }) => {
        if (!willRetry) this.fail(error);
        else this.hooks.onRetry(error, undefined);
      }),
      s.on('reconnect', ({ reason }) => {
        if (options.rejoinOnServerRequest !== false) this.requestRejoin(`server asked to reconnect: ${reason}`);
      }),
      s.on('kicked', ({ reason }) => this.fail(new FloodlightError('KICKED', reason || 'kicked by the server'))),
      s.on('roomClosed', ({ reason }) => this.fail(new FloodlightError('ROOM_CLOSED', reason || 'room closed'))),
    );
  }

  get phase(): ConnectionPhase {
    return this.phaseValue;
  }

  /** Connects and joins. Resolves after the first successful setup; rejects on a fatal error or close(). */
  start(): Promise<void> {
    if (this.settleStart || this.stopped || this.attempt) {
      return Promise.reject(new FloodlightError('CLOSED', 'room connection already started or closed'));
    }
    const started = new Promise<void>((resolve, reject) => {
      this.settleStart = { resolve, reject };
    });
    this.signaling.connect();
    void this.runAttempts();
    return started;
  }

  /**
   * Tears the current session down and joins again. `from` limits the request to
   * one attempt, so a late callback from an old transport cannot kill a new session.
   */
  requestRejoin(reason: string, from?: Attempt): void {
    if (this.stopped) return;
    const current = this.attempt;
    if (!current || !current.active) return; // already between attempts
    if (from && from !== current) return;
    this.log.info(`rejoining: ${reason}`);
    current.abort();
  }

  /** Leaves the room and disconnects (idempotent). */
  close(): void {
    if (this.stopped) return;
    this.shutDown();
    this.setPhase('closed');
    if (this.signaling.connected) {
      // Best effort: the server also cleans up when the socket goes away.
      this.signaling.request('leave', {}).catch(() => undefined);
    }
    this.signaling.close();
    this.settleStart?.reject(new FloodlightError('CLOSED', 'closed before joining'));
    this.settleStart = null;
  }

  private async runAttempts(): Promise<void> {
    while (!this.stopped) {
      const attempt = new Attempt(++this.attemptCounter);
      this.attempt = attempt;
      this.attemptUsesSocket = false;
      let failure: FloodlightError | null = null;
      try {
        // Preparing the device doesn't need the server: overlap it with connecting and
        // joining (every round trip before the first frame counts).
        const loadDevice = this.hooks.prepareDevice();
        await attempt.guard(this.signaling.waitForConnection());
        this.attemptUsesSocket = true;
        this.hooks.onJoining?.();
        const data = await this.join(attempt);
        const device = await attempt.guard(loadDevice(data));
        await this.hooks.setup({ attempt, data, device });
        attempt.assertActive();

        this.everJoined = true;
        this.joinedAt = Date.now();
        this.setPhase(this.signaling.connected ? 'joined' : 'reconnecting');
        this.settleStart?.resolve();
        this.settleStart = null;
        await attempt.aborted; // healthy until someone asks for a rejoin
      } catch (error) {
        if (!(error instanceof StaleAttemptError)) failure = toFloodlightError(error);
      }
      attempt.abort();
      this.hooks.teardown();
      // close() may have run during the awaits above; TypeScript narrows `stopped` across them.

      if (this.stopped) return;

      if (failure && isFatal(failure)) {
        this.fail(failure);
        return;
      }
      this.setPhase(this.everJoined ? 'reconnecting' : 'connecting');
      const delayMs = this.nextDelay(failure);
      if (failure) {
        this.log.warn(`attempt failed (${failure.code}: ${failure.message}); retrying in ${delayMs} ms`);
        this.hooks.onRetry(failure, delayMs);
      }
      await this.sleep(delayMs);
    }
  }

  private async join(attempt: Attempt): Promise<JoinData> {
    const payload = {
      room: this.options.room,
      role: this.options.role,
      ...(this.options.token ? { token: this.options.token } : {}),
    };
    if (this.joinedOnSocketId && this.joinedOnSocketId === this.signaling.socketId) {
      // Same socket as a previous session: drop that server-side state first.
      await this.leaveQuietly(attempt);
    }
    try {
      const data = await attempt.guard(this.signaling.request('join', payload));
      this.joinedOnSocketId = this.signaling.socketId;
      return data;
    } catch (error) {
      if (!(error instanceof SignalingError) || error.code !== 'ALREADY_JOINED') throw error;
      // The server still holds our old peer (e.g. after a `reconnect` event): leave and retry once.
      await this.leaveQuietly(attempt);
      const data = await attempt.guard(this.signaling.request('join', payload));
      this.joinedOnSocketId = this.signaling.socketId;
      return data;
    }
  }

  private async leaveQuietly(attempt: Attempt): Promise<void> {
    try {
      await attempt.guard(this.signaling.request('leave', {}));
    } catch (error) {
      if (error instanceof StaleAttemptError) throw error;
      // NOT_JOINED and friends: nothing to leave, which is what we wanted.
    }
    this.joinedOnSocketId = undefined;
  }

  private nextDelay(failure: FloodlightError | null): number {
    const healthy = !failure && this.joinedAt > 0 && Date.now() - this.joinedAt >= this.backoff.healthySessionMs;
    if (healthy) {
      // A session that worked for a while: come back at once.
      this.backoffMs = this.backoff.initialMs;
      return 0;
    }
    const delay = this.backoffMs * (0.8 + Math.random() * 0.4);
    this.backoffMs = Math.min(this.backoffMs * 2, this.backoff.maxMs);
    return Math.round(delay);
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeFromSleep = () => {
        this.wakeFromSleep = null;
        done();
      };
    });
  }

  private fail(error: FloodlightError): void {
    if (this.stopped) return;
    this.log.warn(`giving up: ${error.code}: ${error.message}`);
    this.shutDown();
    // The owner records the error before the phase change, so state listeners can read it.
    this.hooks.onFatal(error);
    this.setPhase('failed');
    this.signaling.close();
    this.settleStart?.reject(error);
    this.settleStart = null;
  }

  private shutDown(): void {
    this.stopped = true;
    for (const unsubscribe of this.unsubscribers.splice(0)) unsubscribe();
    this.attempt?.abort();
    this.wakeFromSleep?.();
    this.hooks.teardown();
  }

  private setPhase(phase: ConnectionPhase): void {
    if (this.phaseValue === phase) return;
    this.phaseValue = phase;
    this.hooks.onPhase(phase);
  }
}
