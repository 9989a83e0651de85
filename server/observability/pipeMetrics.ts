/**
 * Metrics of the cascade pipes this node holds (cluster mode): how many, as
 * an origin (one per edge node and room) and as an edge (one per room piped
 * here), and the bytes they carried. Labels: role / direction only; the
 * `node` label comes from the registry's default labels, so series stay
 * bounded by the number of nodes (no room or pipe ids).
 *
 * Bytes come from each pipe transport's stats, read at its 1 s sync; the
 * counters add each pipe's growth since the previous scrape, so a pipe that
 * closes loses at most what it carried since its last sync before the scrape.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { OriginPipeInfo } from '../media/pipes/pipeOrigin.js';
import type { EdgeInfo } from '../media/pipes/cascadeEdges.js';

/** What the node's room registry reports about its pipes (RoomRegistry.cascade()). */
export interface PipeSnapshot {
  pipes: readonly Pick<OriginPipeInfo, 'id' | 'bytesSent'>[];
  edges: readonly Pick<EdgeInfo, 'pipeId' | 'bytesReceived'>[];
}

/** Growth of per-pipe byte totals between calls; pipes gone are forgotten. */
export class PipeBytesTally {
  readonly #last = new Map<string, number>();

  /** The bytes carried since the previous call by the pipes in `totals` (pipe id → its total so far). */
  growth(totals: ReadonlyMap<string, number>): number {
    let grown = 0;
    for (const [id, total] of totals) grown += Math.max(0, total - (this.#last.get(id) ?? 0));
    this.#last.clear();
    for (const [id, total] of totals) this.#last.set(id, total);
    return grown;
  }
}

export function registerPipeMetrics(registers: Registry[], prefix: string, snapshot: () => PipeSnapshot): void {
  new Gauge({
    name: `${prefix}pipes`,
    help: 'Cascade pipes held by this node: role=origin, one per edge node and room it feeds; role=edge, one per room piped here from its origin',
    labelNames: ['role'],
    registers,
    collect() {
      const { pipes, edges } = snapshot();
      this.set({ role: 'origin' }, pipes.length);
      this.set({ role: 'edge' }, edges.length);
    },
  });
  const sent = new PipeBytesTally();
  const received = new PipeBytesTally();
  new Counter({
    name: `${prefix}pipe_bytes_total`,
    help: 'Bytes carried by cascade pipes (pipe transport stats, read every second): direction=out, sent to edges by this node as an origin; direction=in, received from origins by this node as an edge',
    labelNames: ['direction'],
    registers,
    collect() {
      const { pipes, edges } = snapshot();
      this.inc({ direction: 'out' }, sent.growth(new Map(pipes.map((p) => [p.id, p.bytesSent]))));
      this.inc({ direction: 'in' }, received.growth(new Map(edges.map((e) => [e.pipeId, e.bytesReceived]))));
    },
  });
}
