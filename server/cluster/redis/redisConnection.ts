/**
 * Connections to the cluster's Redis, from the settings (REDIS_URL or
 * Sentinel). ioredis reconnects by itself (and re-subscribes, and follows a
 * Sentinel switch of the primary); what this adds is a clear first contact:
 * `connectRedis` resolves once the server answers, and rejects with one
 * RedisConnectError naming the cause — credentials refused stop there, with
 * no reconnect loop — instead of an endless stream of retries and errors.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../../observability/logger.js';
import type { RedisSettings } from '../../config/config.js';

export class RedisConnectError extends Error {
  constructor(
    message: string,
    /** 'auth': credentials refused; 'unreachable': no answer in time. */
    readonly reason: 'auth' | 'unreachable',
  ) {
    super(message);
    this.name = 'RedisConnectError';
  }
}

/** Replies with which Redis refuses credentials (ACL, requirepass, or a password sent to a server without one). */
const AUTH_REFUSED = /WRONGPASS|NOAUTH|NOPERM|invalid username-password|AUTH.*without any password/i;

export function isAuthError(error: unknown): boolean {
  return error instanceof Error && AUTH_REFUSED.test(error.message);
}

/** Longest a command waits for Redis; above a claim's WAIT (500 ms), far below a join's patience. */
export const REDIS_COMMAND_TIMEOUT_MS = 2_000;

/** ioredis options for the settings; `name` labels the connection (CLIENT LIST shows it). */
export function redisOptions(settings: RedisSettings, name: string): RedisOptions {
  const common: RedisOptions = {
    connectionName: name,
    // Commands issued while Redis is away wait for it rather than fail at once, but
    // never longer than REDIS_COMMAND_TIMEOUT_MS: a join that needs the shared state
    // (placement, an edge's origin look-up) must fail with UNAVAILABLE, not hang
    // until Redis is back (measured in the redis drill: 7.6 s). Retries back off to
    // one attempt per second.
    maxRetriesPerRequest: null,
    commandTimeout: REDIS_COMMAND_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000),
    // A replica promoted by Sentinel, or a primary demoted: reconnect to the new primary.
    reconnectOnError: (error) => error.message.startsWith('READONLY'),
    lazyConnect: true,
  };
  if (settings.mode === 'url') {
    const url = new URL(settings.url);
    return {
      ...common,
      host: url.hostname.replace(/^\[|\]$/g, ''),
      port: url.port === '' ? 6379 : Number(url.port),
      username: url.username === '' ? undefined : decodeURIComponent(url.username),
      password: url.password === '' ? undefined : decodeURIComponent(url.password),
      db: url.pathname.length > 1 ? Number(url.pathname.slice(1)) : 0,
      tls: url.protocol === 'rediss:' ? { servername: url.hostname } : undefined,
    };
  }
  return {
    ...common,
    sentinels: settings.sentinels,
    name: settings.name,
    sentinelPassword: settings.sentinelPassword,
    password: settings.password,
    sentinelRetryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 1_000),
  };
}

/** Where the settings point, without credentials, for messages. */
export function describeRedis(settings: RedisSettings): string {
  if (settings.mode === 'sentinel') return `Sentinel "${settings.name}" (${settings.sentinels.map((s) => `${s.host}:${s.port}`).join(', ')})`;
  const url = new URL(settings.url);
  return `${url.protocol}//${url.host}`;
}

/**
 * A connected client (the server answered PING). After that it reconnects by
 * itself; errors are logged once per distinct message, not once per retry.
 */
export async function connectRedis(settings: RedisSettings, options: { name: string; logger: Logger; timeoutMs?: number }): Promise<Redis> {
  const client = new Redis(redisOptions(settings, options.name));
  watchErrors(client, options.logger.child({ component: 'redis', connection: options.name }));
  await firstContact(client, describeRedis(settings), options.timeoutMs ?? 10_000);
  return client;
}

/** A second connection with the same settings (pub/sub needs its own), connected. */
export async function duplicateConnection(client: Redis, options: { name: string; logger: Logger; timeoutMs?: number }): Promise<Redis> {
  const copy = client.duplicate({ connectionName: options.name, lazyConnect: true });
  watchErrors(copy, options.logger.child({ component: 'redis', connection: options.name }));
  await firstContact(copy, `Redis (${options.name})`, options.timeoutMs ?? 10_000);
  return copy;
}

function watchErrors(client: Redis, log: Logger): void {
  let last = '';
  client.on('error', (error: Error) => {
    if (error.message === last) return;
    last = error.message;
    log.warn({ err: error.message }, 'redis connection error (reconnecting)');
  });
  client.on('ready', () => {
    if (last !== '') log.info('redis connection back');
    last = '';
  });
}

async function firstContact(client: Redis, where: string, timeoutMs: number): Promise<void> {
  let lastError: Error | undefined;
  let refuse: ((error: RedisConnectError) => void) | undefined;
  // Credentials refused never get better by retrying: stop at the first refusal.
  const onError = (error: Error): void => {
    lastError = error;
    if (isAuthError(error)) refuse?.(new RedisConnectError(`${where} refused the credentials: ${error.message}`, 'auth'));
  };
  client.on('error', onError);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect().then(() => client.ping()),
      new Promise<never>((_, reject) => {
        refuse = reject;
        timer = setTimeout(() => {
          reject(new RedisConnectError(`${where} did not answer within ${timeoutMs} ms${lastError ? ` (${lastError.message})` : ''}`, 'unreachable'));
        }, timeoutMs);
      }),
    ]);
  } catch (error) {
    client.disconnect();
    if (error instanceof RedisConnectError) throw error;
    if (isAuthError(error)) throw new RedisConnectError(`${where} refused the credentials: ${(error as Error).message}`, 'auth');
    throw new RedisConnectError(`${where}: ${(error as Error).message}`, 'unreachable');
  } finally {
    clearTimeout(timer);
    client.off('error', onError);
  }
}
