/**
 * Pure placement decisions (no mediasoup objects), so they are unit-tested
 * in isolation: which worker gets a new router, and which router a new viewer
 * joins.
 */

export interface WorkerLoadSnapshot {
  index: number;
  alive: boolean;
  routers: number;
  producers: number;
  consumers: number;
  /** Share of one core used over the last sampling interval, 0..1+. */
  cpu: number;
}

/**
 * Least-loaded live worker. Consumers dominate an SFU's cost (each forwarded
 * stream), producers count a bit more each (they are decrypted and fanned
 * out); CPU breaks ties and catches load we don't model.
 */
export function pickLeastLoadedWorker(workers: readonly WorkerLoadSnapshot[], avoid: readonly number[] = []): number | undefined {
  const score = (w: WorkerLoadSnapshot): number => w.consumers + 4 * w.producers + 10 * w.routers + 100 * w.cpu;
  const alive = workers.filter((w) => w.alive);
  const preferred = alive.filter((w) => !avoid.includes(w.index));
  const candidates = preferred.length > 0 ? preferred : alive;
  let best: WorkerLoadSnapshot | undefined;
  for (const w of candidates) {
    if (!best || score(w) < score(best) || (score(w) === score(best) && w.index < best.index)) best = w;
  }
  return best?.index;
}

export interface RouterSlots {
  /** Router id. */
  id: string;
  workerIndex: number;
  /** Consumer slots already reserved by viewers placed on this router. */
  reserved: number;
}

export type ViewerPlacement = { kind: 'existing'; routerId: string } | { kind: 'new-router' };

/**
 * A viewer goes to the fullest router that still has room for it (keeps
 * routers few and dense, so piping cost stays low); when none has room, the
 * caller creates a consumer router on the least-loaded worker and pipes the
 * publisher's producers there.
 */
export function placeViewer(routers: readonly RouterSlots[], slotsPerViewer: number, maxConsumersPerRouter: number): ViewerPlacement {
  let best: RouterSlots | undefined;
  for (const r of routers) {
    if (r.reserved + slotsPerViewer > maxConsumersPerRouter) continue;
    if (!best || r.reserved > best.reserved) best = r;
  }
  return best ? { kind: 'existing', routerId: best.id } : { kind: 'new-router' };
}
