/**
 * Access tokens: HS256 JWTs whose claims name the room and the role.
 *   { room: "<room id>" | "*", role: "publisher" | "viewer" | "admin" }
 * `room: "*"` is only meaningful for admin tokens (operator pages).
 */
import { SignJWT, jwtVerify, errors as joseErrors } from 'jose';
import { z } from 'zod';

export const tokenRoleSchema = z.enum(['publisher', 'viewer', 'admin']);
export type TokenRole = z.infer<typeof tokenRoleSchema>;

const claimsSchema = z.object({
  room: z.string().min(1).max(64),
  role: tokenRoleSchema,
});
export type TokenClaims = z.infer<typeof claimsSchema>;

export type TokenFailure = 'TOKEN_INVALID' | 'TOKEN_EXPIRED' | 'TOKEN_WRONG_ROOM';

export class TokenError extends Error {
  constructor(
    readonly code: TokenFailure,
    message: string,
  ) {
    super(message);
    this.name = 'TokenError';
  }
}

const ISSUER = 'floodlight';

/** Longest lifetime a token may have (a year): a token that never expires is a key that can't be revoked. */
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600;

/** Parses "90s", "15m", "1h", "7d" (or a bare number of seconds) to seconds. */
export function parseTtl(ttl: string): number {
  const match = /^(\d+)\s*([smhd]?)$/.exec(ttl.trim());
  if (!match) throw new Error(`invalid ttl "${ttl}" (use e.g. 90s, 15m, 1h, 7d)`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[match[2] as '' | 's' | 'm' | 'h' | 'd'];
  const seconds = Number(match[1]) * unit;
  if (seconds <= 0) throw new Error('ttl must be positive');
  if (seconds > MAX_TOKEN_TTL_SECONDS) throw new Error(`ttl must be at most ${MAX_TOKEN_TTL_SECONDS / 86400} days`);
  return seconds;
}

export class TokenService {
  readonly #key: Uint8Array;

  constructor(secret: string) {
    this.#key = new TextEncoder().encode(secret);
  }

  async issue(claims: TokenClaims, ttlSeconds: number): Promise<string> {
    if (!(ttlSeconds > 0 && ttlSeconds <= MAX_TOKEN_TTL_SECONDS)) throw new RangeError(`token lifetime must be between 1 s and ${MAX_TOKEN_TTL_SECONDS} s`);
    return new SignJWT({ room: claims.room, role: claims.role })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER)
      .setIssuedAt()
      .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
      .sign(this.#key);
  }

  /** Verifies signature, expiry and shape; throws TokenError with a code. */
  async verify(token: string): Promise<TokenClaims> {
    let payload: unknown;
    try {
      ({ payload } = await jwtVerify(token, this.#key, { algorithms: ['HS256'], issuer: ISSUER, requiredClaims: ['exp'] }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw new TokenError('TOKEN_EXPIRED', 'token has expired');
      if (error instanceof joseErrors.JWTClaimValidationFailed && error.claim === 'exp') {
        throw new TokenError('TOKEN_INVALID', 'token has no expiry (exp); every token must expire');
      }
      throw new TokenError('TOKEN_INVALID', 'token is malformed or its signature does not verify');
    }
    const exp = (payload as { exp?: unknown }).exp;
    if (typeof exp === 'number' && exp - Date.now() / 1000 > MAX_TOKEN_TTL_SECONDS) {
      throw new TokenError('TOKEN_INVALID', `token lifetime is over the ${MAX_TOKEN_TTL_SECONDS / 86400}-day limit`);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new TokenError('TOKEN_INVALID', 'token claims must name a room and a role');
    return claims.data;
  }

  /** Verifies and checks the token is for `room` (admin tokens may say "*"). */
  async verifyForRoom(token: string, room: string): Promise<TokenClaims> {
    const claims = await this.verify(token);
    const wildcard = claims.role === 'admin' && claims.room === '*';
    if (!wildcard && claims.room !== room) {
      throw new TokenError('TOKEN_WRONG_ROOM', `token is for room "${claims.room}", not "${room}"`);
    }
    return claims;
  }
}
