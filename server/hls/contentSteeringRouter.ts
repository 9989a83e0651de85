/**
 * Serves content steering (contentSteering.ts) for HLS_PATHWAYS:
 *
 *   GET /hls/:room/steering.json   the steering manifest (any node answers,
 *                                  from the cluster's state: never forwarded)
 *   master(room, text)             the master route's hook (hlsRoutes.ts):
 *                                  the plain master → one copy per pathway
 *
 * With HLS_PATHWAYS=recorders the pathways are the room's recorder nodes,
 * asked of the room's origin (`hls.recorders`) and the node registry, both
 * cached for a second (every player reloads the manifest every TTL seconds).
 * A room nobody records (yet) has no pathways: the master goes out plain and
 * the manifest answers 404.
 */
import express, { type Router } from 'express';
import type { MessageBus } from '../cluster/messageBus.js';
import type { NodeRegistry } from '../cluster/nodeRegistry.js';
import type { RoomDirectory } from '../cluster/roomDirectory.js';
import type { Logger } from '../observability/logger.js';
import { HLS_RECORDER_METHODS, parseHlsRecordersAnswer } from './hlsRecorderProtocol.js';
import { ROOM_NAME_PATTERN } from './roomPackager.js';
import {
  STEERING_CONTENT_TYPE,
  STEERING_MANIFEST_FILE,
  pathwayIdOf,
  recorderPriority,
  steeredMaster,
  steeringManifest,
  type Pathway,
  type PathwaysSetting,
  type RecorderHealth,
} from './contentSteering.js';

/** Shorter than the TTL: an edge or CDN in front shares one answer, and a dead origin goes last within TTL + this. */
export const CACHE_STEERING = 'public, max-age=2';
const CLUSTER_CACHE_MS = 1_000;
const RECORDERS_TIMEOUT_MS = 1_000;

export interface ContentSteeringOptions {
  setting: PathwaysSetting;
  /** Cluster mode (needed for HLS_PATHWAYS=recorders). */
  cluster?: { bus: Pick<MessageBus, 'request'>; directory: Pick<RoomDirectory, 'originOf'>; nodes: Pick<NodeRegistry, 'nodes'> };
  logger: Logger;
}

interface RoomRecorders {
  /** Health per recorder, in recorder order. */
  health: RecorderHealth[];
  /** Announced recorders' pathways (those a master can point at). */
  pathways: Pathway[];
}

export class ContentSteering {
  readonly router: Router;
  readonly #options: ContentSteeringOptions;
  readonly #log: Logger;
  readonly #cache = new Map<string, { at: number; value: Promise<RoomRecorders> }>();

  constructor(options: ContentSteeringOptions) {
    if (options.setting.kind === 'recorders' && !options.cluster) throw new Error('HLS_PATHWAYS=recorders needs cluster mode (REDIS_URL)');
    this.#options = options;
    this.#log = options.logger.child({ component: 'hls-steering' });
    this.router = express.Router({ caseSensitive: true, strict: true });
    this.router.get(`/:room/${STEERING_MANIFEST_FILE}`, (req, res, next) => {
      const room = req.params.room;
      if (!ROOM_NAME_PATTERN.test(room)) {
        res.status(400).set('Cache-Control', 'no-store').type('text/plain').send('invalid room name\n');
        return;
      }
      this.priority(room).then((priority) => {
        res.set({ 'Access-Control-Allow-Origin': '*', 'Cross-Origin-Resource-Policy': 'cross-origin' });
        if (priority.length === 0) {
          res.status(404).set('Cache-Control', 'no-store').type('text/plain').send('no pathways for this room\n');
          return;
        }
        res
          .set('Cache-Control', CACHE_STEERING)
          .type(STEERING_CONTENT_TYPE)
          .send(JSON.stringify(steeringManifest(priority)));
      }, next);
    });
  }

  get enabled(): boolean {
    return this.#options.setting.kind !== 'off';
  }

  /** Origins players load from besides this one (the watch page's CSP connect-src): the configured pathways'. */
  get connectSources(): string[] {
    const setting = this.#options.setting;
    return setting.kind === 'configured' ? [...new Set(setting.pathways.map((p) => new URL(p.base).origin))] : [];
  }

  /** The master route's hook: the plain master of `room` with steering, or as it is when there is nothing to steer. */
  readonly master = async (room: string, text: string): Promise<string> => {
    const setting = this.#options.setting;
    if (setting.kind === 'off') return text;
    const pathways = setting.kind === 'configured' ? setting.pathways : (await this.#recorders(room)).pathways;
    return pathways.length > 0 ? steeredMaster(text, room, pathways) : text;
  };

  /** Pathway ids in order of preference. */
  async priority(room: string): Promise<string[]> {
    const setting = this.#options.setting;
    if (setting.kind === 'off') return [];
    if (setting.kind === 'configured') return setting.pathways.map((p) => p.id);
    return recorderPriority((await this.#recorders(room)).health);
  }

  #recorders(room: string): Promise<RoomRecorders> {
    const now = Date.now();
    const cached = this.#cache.get(room);
    if (cached && now - cached.at < CLUSTER_CACHE_MS) return cached.value;
    for (const [key, entry] of this.#cache) if (now - entry.at >= CLUSTER_CACHE_MS) this.#cache.delete(key);
    const value = this.#lookup(room);
    this.#cache.set(room, { at: now, value });
    return value;
  }

  async #lookup(room: string): Promise<RoomRecorders> {
    const cluster = this.#options.cluster!;
    const empty: RoomRecorders = { health: [], pathways: [] };
    const lease = await cluster.directory.originOf(room);
    if (!lease) return empty;
    let recorders: string[];
    try {
      recorders = parseHlsRecordersAnswer(await cluster.bus.request(lease.node, HLS_RECORDER_METHODS.recorders, { room }, RECORDERS_TIMEOUT_MS)).nodes;
    } catch (error) {
      this.#log.warn({ room, origin: lease.node, err: error }, 'could not ask the origin for the recorders; no steering for now');
      return empty;
    }
    const announced = new Map((await cluster.nodes.nodes()).map((node) => [node.id, node]));
    const health = recorders.map((nodeId) => {
      const node = announced.get(nodeId);
      return { nodeId, announced: node !== undefined, draining: node?.state === 'draining' };
    });
    // In order of preference: the master's first pathway is where players start.
    const pathways = recorderPriority(health).flatMap((id) => {
      const node = announced.get(recorders.find((nodeId) => pathwayIdOf(nodeId) === id)!);
      return node ? [{ id, base: node.publicUrl.replace(/\/$/, '') }] : [];
    });
    return { health, pathways };
  }
}
