/**
 * Cluster alert rules as a pure state machine over snapshots of the shared
 * state (registry and directory), like alertRules.ts for rooms:
 *
 *   node_gone         a node that was serving disappeared from the registry
 *                     (a node that drained and left is not an alert);
 *                     resolves when it announces itself again.
 *   room_lost_origin  a live room's origin lease disappeared and no node took
 *                     the room over within ORIGIN_GRACE_MS; resolves when an
 *                     origin is back or nobody serves the room any more.
 */

export type ClusterAlertRule = 'node_gone' | 'room_lost_origin';

export interface ClusterObservation {
  /** ms since epoch. */
  at: number;
  nodes: ReadonlyArray<{ id: string; state: 'serving' | 'draining' }>;
  rooms: ReadonlyArray<{ id: string; live: boolean; origin: string | null }>;
}

export type ClusterAlertAction =
  { type: 'fire'; rule: ClusterAlertRule; subject: string; message: string } | { type: 'resolve'; rule: ClusterAlertRule; subject: string; message: string };

/** How long a live room may be without an origin before it is an alert (a publisher republishing takes a few seconds). */
export const ORIGIN_GRACE_MS = 5_000;

export class ClusterAlertRules {
  /** Nodes seen in the last observation, with their state. */
  #nodes = new Map<string, 'serving' | 'draining'>();
  readonly #goneNodes = new Set<string>();
  /** Live rooms with an origin at the last observation, and the node. */
  #origins = new Map<string, string>();
  /** Rooms whose origin vanished: since when, and which node it was. */
  readonly #orphaned = new Map<string, { since: number; node: string }>();
  readonly #lostRooms = new Set<string>();

  evaluate(observation: ClusterObservation): ClusterAlertAction[] {
    return [...this.#evaluateNodes(observation), ...this.#evaluateRooms(observation)];
  }

  #evaluateNodes({ nodes }: ClusterObservation): ClusterAlertAction[] {
    const actions: ClusterAlertAction[] = [];
    const now = new Map(nodes.map((node) => [node.id, node.state]));
    for (const [id, state] of this.#nodes) {
      if (now.has(id) || state === 'draining' || this.#goneNodes.has(id)) continue;
      this.#goneNodes.add(id);
      actions.push({ type: 'fire', rule: 'node_gone', subject: id, message: `node ${id} disappeared from the cluster without draining` });
    }
    for (const id of now.keys()) {
      if (!this.#goneNodes.delete(id)) continue;
      actions.push({ type: 'resolve', rule: 'node_gone', subject: id, message: `node ${id} is back` });
    }
    this.#nodes = now;
    return actions;
  }

  #evaluateRooms({ at, rooms }: ClusterObservation): ClusterAlertAction[] {
    const actions: ClusterAlertAction[] = [];
    const listed = new Map(rooms.map((room) => [room.id, room]));
    const origins = new Map<string, string>();
    for (const room of rooms) if (room.origin !== null && room.live) origins.set(room.id, room.origin);

    // Live rooms whose origin vanished since the last look start their grace.
    for (const [id, node] of this.#origins) {
      if (listed.get(id)?.origin === null || !listed.has(id)) this.#orphaned.set(id, { since: at, node });
    }
    for (const [id, orphan] of this.#orphaned) {
      const room = listed.get(id);
      if (room?.origin) {
        this.#orphaned.delete(id);
        if (this.#lostRooms.delete(id))
          actions.push({ type: 'resolve', rule: 'room_lost_origin', subject: id, message: `room "${id}" has its origin on node ${room.origin} again` });
      } else if (!room) {
        // Nobody serves it any more: nothing left to alert about.
        this.#orphaned.delete(id);
        if (this.#lostRooms.delete(id)) actions.push({ type: 'resolve', rule: 'room_lost_origin', subject: id, message: `room "${id}" is no longer served` });
      } else if (!this.#lostRooms.has(id) && at - orphan.since >= ORIGIN_GRACE_MS) {
        this.#lostRooms.add(id);
        actions.push({
          type: 'fire',
          rule: 'room_lost_origin',
          subject: id,
          message: `room "${id}" lost its origin (node ${orphan.node}) ${Math.round((at - orphan.since) / 1000)} s ago and no node took it over`,
        });
      }
    }
    this.#origins = origins;
    return actions;
  }
}
