/**
 * socket.io signaling. Each connection gets a SignalingSession that validates
 * every message (size, schema, rate, order, authorization) before it touches
 * a room, and always answers through the ack callback.
 */
import type { Server as IoServer, Socket } from 'socket.io';
import type { Logger } from '../observability/logger.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { Room } from '../rooms/room.js';
import { Peer, type EvictionReason } from '../rooms/peer.js';
import { TokenError, type TokenService } from '../auth/tokens.js';
import { protocolLimits, requestSchemas, type Ack, type ErrorCode, type RequestName, type RequestPayload, type ResponseData } from '../contracts/signaling.js';
import { SignalingError } from './signalingError.js';
import { RateLimiter } from './rateLimiter.js';

export interface SignalingOptions {
  requireViewerToken: boolean;
}

export interface SignalingStats {
  connections: number;
  errorsByCode: Partial<Record<ErrorCode, number>>;
}

type Handler<N extends RequestName> = (payload: RequestPayload<N>) => Promise<ResponseData[N]>;

export class SignalingServer {
  readonly #io: IoServer;
  readonly #rooms: RoomRegistry;
  readonly #tokens: TokenService;
  readonly #options: SignalingOptions;
  readonly #log: Logger;
  readonly #sessions = new Set<SignalingSession>();
  readonly stats: SignalingStats = { connections: 0, errorsByCode: {} };
  #shuttingDown = false;

  constructor(io: IoServer, rooms: RoomRegistry, tokens: TokenService, options: SignalingOptions, logger: Logger) {
    this.#io = io;
    this.#rooms = rooms;
    this.#tokens = tokens;
    this.#options = options;
    this.#log = logger.child({ component: 'signaling' });
    io.on('connection', (socket) => {
      const session = new SignalingSession(socket, this);
      this.#sessions.add(session);
      this.stats.connections = this.#sessions.size;
      socket.once('disconnect', (reason) => {
        session.close(reason);
        this.#sessions.delete(session);
        this.stats.connections = this.#sessions.size;
      });
    });
  }

  get rooms(): RoomRegistry {
    return this.#rooms;
  }
  get tokens(): TokenService {
    return this.#tokens;
  }
  get options(): SignalingOptions {
    return this.#options;
  }
  get log(): Logger {
    return this.#log;
  }
  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  countError(code: ErrorCode): void {
    this.stats.errorsByCode[code] = (this.stats.errorsByCode[code] ?? 0) + 1;
  }

  /** Stops accepting joins; connected clients are told by their rooms closing. */
  close(): void {
    this.#shuttingDown = true;
    for (const session of this.#sessions) session.close('server shutdown');
    this.#sessions.clear();
    this.#io.disconnectSockets(true);
  }
}

class SignalingSession {
  readonly #socket: Socket;
  readonly #server: SignalingServer;
  readonly #limiter = new RateLimiter(protocolLimits.messagesPerSecond, protocolLimits.messageBurst);
  #room: Room | undefined;
  #peer: Peer | undefined;
  /** Requests of one connection run one at a time, in arrival order. */
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(socket: Socket, server: SignalingServer) {
    this.#socket = socket;
    this.#server = server;
    socket.onAny((event: unknown, ...args: unknown[]) => this.#onMessage(event, args));
  }

  close(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#leave();
    this.#server.log.debug({ socket: this.#socket.id, reason }, 'connection closed');
  }

  #onMessage(event: unknown, args: unknown[]): void {
    const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as (response: Ack<unknown>) => void) : undefined;
    const reply = (response: Ack<unknown>) => {
      if (!response.ok) this.#server.countError(response.error.code);
      ack?.(response);
    };
    const fail = (code: ErrorCode, message: string) => reply({ ok: false, error: { code, message } });

    if (!this.#limiter.tryTake()) return fail('RATE_LIMITED', 'too many messages; slow down');
    if (typeof event !== 'string' || !Object.hasOwn(requestSchemas, event)) {
      return fail('UNKNOWN_MESSAGE', `unknown message "${String(event).slice(0, 64)}"`);
    }
    if (!ack) {
      // Requests without an ack can't be answered: drop them, but count it.
      this.#server.countError('BAD_REQUEST');
      return;
    }
    if (args.length > 1) return fail('BAD_REQUEST', 'send exactly one payload object');
    const raw = args[0] ?? {};
    let size: number;
    try {
      size = Buffer.byteLength(JSON.stringify(raw) ?? '');
    } catch {
      return fail('BAD_REQUEST', 'payload is not JSON');
    }
    if (size > protocolLimits.maxPayloadBytes) {
      return fail('PAYLOAD_TOO_LARGE', `payload is ${size} bytes; the limit is ${protocolLimits.maxPayloadBytes}`);
    }
    const name = event as RequestName;
    const parsed = requestSchemas[name].safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
      return fail('BAD_REQUEST', `invalid ${name}: ${where}${issue.message}`);
    }
    const run = async () => {
      try {
        const data = await this.#dispatch(name, parsed.data);
        reply({ ok: true, data });
      } catch (error) {
        if (error instanceof SignalingError) return fail(error.code, error.message);
        this.#server.log.error({ err: error, message: name, socket: this.#socket.id }, 'request failed');
        fail('INTERNAL', 'internal error');
      }
    };
    this.#queue = this.#queue.then(run, run);
  }

