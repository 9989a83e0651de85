/**
 * Placement on a live node: gathers the cluster snapshot (registry, the
 * room's origin and audience, runtime settings) and asks the policy. Used by
 * the join endpoint, the signaling join (redirects) and the drain (where to
 * send this node's clients). On a single node (no Redis) the registry holds
 * only this node, so every answer is "here".
 */
import type { NodeRegistry } from '../nodeRegistry.js';
import type { RoomDirectory } from '../roomDirectory.js';
import type { RuntimeSettings } from '../runtimeSettings.js';
import { joinDecision, place, type ClusterSnapshot, type JoinDecision, type Placement } from './placementPolicy.js';
import type { PlacementRequest } from './selectors.js';

export interface PlacementServiceDeps {
  nodeId: string;
  nodes: NodeRegistry;
  directory: RoomDirectory;
  settings: RuntimeSettings;
  /** MAX_WEBRTC_VIEWERS from the configuration (a runtime setting overrides it). */
  configuredMaxWebRtcViewers: number;
  /** This node stopped taking joins (it learns before its registry record says so). */
  isDraining: () => boolean;
}

export class PlacementService {
  readonly #deps: PlacementServiceDeps;

  constructor(deps: PlacementServiceDeps) {
    this.#deps = deps;
  }

  get nodeId(): string {
    return this.#deps.nodeId;
  }

  /** MAX_WEBRTC_VIEWERS as applied now: the runtime setting, else the configuration. */
  maxWebRtcViewers(): number {
    return this.#deps.settings.snapshot().maxWebRtcViewers ?? this.#deps.configuredMaxWebRtcViewers;
  }

  async snapshot(room: string): Promise<ClusterSnapshot> {
    const { nodes, directory, settings, nodeId } = this.#deps;
    const [records, origin, listing] = await Promise.all([nodes.nodes(), directory.originOf(room), directory.get(room)]);
    const drain = { ...settings.snapshot().drain };
    // This node's own record may lag its state by up to one renewal.
    if (this.#deps.isDraining()) drain[nodeId] = true;
    return { nodes: records, origin, roomViewersByNode: listing?.viewersByNode ?? {}, maxWebRtcViewers: this.maxWebRtcViewers(), drain };
  }

  /** Where a new client should join; undefined when no node can take it. */
  async place(request: PlacementRequest, options: { exclude?: string } = {}): Promise<Placement | undefined> {
    return place(request, await this.snapshot(request.room), options.exclude);
  }

  /**
   * For a client connected here: serve it (with where it could go if this
   * node went away), or where to send it instead. One snapshot for both.
   */
  async decide(request: PlacementRequest): Promise<{ decision: JoinDecision; alternates: string[] }> {
    const snapshot = await this.snapshot(request.room);
    const decision = joinDecision(request, this.#deps.nodeId, this.#deps.isDraining(), snapshot);
    const elsewhere = decision.action === 'serve' ? place(request, snapshot, this.#deps.nodeId) : undefined;
    return { decision, alternates: elsewhere ? [elsewhere.node, ...elsewhere.alternates].map((node) => node.publicUrl) : [] };
  }
}
