/**
 * Live push for the dashboard: socket.io namespace `/admin` on the signaling
 * server. The handshake must carry an admin token (`auth: { token }`); others
 * get `connect_error` with message UNAUTHORIZED (missing, invalid or expired
 * token; `err.data.code` says which) or FORBIDDEN (not an admin token).
 * Connected admins receive `overview` at once and every 2 s, and `alert` on
 * every fire/resolve. A socket is disconnected when its token expires.
 * Nothing is accepted from clients.
 */
import type { DefaultEventsMap, Namespace, Server as IoServer } from 'socket.io';
import type { TokenService } from '../auth/tokens.js';
import { checkAdminToken } from '../auth/adminAuth.js';
import type { Alert, Overview } from '../contracts/adminApi.js';
import type { Logger } from './logger.js';

export interface AdminFeedOptions {
  io: IoServer;
  tokens: TokenService;
  overview: () => Overview;
  logger: Logger;
  intervalMs?: number;
}

export const ADMIN_NAMESPACE = '/admin';

/** What the handshake check leaves on an admin socket: when its token expires (ms since epoch). */
interface AdminSocketData {
  expiresAt?: number | undefined;
}
type AdminNamespace = Namespace<DefaultEventsMap, DefaultEventsMap, DefaultEventsMap, AdminSocketData>;

export class AdminFeed {
  readonly #options: AdminFeedOptions;
  readonly #log: Logger;
  readonly #nsp: AdminNamespace;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: AdminFeedOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'admin-feed' });
    // The shared server leaves socket data untyped; on this namespace only the middleware below writes it.
    this.#nsp = options.io.of(ADMIN_NAMESPACE) as AdminNamespace;
    this.#nsp.use((socket, next) => {
      const token = (socket.handshake.auth as Record<string, unknown> | undefined)?.['token'];
      checkAdminToken(options.tokens, token).then(
        (result) => {
          if (!result.ok) {
            const error = new Error(result.status === 403 ? 'FORBIDDEN' : 'UNAUTHORIZED') as Error & { data?: unknown };
            error.data = { code: result.code, message: result.message };
            next(error);
            return;
          }
          socket.data.expiresAt = result.expiresAt;
          next();
        },
        (error: unknown) => next(error instanceof Error ? error : new Error('INTERNAL')),
      );
    });
    this.#nsp.on('connection', (socket) => {
      const { expiresAt } = socket.data;
      if (expiresAt !== undefined) {
        const timer = setTimeout(() => socket.disconnect(true), Math.max(0, Math.min(expiresAt - Date.now(), 2 ** 31 - 1)));
        timer.unref();
        socket.once('disconnect', () => clearTimeout(timer));
      }
      try {
        socket.emit('overview', this.#options.overview());
      } catch (error) {
        this.#log.error({ err: error }, 'could not build the overview');
      }
    });
    this.#timer = setInterval(() => this.#push(), options.intervalMs ?? 2000);
    this.#timer.unref();
  }

  get connections(): number {
    return this.#nsp.sockets.size;
  }

  alert(alert: Alert): void {
    if (this.#closed || this.#nsp.sockets.size === 0) return;
    this.#nsp.emit('alert', alert);
  }

  /** Stops pushing and disconnects admin sockets. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#nsp.disconnectSockets(true);
  }

  #push(): void {
    if (this.#closed || this.#nsp.sockets.size === 0) return;
    try {
      this.#nsp.emit('overview', this.#options.overview());
    } catch (error) {
      this.#log.error({ err: error }, 'could not build the overview');
    }
  }
}
