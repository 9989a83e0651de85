/**
 * The origin side of HLS recorder placement (issue 10's `hls` role, issue 12's
 * redundant origins): for each live room this node is the origin of, which
 * nodes record it — chosen by chooseHlsRecorders (dedicated `hls` nodes first,
 * least loaded; else this node) and kept while they serve and answer. Remote
 * recorders are asked over the bus (`hls.record`, renewed every second; see
 * hlsRecorderProtocol.ts); one that fails to answer is replaced. The HLS
 * service is told when this node starts or stops being one of the recorders
 * (`onLocalChange`). Other nodes ask here where a room is recorded
 * (`hls.recorders`) to forward /hls requests.
 */
import type { Logger } from '../observability/logger.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import { chooseHlsRecorders } from '../cluster/placement/hlsRecorderSelector.js';
import { HLS_RECORDER_METHODS, RECORD_RENEW_MS, RECORD_REQUEST_TIMEOUT_MS, parseHlsRoomRequest, type HlsRecordRequest } from './hlsRecorderProtocol.js';

export interface RecorderAssignmentsOptions {
  bus: MessageBus;
  nodes: Pick<NodeRegistry, 'nodes'>;
  /** This node records when no other can (it has the `hls` role, though it may not be announced yet). */
  selfCanRecord: boolean;
  /** How many recorders the room wants now: 0 (HLS off for it), 1, or 2 (redundant). Asked every round. */
  wanted: (room: string) => Promise<number>;
  /** Nodes told to drain (runtime settings): no new recorder goes there. */
  drainFlags: () => Readonly<Record<string, boolean>>;
  /** This node became, or stopped being, one of the room's recorders. */
  onLocalChange: (room: string) => void;
  logger: Logger;
  renewMs?: number;
}

interface Assignment {
  recorders: string[];
  /** A placement round in flight for this room (one at a time). */
  round: Promise<void> | undefined;
}

/** A node that failed to take a recording is not asked again for this long. */
const FAILED_NODE_PAUSE_MS = 5_000;

export class RecorderAssignments {
  readonly #options: RecorderAssignmentsOptions;
  readonly #log: Logger;
  readonly #rooms = new Map<string, Assignment>();
  readonly #failedAt = new Map<string, number>();
  readonly #timer: NodeJS.Timeout;
  readonly #unhandle: () => void;
  #closed = false;

  constructor(options: RecorderAssignmentsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'hls-placement' });
    this.#timer = setInterval(() => {
      for (const room of this.#rooms.keys()) this.#place(room);
    }, options.renewMs ?? RECORD_RENEW_MS);
    this.#timer.unref();
    this.#unhandle = options.bus.handle(HLS_RECORDER_METHODS.recorders, async (payload) => ({
      nodes: this.recorders(parseHlsRoomRequest(payload).room),
    }));
  }

  /** The nodes recording the room now (this one included), as far as this origin knows. */
  recorders(room: string): string[] {
    return [...(this.#rooms.get(room)?.recorders ?? [])];
  }

  recordsHere(room: string): boolean {
    return this.recorders(room).includes(this.#options.bus.nodeId);
  }

  /** The room's leading recorder (the first; see hlsRecorderProtocol.ts), if it has one. */
  leaderOf(room: string): string | undefined {
    return this.#rooms.get(room)?.recorders[0];
  }

  /** The room is live here with a local source: its recorders are placed now, and checked every round (forget() once it is not). */
  place(room: string): void {
    if (this.#closed) return;
    if (!this.#rooms.has(room)) this.#rooms.set(room, { recorders: [], round: undefined });
    this.#place(room);
  }

  /** The room is no longer this node's to place: its recorders are released. */
  forget(room: string): void {
    const assignment = this.#rooms.get(room);
    if (!assignment) return;
    this.#rooms.delete(room);
    this.#apply(room, assignment.recorders, []);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    this.#unhandle();
    for (const room of [...this.#rooms.keys()]) this.forget(room);
  }

  #place(room: string): void {
    const assignment = this.#rooms.get(room);
    if (!assignment || assignment.round) return;
    assignment.round = this.#round(room, assignment)
      .catch((error: unknown) => this.#log.warn({ room, err: (error as Error).message }, 'placing the HLS recorder failed'))
      .finally(() => {
        assignment.round = undefined;
      });
  }

  async #round(room: string, assignment: Assignment): Promise<void> {
    const self = this.#options.bus.nodeId;
    const now = Date.now();
    const nodes = (await this.#options.nodes.nodes()).filter((node) => node.id === self || now - (this.#failedAt.get(node.id) ?? 0) > FAILED_NODE_PAUSE_MS);
    const wanted = await this.#options.wanted(room);
    const chosen =
      wanted === 0 ? [] : chooseHlsRecorders(nodes, { origin: self, count: wanted, current: assignment.recorders, drainFlags: this.#options.drainFlags() });
    if (this.#rooms.get(room) !== assignment) return;
    // The first recorder leads (chooseHlsRecorders keeps current ones first, so a survivor leads once the other is gone).
    const leader = chosen[0];
    // Remote recorders confirm (or renew) before they count; one that fails is skipped for a while.
    const confirmed = await Promise.all(
      chosen.map(async (node) => {
        if (node === self || leader === undefined) return node;
        const request: HlsRecordRequest = { room, rank: node === leader ? 'leader' : 'follower', leader };
        try {
          await this.#options.bus.request(node, HLS_RECORDER_METHODS.record, request, RECORD_REQUEST_TIMEOUT_MS);
          return node;
        } catch (error) {
          this.#failedAt.set(node, Date.now());
          this.#log.warn({ room, node, err: (error as Error).message }, 'a node did not take the HLS recording');
          return undefined;
        }
      }),
    );
    if (this.#rooms.get(room) !== assignment) {
      this.#apply(
        room,
        confirmed.filter((node) => node !== undefined),
        [],
      );
      return;
    }
    const recorders = confirmed.filter((node) => node !== undefined);
    // Nobody else could take it (none announced, or the chosen one failed): record here rather than not at all.
    if (recorders.length < wanted && this.#options.selfCanRecord && !recorders.includes(self)) recorders.push(self);
    const before = assignment.recorders;
    assignment.recorders = recorders;
    this.#apply(room, before, assignment.recorders);
  }

  /** Releases recorders that are no longer wanted; tells the service when this node's part changed. */
  #apply(room: string, before: readonly string[], after: readonly string[]): void {
    const self = this.#options.bus.nodeId;
    for (const node of before) {
      if (after.includes(node) || node === self) continue;
      this.#options.bus.request(node, HLS_RECORDER_METHODS.release, { room }, RECORD_REQUEST_TIMEOUT_MS).catch(() => undefined);
    }
    if (before.includes(self) !== after.includes(self) || (before[0] === self) !== (after[0] === self)) this.#options.onLocalChange(room);
    if (before.join() !== after.join()) this.#log.info({ room, recorders: after }, 'HLS recorders of the room');
  }
}
