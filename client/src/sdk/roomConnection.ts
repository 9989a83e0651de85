import { isJoinRedirect, type JoinAnswer, type RequestPayload, type ResponseData, type Role } from '../../../server/contracts/signaling.js';
import { Attempt, StaleAttemptError } from './attempt.js';
import { FloodlightError, SignalingError, isFatal, toFloodlightError } from './errors.js';
import { SignalingClient, type SignalingClientOptions } from './signalingClient.js';
import { NodeAlternates } from './nodeFailover.js';

/**
 * Where the room connection stands:
 *   connecting   – first join not done yet
 *   joined       – joined and the owner's media set up
 *   reconnecting – lost the socket or rejoining after a drop
 *   failed       – gave up for good (fatal error)
 *   closed       – closed by the user
 */
export type ConnectionPhase = 'connecting' | 'joined' | 'reconnecting' | 'failed' | 'closed';

export type JoinData = JoinAnswer;

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
  /** Region hint for cluster placement (a node's REGION label). */
  region?: string;
  /** Cluster failover: how long the socket may stay lost before asking the alternates where to go (default 2 s). */
  failoverAfterMs?: number;
}

/** Redirects followed in a row before the attempt fails (a misconfigured cluster must not loop forever). */
const MAX_REDIRECTS = 3;
/** How long one alternate's join endpoint, or a new node's socket, may take to answer. */
const NODE_PROBE_TIMEOUT_MS = 2_000;

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
  /** Other nodes to go to if this one goes away (cluster). */
  readonly alternates = new NodeAlternates();
  private failoverTimer: ReturnType<typeof setTimeout> | null = null;
  /** A move or failover is switching servers: one at a time. */
  private switching = false;

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
        this.armFailover();
      }),
      s.on('connected', () => this.disarmFailover()),
      s.on('move', ({ url, alternates, reason }) => {
        this.alternates.remember(alternates, url);
        void this.moveTo(url, `server asked to move: ${reason}`);
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

  /** Joins, following the node's redirects (cluster placement) on the way. */
  private async join(attempt: Attempt): Promise<JoinData> {
    const payload: RequestPayload<'join'> = {
      room: this.options.room,
      role: this.options.role,
      ...(this.options.token ? { token: this.options.token } : {}),
      ...(this.options.region ? { region: this.options.region } : {}),
    };
    for (let redirects = 0; ; redirects++) {
      const answer = await this.joinHere(attempt, payload);
      if (!isJoinRedirect(answer)) {
        this.alternates.remember(answer.alternates, this.signaling.serverUrl);
        return answer;
      }
      if (redirects >= MAX_REDIRECTS) throw new FloodlightError('UNAVAILABLE', `redirected ${redirects + 1} times in a row; last: ${answer.reason}`);
      this.log.info(`redirected to ${answer.redirect}: ${answer.reason}`);
      this.alternates.remember(answer.alternates, answer.redirect);
      // The new socket is this attempt's own: its `connected` must not restart the attempt.
      this.attemptUsesSocket = false;
      await attempt.guard(this.signaling.switchServer(answer.redirect, NODE_PROBE_TIMEOUT_MS));
      this.attemptUsesSocket = true;
    }
  }

  private async joinHere(attempt: Attempt, payload: RequestPayload<'join'>): Promise<ResponseData['join']> {
    if (this.joinedOnSocketId && this.joinedOnSocketId === this.signaling.socketId) {
      // Same socket as a previous session: drop that server-side state first.
      await this.leaveQuietly(attempt);
    }
    try {
      const data = await attempt.guard(this.signaling.request('join', payload));
      if (!isJoinRedirect(data)) this.joinedOnSocketId = this.signaling.socketId;
      return data;
    } catch (error) {
      if (!(error instanceof SignalingError) || error.code !== 'ALREADY_JOINED') throw error;
      // The server still holds our old peer (e.g. after a `reconnect` event): leave and retry once.
      await this.leaveQuietly(attempt);
      const data = await attempt.guard(this.signaling.request('join', payload));
      if (!isJoinRedirect(data)) this.joinedOnSocketId = this.signaling.socketId;
      return data;
    }
  }

  /**
   * Moves to another node: its socket comes up first (this node keeps serving
   * meanwhile), then the session is rebuilt there (the new socket's `connected`
   * restarts the attempt). A node that does not answer leaves us where we are.
   */
  private async moveTo(url: string, reason: string): Promise<void> {
    if (this.stopped || this.switching) return;
    this.switching = true;
    try {
      this.log.info(`moving to ${url}: ${reason}`);
      await this.signaling.switchServer(url, NODE_PROBE_TIMEOUT_MS);
    } catch (error) {
      this.log.warn(`could not move to ${url}: ${toFloodlightError(error).message}`);
    } finally {
      this.switching = false;
    }
  }

  /** The socket is lost: if it stays lost, ask the alternates where to go. */
  private armFailover(): void {
    if (this.stopped || this.failoverTimer || this.alternates.list.length === 0) return;
    this.failoverTimer = setTimeout(() => {
      this.failoverTimer = null;
      void this.failOver();
    }, this.options.failoverAfterMs ?? 2_000);
  }

  private disarmFailover(): void {
    if (this.failoverTimer) clearTimeout(this.failoverTimer);
    this.failoverTimer = null;
  }

  private async failOver(): Promise<void> {
    if (this.stopped || this.signaling.connected || this.switching) return;
    const { room, role, region } = this.options;
    const found = await this.alternates.find({ room, role, region, lost: this.signaling.serverUrl, timeoutMs: NODE_PROBE_TIMEOUT_MS });
    if (this.stopped || this.signaling.connected) return;
    if (found) {
      this.alternates.remember(found.alternates, found.url);
      await this.moveTo(found.url, `${this.signaling.serverUrl ?? 'the node'} is unreachable`);
    }
    // Still nowhere (the alternates are down too, or the move failed): look again later.
    if (!this.signaling.connected) this.armFailover();
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
    this.disarmFailover();
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
