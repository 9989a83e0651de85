/**
 * Request rate limits per client address for the WHIP and WHEP endpoints: a
 * POST sets up a transport and an offer's worth of parsing, so one address
 * flooding POSTs (or PATCHes) is answered 429 + Retry-After (problem+json)
 * before any of that — before authentication too, which may hash a key or
 * ask Redis. Other addresses are not affected; the node-wide caps (pending
 * sessions → 503) still protect the node from many addresses at once.
 *
 * The address is the TCP peer's (IPv4, or the /64 of an IPv6 address: one
 * host usually holds a whole /64). Behind a reverse proxy every request comes
 * from the proxy, so raise the limit there or turn it off (perMinute 0).
 * PATCH gets PATCH_ALLOWANCE times the POST limit: a trickling client sends
 * one PATCH per candidate (GStreamer's whip-client ~10 per session).
 */
import type { NextFunction, Request, Response } from 'express';
import { RateLimiter } from '../signaling/rateLimiter.js';
import { problems } from './httpProblem.js';

export interface RequestRateLimit {
  /** Sustained requests per minute per address; 0 turns the limit off. */
  perMinute: number;
  /** Requests an address may make at once before the sustained rate applies. */
  burst: number;
}

export const DEFAULT_REQUEST_RATE_LIMIT: RequestRateLimit = { perMinute: 60, burst: 20 };
export const PATCH_ALLOWANCE = 10;
/** Addresses remembered at most; full (idle) buckets are forgotten first. */
const MAX_ADDRESSES = 50_000;

export class AddressRateLimit {
  readonly #buckets = new Map<string, RateLimiter>();
  readonly #limit: RequestRateLimit;
  readonly #what: string;

  constructor(what: string, limit: RequestRateLimit) {
    this.#what = what;
    this.#limit = limit;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** 0: go ahead; otherwise the seconds to wait (the request was not counted). */
  take(address: string): number {
    if (this.#limit.perMinute <= 0) return 0;
    const key = addressKey(address);
    let bucket = this.#buckets.get(key);
    if (!bucket) {
      if (this.#buckets.size >= MAX_ADDRESSES) this.#forgetSome();
      bucket = new RateLimiter(this.#limit.perMinute / 60, Math.max(1, this.#limit.burst));
      this.#buckets.set(key, bucket);
    }
    if (bucket.tryTake()) return 0;
    return Math.max(1, Math.ceil(bucket.msUntilNextToken() / 1000));
  }

  /** Express middleware: 429 problem+json with Retry-After once the address is over its limit. */
  readonly middleware = (req: Request, _res: Response, next: NextFunction): void => {
    const retryAfter = this.take(req.socket.remoteAddress ?? 'unknown');
    if (retryAfter > 0) {
      throw problems.tooManyRequests(
        `too many ${this.#what} from this address (${this.#limit.perMinute} a minute, ${this.#limit.burst} at once); retry in ${retryAfter} s`,
        retryAfter,
      );
    }
    next();
  };

  /** Full buckets are as good as new ones; if that is not enough, the oldest go. */
  #forgetSome(): void {
    for (const [key, bucket] of this.#buckets) if (bucket.full) this.#buckets.delete(key);
    const excess = this.#buckets.size - Math.floor(MAX_ADDRESSES * 0.9);
    if (excess <= 0) return;
    let dropped = 0;
    for (const key of this.#buckets.keys()) {
      if (dropped++ >= excess) break;
      this.#buckets.delete(key);
    }
  }
}

/** IPv4 as it is ("::ffff:a.b.c.d" unwrapped); IPv6 by its /64 prefix. */
export function addressKey(address: string): string {
  const v4 = /^(?:::ffff:)?(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (v4) return v4[1]!;
  const bare = address.split('%')[0]!.toLowerCase();
  if (!bare.includes(':')) return bare;
  const [head = '', tail] = bare.split('::');
  const headGroups = head ? head.split(':') : [];
  const tailGroups = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? headGroups : [...headGroups, ...Array<string>(Math.max(0, 8 - headGroups.length - tailGroups.length)).fill('0'), ...tailGroups];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/** The limits of one endpoint (WHIP or WHEP): its POSTs, and its sessions' PATCHes with their allowance. */
export function endpointRateLimits(
  kind: 'WHIP' | 'WHEP',
  limit: RequestRateLimit = DEFAULT_REQUEST_RATE_LIMIT,
): { posts: AddressRateLimit; patches: AddressRateLimit } {
  return {
    posts: new AddressRateLimit(`${kind} POSTs`, limit),
    patches: new AddressRateLimit(`${kind} PATCHes`, { perMinute: limit.perMinute * PATCH_ALLOWANCE, burst: limit.burst * PATCH_ALLOWANCE }),
  };
}
