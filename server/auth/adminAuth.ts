/**
 * Admin access for operator endpoints and the /admin socket namespace: a
 * `Bearer` JWT (TokenService) with role `admin` and room `"*"`.
 *   missing            → 401 UNAUTHORIZED
 *   invalid / expired  → 401 TOKEN_INVALID / TOKEN_EXPIRED
 *   any other role, or an admin token for one room → 403 FORBIDDEN
 */
import type { Request, Response, NextFunction, RequestHandler } from 'express';
import { decodeJwt } from 'jose';
import { z } from 'zod';
import { TokenError, type TokenService } from './tokens.js';

export type AdminAuthCode = 'UNAUTHORIZED' | 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'FORBIDDEN';

export type AdminAuthResult = { ok: true; expiresAt: number | undefined } | { ok: false; status: 401 | 403; code: AdminAuthCode; message: string };

const tokenSchema = z.string().min(1).max(4096);

export async function checkAdminToken(tokens: TokenService, input: unknown): Promise<AdminAuthResult> {
  if (input === undefined || input === null || input === '') {
    return { ok: false, status: 401, code: 'UNAUTHORIZED', message: 'an admin token is required (Authorization: Bearer <token>)' };
  }
  const parsed = tokenSchema.safeParse(input);
  if (!parsed.success) return { ok: false, status: 401, code: 'TOKEN_INVALID', message: 'token must be a string of at most 4096 characters' };
  const token = parsed.data;
  try {
    const claims = await tokens.verify(token);
    if (claims.role !== 'admin') return { ok: false, status: 403, code: 'FORBIDDEN', message: `a ${claims.role} token cannot use operator endpoints` };
    if (claims.room !== '*') return { ok: false, status: 403, code: 'FORBIDDEN', message: 'operator endpoints need an admin token for room "*"' };
    const exp = decodeJwt(token).exp;
    return { ok: true, expiresAt: typeof exp === 'number' ? exp * 1000 : undefined };
  } catch (error) {
    if (error instanceof TokenError)
      return { ok: false, status: 401, code: error.code === 'TOKEN_EXPIRED' ? 'TOKEN_EXPIRED' : 'TOKEN_INVALID', message: error.message };
    throw error;
  }
}

/** The token of an `Authorization: Bearer …` header, or undefined. */
export function bearerToken(req: Request): string | undefined {
  const header = req.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const match = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Express middleware: only admins pass; others get a JSON error. */
export function requireAdmin(tokens: TokenService): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    checkAdminToken(tokens, bearerToken(req)).then(
      (result) => {
        if (result.ok) {
          next();
          return;
        }
        res.set('Cache-Control', 'no-store');
        if (result.status === 401) res.set('WWW-Authenticate', `Bearer realm="floodlight"${result.code === 'UNAUTHORIZED' ? '' : ', error="invalid_token"'}`);
        res.status(result.status).json({ error: { code: result.code, message: result.message } });
      },
      (error: unknown) => next(error),
    );
  };
}
