/**
 * Feeds the cluster alert rules (clusterAlertRules.ts) a snapshot of the
 * registry and the directory every second. One node speaks for the cluster
 * — the live node with the lowest id — so an alert is raised once, not once
 * per node; when it goes, the next one takes over.
 *
 * Alerts go to a sink: the structured log for now (the rule names are not in
 * the alert contract's AlertRule list yet, which the dashboard keys its titles
 * on).
 */
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import type { RoomDirectory } from '../cluster/roomDirectory.js';
import type { Logger } from '../observability/logger.js';
import { ClusterAlertRules, type ClusterAlertAction } from './clusterAlertRules.js';

export interface ClusterAlertMonitorOptions {
  nodeId: string;
  nodes: NodeRegistry;
  directory: RoomDirectory;
  sink: (action: ClusterAlertAction) => void;
  logger: Logger;
  /** Default 1 s. */
  intervalMs?: number;
}

export class ClusterAlertMonitor {
  readonly #options: ClusterAlertMonitorOptions;
  readonly #timer: NodeJS.Timeout;
  /** Rules restart when this node becomes the one speaking: it has no history of the others'. */
  #rules: ClusterAlertRules | undefined;
  #busy = false;

  constructor(options: ClusterAlertMonitorOptions) {
    this.#options = options;
    this.#timer = setInterval(() => void this.#tick(), options.intervalMs ?? 1_000);
    this.#timer.unref();
  }

  close(): void {
    clearInterval(this.#timer);
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const { nodes, directory, nodeId } = this.#options;
      const [records, listings] = await Promise.all([nodes.nodes(), directory.list()]);
      const speaker = records.map((record) => record.id).sort()[0];
      if (speaker !== nodeId) {
        this.#rules = undefined;
        return;
      }
      this.#rules ??= new ClusterAlertRules();
      const actions = this.#rules.evaluate({
        at: Date.now(),
        nodes: records.map(({ id, state }) => ({ id, state })),
        rooms: listings.map((listing) => ({ id: listing.id, live: listing.live, origin: listing.origin?.node ?? null })),
      });
      for (const action of actions) this.#options.sink(action);
    } catch (error) {
      // Redis away: the monitor waits for it like everything else.
      this.#options.logger.debug({ err: (error as Error).message }, 'cluster alert check skipped');
    } finally {
      this.#busy = false;
    }
  }
}

/** The sink until the rules join the alert contract: one structured log line per transition. */
export function logClusterAlert(logger: Logger): (action: ClusterAlertAction) => void {
  const log = logger.child({ component: 'alerts' });
  return (action) => {
    const alert = { rule: action.rule, subject: action.subject, state: action.type === 'fire' ? 'firing' : 'resolved', message: action.message };
    if (action.type === 'fire') log.error({ alert }, 'cluster alert fired');
    else log.info({ alert }, 'cluster alert resolved');
  };
}
