import { joinPlacementPath, type JoinPlacementResponse } from '../../../server/contracts/joinApi.js';

/**
 * The other cluster nodes a client may go to, best first: learnt from join
 * answers, redirects and `move` events, and asked in turn (their join
 * endpoint) when the current node stops answering. The project's own answer
 * to DNS-based failover.
 */
export class NodeAlternates {
  private urls: string[] = [];

  /** Replaces the list with a fresher one (the server's order), never listing `current`. */
  remember(alternates: readonly string[], current: string | undefined): void {
    const fresh = alternates.filter((url) => url !== current);
    if (fresh.length > 0 || alternates.length === 0) this.urls = [...new Set(fresh)];
  }

  get list(): readonly string[] {
    return this.urls;
  }

  /**
   * Asks each alternate in turn where to join now; the first answer wins.
   * Undefined when none answered (all down too, or no alternates known).
   */
  async find(query: {
    room: string;
    role: 'viewer' | 'publisher';
    region: string | undefined;
    lost: string | undefined;
    timeoutMs: number;
  }): Promise<JoinPlacementResponse | undefined> {
    const { room, role, region, lost, timeoutMs } = query;
    for (const base of this.urls) {
      try {
        const response = await fetch(base + joinPlacementPath(room, role, region), { signal: AbortSignal.timeout(timeoutMs) });
        if (!response.ok) continue;
        const body = (await response.json()) as Partial<JoinPlacementResponse>;
        if (typeof body.url !== 'string' || !Array.isArray(body.alternates)) continue;
        // The registry lists a crashed node for a few seconds more: never go back to the one just lost.
        const url = body.url === lost ? body.alternates.find((candidate) => candidate !== lost) : body.url;
        if (url) return { node: body.node ?? '', url, alternates: body.alternates.filter((candidate) => candidate !== url && candidate !== lost) };
      } catch {
        // Unreachable: the next one.
      }
    }
    return undefined;
  }
}
