/**
 * Feeds the cluster alert rules (clusterAlertRules.ts) a snapshot of the
 * registry and the directory every second. One node speaks for the cluster
 * — the live node with the lowest id — so an alert is raised once, not once
 * per node; when it goes, the next one takes over.
 *
 * Alerts go to a sink: the speaking node's AlertManager (alertManagerSink),
 * so they reach its dashboard, webhooks and metrics like every alert.
 */
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import type { RoomDirectory } from '../cluster/roomDirectory.js';
import type { Logger } from '../observability/logger.js';
import type { AlertManager } from './alertManager.js';
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
      // Only the speaker lists the rooms (a listing costs Redis commands per room: every node
      // listing every second was a sizeable share of a big event's Redis load).
      const records = await nodes.nodes();
      const speaker = records.map((record) => record.id).sort()[0];
      if (speaker !== nodeId) {
        this.#rules = undefined;
        return;
      }
      const listings = await directory.list();
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

/** Raises and resolves the cluster's alerts as this node's alerts: node_gone names the node, room_lost_origin the room. */
export function alertManagerSink(alerts: AlertManager): (action: ClusterAlertAction) => void {
  return (action) => {
    const node = action.rule === 'node_gone' ? action.subject : null;
    const room = action.rule === 'room_lost_origin' ? action.subject : null;
    if (action.type === 'fire') alerts.fire({ rule: action.rule, room, node, message: action.message });
    else alerts.resolve(action.rule, room, null, action.message, node);
  };
}
