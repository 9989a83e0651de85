/**
 * socket.io signaling: one SignalingSession per connection (see there for the
 * message gate), plus what sessions share — rooms, auth, error counters.
 */
import type { Server as IoServer } from 'socket.io';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import type { TokenService } from '../auth/tokens.js';
import type { ErrorCode, Role } from '../contracts/signaling.js';
import type { JoinDecision } from '../cluster/placement/placementPolicy.js';
import type { PlacementService } from '../cluster/placement/placementService.js';
import type { PlacementRequest } from '../cluster/placement/selectors.js';
import type { DrainableMember } from '../cluster/placement/nodeDrain.js';
import { SignalingSession } from './signalingSession.js';
import { SignalingError } from './wireMapping.js';

export interface SignalingOptions {
  requireViewerToken: boolean;
}

export interface SignalingStats {
  connections: number;
  errorsByCode: Partial<Record<ErrorCode, number>>;
}

/** What every session of this server shares. */
export interface SignalingContext {
  readonly rooms: RoomRegistry;
  readonly log: Logger;
  readonly shuttingDown: boolean;
  countError(code: ErrorCode): void;
  /** Throws (TokenError / SignalingError) unless `token` lets its bearer join `room` as `role`. */
  authorize(room: string, role: Role, token: string | undefined): Promise<void>;
  /** Every router has the same codecs, so one answer serves every join. */
  routerRtpCapabilities(): ms.RtpCapabilities;
  /** Serve this join here, or send the client to another node (cluster placement). */
  placeJoin(request: PlacementRequest): Promise<{ decision: JoinDecision; alternates: string[] }>;
}

export interface SignalingServerDeps {
  io: IoServer;
  rooms: RoomRegistry;
  tokens: TokenService;
  routerRtpCapabilities: ms.RtpCapabilities;
  options: SignalingOptions;
  /** Cluster placement: redirects and alternates in join answers. */
  placement: PlacementService;
  logger: Logger;
}

export class SignalingServer implements SignalingContext {
  readonly stats: SignalingStats = { connections: 0, errorsByCode: {} };
  readonly rooms: RoomRegistry;
  readonly log: Logger;
  readonly #deps: SignalingServerDeps;
  readonly #sessions = new Set<SignalingSession>();
  #shuttingDown = false;

  constructor(deps: SignalingServerDeps) {
    this.#deps = deps;
    this.rooms = deps.rooms;
    this.log = deps.logger.child({ component: 'signaling' });
    deps.io.on('connection', (socket) => {
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

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  countError(code: ErrorCode): void {
    this.stats.errorsByCode[code] = (this.stats.errorsByCode[code] ?? 0) + 1;
  }

  routerRtpCapabilities(): ms.RtpCapabilities {
    return this.#deps.routerRtpCapabilities;
  }

  async placeJoin(request: PlacementRequest): Promise<{ decision: JoinDecision; alternates: string[] }> {
    try {
      return await this.#deps.placement.decide(request);
    } catch (error) {
      // Shared state out of reach (Redis down): this node keeps serving what reaches it.
      this.log.warn({ err: (error as Error).message, room: request.room }, 'placement unavailable; serving the join here');
      return { decision: { action: 'serve' }, alternates: [] };
    }
  }

  /** Clients joined on this node (what a drain moves). */
  *members(): Generator<DrainableMember> {
    for (const session of this.#sessions) if (session.request) yield session;
  }

  async authorize(room: string, role: Role, token: string | undefined): Promise<void> {
    const needsToken = role === 'publisher' || this.#deps.options.requireViewerToken;
    if (!token) {
      if (needsToken) throw new SignalingError('UNAUTHORIZED', `${role === 'publisher' ? 'publishing' : 'viewing'} needs a token`);
      return;
    }
    const claims = await this.#deps.tokens.verifyForRoom(token, room);
    // Publisher and admin tokens may also watch; only they may publish.
    if (role === 'publisher' && claims.role !== 'publisher' && claims.role !== 'admin') {
      throw new SignalingError('FORBIDDEN', `a ${claims.role} token cannot publish`);
    }
  }

  /** Stops accepting joins; connected clients are told by their rooms closing. */
  close(): void {
    this.#shuttingDown = true;
    for (const session of this.#sessions) session.close('server shutdown');
    this.#sessions.clear();
    this.#deps.io.disconnectSockets(true);
  }
}