  #dispatch<N extends RequestName>(name: N, payload: RequestPayload<N>): Promise<ResponseData[N]> {
    const handler = (this.#handlers as { [K in RequestName]: Handler<K> })[name];
    return handler(payload);
  }

  readonly #handlers: { [K in RequestName]: Handler<K> } = {
    join: (p) => this.#join(p),
    getRouterRtpCapabilities: async () => {
      const { room, peer } = this.#joined();
      return { routerRtpCapabilities: room.routerRtpCapabilities(peer) };
    },
    createTransport: async (p) => {
      const { room, peer } = this.#joined();
      return room.createTransport(peer, p.direction);
    },
    connectTransport: async (p) => {
      const { room, peer } = this.#joined();
      await room.connectTransport(peer, p);
      return {};
    },
    restartIce: async (p) => {
      const { room, peer } = this.#joined();
      return room.restartIce(peer, p.transportId);
    },
    produce: async (p) => {
      const { room, peer } = this.#joined();
      return { producerId: await room.produce(peer, p) };
    },
    closeProducer: async (p) => {
      const { room, peer } = this.#joined();
      room.closeProducer(peer, p.producerId);
      return {};
    },
    pauseProducer: async (p) => {
      const { room, peer } = this.#joined();
      await room.setProducerPaused(peer, p.producerId, true);
      return {};
    },
    resumeProducer: async (p) => {
      const { room, peer } = this.#joined();
      await room.setProducerPaused(peer, p.producerId, false);
      return {};
    },
    consume: async (p) => {
      const { room, peer } = this.#joined();
      return room.consume(peer, p);
    },
    resumeConsumer: async (p) => {
      const { room, peer } = this.#joined();
      await room.setConsumerPaused(peer, p.consumerId, false);
      return {};
    },
    pauseConsumer: async (p) => {
      const { room, peer } = this.#joined();
      await room.setConsumerPaused(peer, p.consumerId, true);
      return {};
    },
    setPreferredLayers: async (p) => {
      const { room, peer } = this.#joined();
      await room.setPreferredLayers(peer, p);
      return {};
    },
    leave: async () => {
      this.#joined();
      this.#leave();
      return {};
    },
  };

  async #join({ room: roomId, role, token }: RequestPayload<'join'>): Promise<ResponseData['join']> {
    if (this.#server.shuttingDown || this.#closed) throw new SignalingError('UNAVAILABLE', 'server is shutting down');
    if (this.#peer) throw new SignalingError('ALREADY_JOINED', `already in room "${this.#room?.id}"; leave first`);
    await this.#authorize(roomId, role, token);
    if (this.#closed) throw new SignalingError('UNAVAILABLE', 'connection closed');
    const room = this.#server.rooms.getOrCreate(roomId);
    const peer = new Peer(
      room.newPeerId(),
      role,
      (event, data) => this.#socket.emit(event, data),
      (reason) => this.#onEvicted(peer, reason),
    );
    try {
      const joined = await room.join(peer);
      if (this.#closed) {
        // The connection dropped while joining: don't leave a ghost peer behind.
        room.leave(peer);
        throw new SignalingError('UNAVAILABLE', 'connection closed while joining');
      }
      this.#room = room;
      this.#peer = peer;
      return joined;
    } catch (error) {
      peer.close();
      this.#server.rooms.releaseIfEmpty(room);
      throw error;
    }
  }

  async #authorize(room: string, role: 'publisher' | 'viewer', token: string | undefined): Promise<void> {
    const needsToken = role === 'publisher' || this.#server.options.requireViewerToken;
    if (!token) {
      if (needsToken) throw new SignalingError('UNAUTHORIZED', `${role === 'publisher' ? 'publishing' : 'viewing'} needs a token`);
      return;
    }
    let claimsRole: string;
    try {
      claimsRole = (await this.#server.tokens.verifyForRoom(token, room)).role;
    } catch (error) {
      if (error instanceof TokenError) throw new SignalingError(error.code, error.message);
      throw error;
    }
    // Publisher and admin tokens may also watch; only they may publish.
    if (role === 'publisher' && claimsRole !== 'publisher' && claimsRole !== 'admin') {
      throw new SignalingError('FORBIDDEN', `a ${claimsRole} token cannot publish`);
    }
  }

  #joined(): { room: Room; peer: Peer } {
    if (!this.#room || !this.#peer || this.#peer.closed) throw new SignalingError('NOT_JOINED', 'join a room first');
    return { room: this.#room, peer: this.#peer };
  }

  #leave(): void {
    const room = this.#room;
    const peer = this.#peer;
    this.#room = undefined;
    this.#peer = undefined;
    if (room && peer) room.leave(peer);
  }

  #onEvicted(peer: Peer, reason: EvictionReason): void {
    if (this.#peer !== peer) return;
    this.#room = undefined;
    this.#peer = undefined;
    this.#socket.emit(reason.kind, { reason: reason.reason });
  }
}
