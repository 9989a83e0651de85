/**
 * Draining this node: it stops taking joins (the signaling join redirects
 * them, placement skips it), tells its connected clients where to move, and
 * reports when it is empty. Started by SIGTERM in cluster mode (main.ts) or by
 * the runtime setting `drain:<node>` (the admin API), which every node
 * follows; clearing the setting puts the node back in service.
 *
 * Clients are told with the `move` event (a redirect target); one that has
 * not left 5 s after being told is told again, with a fresh target.
 */
import type { Logger } from '../../observability/logger.js';
import type { NodeRegistry } from '../nodeRegistry.js';
import type { RuntimeSettings } from '../runtimeSettings.js';
import type { Placement } from './placementPolicy.js';
import type { PlacementRequest } from './selectors.js';

/** A client joined on this node, as the drain sees it. */
export interface DrainableMember {
  /** What it joined (undefined once it left). */
  readonly request: PlacementRequest | undefined;
  /** Sends the client the `move` event. */
  move(target: { url: string; alternates: string[]; reason: string }): void;
}

export interface NodeDrainDeps {
  nodeId: string;
  nodes: Pick<NodeRegistry, 'update'>;
  settings: RuntimeSettings;
  /** Where a client of this node should go (this node excluded). */
  placeElsewhere: (request: PlacementRequest) => Promise<Placement | undefined>;
  /** Clients joined on this node right now. */
  members: () => Iterable<DrainableMember>;
  logger: Logger;
  /** How often clients still here are looked at. Default 1 s. */
  nudgeEveryMs?: number;
  /** A told client still here after this long is told again. Default 5 s. */
  retellAfterMs?: number;
}

export class NodeDrain {
  readonly #deps: NodeDrainDeps;
  readonly #log: Logger;
  readonly #told = new WeakMap<DrainableMember, number>();
  readonly #stopFollowing: () => void;
  #reason: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #nudging = false;
  #closed = false;

  constructor(deps: NodeDrainDeps) {
    this.#deps = deps;
    this.#log = deps.logger.child({ component: 'drain' });
    this.#stopFollowing = deps.settings.onChange((change) => {
      if (change.setting !== 'drain' || change.node !== deps.nodeId) return;
      if (change.value === true) this.start('drain requested through the admin API');
      else this.stop();
    });
  }

  /**
   * Follows a drain flag set before this node started? A node that starts is
   * an operator's decision to serve: a flag left from its previous life is cleared.
   */
  async clearStaleFlag(): Promise<void> {
    if (this.#deps.settings.snapshot().drain[this.#deps.nodeId] === undefined) return;
    this.#log.info('clearing the drain flag left from a previous run of this node');
    await this.#deps.settings.set({ setting: 'drain', node: this.#deps.nodeId, value: undefined });
  }

  get draining(): boolean {
    return this.#reason !== undefined;
  }

  /** Starts draining (idempotent). */
  start(reason: string): void {
    if (this.#closed || this.#reason !== undefined) return;
    this.#reason = reason;
    this.#log.info({ reason }, 'draining: taking no joins, moving clients to other nodes');
    this.#deps.nodes.update({ state: 'draining' });
    this.#timer = setInterval(() => void this.#nudge(), this.#deps.nudgeEveryMs ?? 1_000);
    this.#timer.unref();
    void this.#nudge();
  }

  /** Serves again (the drain flag was cleared). */
  stop(): void {
    if (this.#reason === undefined) return;
    this.#reason = undefined;
    clearInterval(this.#timer);
    this.#log.info('drain cancelled: serving again');
    if (!this.#closed) this.#deps.nodes.update({ state: 'serving' });
  }

  /** Resolves 'empty' once no client is joined here, or 'deadline' after `deadlineMs`. */
  whenEmpty(deadlineMs: number, pollMs = 200): Promise<'empty' | 'deadline'> {
    const deadline = Date.now() + deadlineMs;
    return new Promise((resolve) => {
      const check = (): void => {
        if (isEmpty(this.#deps.members())) resolve('empty');
        else if (Date.now() >= deadline) resolve('deadline');
        else setTimeout(check, pollMs).unref();
      };
      check();
    });
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#timer);
    this.#stopFollowing();
  }

  async #nudge(): Promise<void> {
    if (this.#nudging || this.#reason === undefined) return;
    this.#nudging = true;
    try {
      const retellAfterMs = this.#deps.retellAfterMs ?? 5_000;
      for (const member of [...this.#deps.members()]) {
        const toldAt = this.#told.get(member);
        if (toldAt !== undefined && Date.now() - toldAt < retellAfterMs) continue;
        const request = member.request;
        if (!request) continue;
        const placement = await this.#deps.placeElsewhere(request);
        if (!placement || this.#reason === undefined) continue; // nobody to take it yet: next round
        this.#told.set(member, Date.now());
        member.move({
          url: placement.node.publicUrl,
          alternates: placement.alternates.map((node) => node.publicUrl),
          reason: `node draining: ${this.#reason}`,
        });
      }
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'could not place the clients of a draining node; trying again');
    } finally {
      this.#nudging = false;
    }
  }
}

function isEmpty(members: Iterable<DrainableMember>): boolean {
  for (const _member of members) return false;
  return true;
}
