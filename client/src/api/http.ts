/**
 * GET (or POST/DELETE) a JSON API of this server. The body is typed by the wire contract both
 * ends import (server/contracts/), so it is used as sent, not re-parsed; a
 * non-2xx answer becomes an ApiError carrying the server's error code.
 */
import type { ApiErrorBody } from '../../../server/contracts/adminApi';

/** An API answer that is not 2xx; `code` is the server's error code when it sent one. */
export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }

  /** The token is the problem (missing, invalid, expired or not an admin's). */
  get isAuth(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

export async function getJson<T>(path: string, options: { token?: string | null; signal: AbortSignal }): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  const response = await fetch(path, { cache: 'no-store', headers, signal: options.signal });
  if (!response.ok) throw await apiError(response);
  return (await response.json()) as T;
}

/** POST or DELETE with an optional JSON body; resolves the JSON answer, or undefined for a 204. */
export async function sendJson<T>(
  method: 'POST' | 'DELETE',
  path: string,
  options: { token?: string | null; body?: unknown; signal: AbortSignal },
): Promise<T | undefined> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (options.token) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const body = options.body === undefined ? null : JSON.stringify(options.body);
  const response = await fetch(path, { method, cache: 'no-store', headers, body, signal: options.signal });
  if (!response.ok) throw await apiError(response);
  return response.status === 204 ? undefined : ((await response.json()) as T);
}

async function apiError(response: Response): Promise<ApiError> {
  let error: Partial<ApiErrorBody['error']> | undefined;
  try {
    // A proxy's HTML error page, or nothing: keep the status alone.
    error = ((await response.json()) as Partial<ApiErrorBody> | null)?.error;
  } catch {
    error = undefined;
  }
  const code = typeof error?.code === 'string' ? error.code : `HTTP_${response.status}`;
  const message = typeof error?.message === 'string' ? error.message : `server answered ${response.status}`;
  return new ApiError(response.status, code, message);
}
