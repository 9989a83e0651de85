/**
 * HTTP to the leading origin, for the mirror: GETs with the cluster hop
 * header (the leader answers from its own files and never forwards), over
 * fetch's keep-alive connections. Errors are sorted in two kinds: the
 * leader answered (an HTTP status: it lives), or it could not be reached
 * (LeaderUnreachableError: refused, reset, closed mid-answer, or no answer in
 * time) — the mirror's takeover signal.
 */
import { HOP_HEADER } from '../hlsClusterProxy.js';

/** On the mirror's requests: which node pulls (the leader's logs and audience count can tell it from a player). */
export const MIRROR_HEADER = 'x-floodlight-mirror';

export class LeaderUnreachableError extends Error {
  constructor(
    readonly url: string,
    readonly code: string,
  ) {
    super(`the leading origin did not answer ${url} (${code})`);
    this.name = 'LeaderUnreachableError';
  }
}

export interface LeaderAnswer<T> {
  status: number;
  body: T | undefined;
}

/** The error code at the bottom of a fetch failure (ECONNREFUSED, ECONNRESET, UND_ERR_SOCKET…). */
function codeOf(error: unknown): string {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return (error as Error | null)?.name ?? 'unknown';
}

export class LeaderClient {
  readonly #baseUrl: string;
  readonly #nodeId: string;

  /** `baseUrl`: the leader's `/hls/<room>/` URL. */
  constructor(baseUrl: string, nodeId: string) {
    this.#baseUrl = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
    this.#nodeId = nodeId;
  }

  text(relative: string, signal: AbortSignal, timeoutMs: number): Promise<LeaderAnswer<string>> {
    return this.#get(relative, signal, timeoutMs, async (response) => response.text());
  }

  bytes(relative: string, signal: AbortSignal, timeoutMs: number): Promise<LeaderAnswer<Buffer>> {
    return this.#get(relative, signal, timeoutMs, async (response) => Buffer.from(await response.arrayBuffer()));
  }

  /** Throws LeaderUnreachableError, or the abort reason when `signal` aborted. */
  async #get<T>(relative: string, signal: AbortSignal, timeoutMs: number, read: (response: Response) => Promise<T>): Promise<LeaderAnswer<T>> {
    const url = this.#baseUrl + relative;
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const response = await fetch(url, {
        headers: { [HOP_HEADER]: '1', [MIRROR_HEADER]: this.#nodeId, 'accept-encoding': 'identity' },
        signal: AbortSignal.any([signal, timeout]),
      });
      if (response.status !== 200) {
        await response.body?.cancel();
        return { status: response.status, body: undefined };
      }
      return { status: 200, body: await read(response) };
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw new LeaderUnreachableError(url, timeout.aborted ? 'timeout' : codeOf(error));
    }
  }
}
