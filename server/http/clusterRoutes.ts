/**
 * Operator routes for the cluster (admin token):
 *   GET    /api/cluster                   nodes (load, state), rooms (origin, audience per node, pipes) → ClusterOverview
 *   POST   /api/cluster/nodes/:id/drain   drain a node (runtime setting drain:<id>; every node learns within 2 s) → 202 { node, draining: true }
 *   DELETE /api/cluster/nodes/:id/drain   put it back in service → 200 { node, draining: false }
 *   GET    /api/settings                  the runtime settings as applied on this node → RuntimeSettingsSnapshot
 *   PUT    /api/settings/:name            { "value": … } sets one (null clears it): maxWebRtcViewers, hlsLadder:<room>, hlsRedundant:<room>, drain:<node>
 * Errors are JSON `{ error: { code, message } }`; bad input changes nothing.
 */
import express, { type Response, type Router } from 'express';
import type { TokenService } from '../auth/tokens.js';
import { requireAdmin } from '../auth/adminAuth.js';
import type { ClusterState } from '../cluster/clusterState.js';
import { NODE_ID_PATTERN } from '../cluster/nodeRegistry.js';
import { parseSettingChange, type SettingChange } from '../cluster/runtimeSettings.js';
import type { DrainAnswer } from '../contracts/adminApi.js';
import {
  CLUSTER_PIPES_METHOD,
  CLUSTER_PIPES_TIMEOUT_MS,
  clusterPipesAnswerSchema,
  type ClusterOverview,
  type ClusterPipeView,
} from '../contracts/clusterApi.js';

/** A route parameter as one string (express types repeated parameters as arrays). */
function param(req: express.Request, name: string): string {
  const value = req.params[name];
  return typeof value === 'string' ? value : '';
}

function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).set('Cache-Control', 'no-store').json({ error: { code, message } });
}

/** `maxWebRtcViewers`, `hlsLadder:<room>`, `hlsRedundant:<room>`, `drain:<node>` and a value → a change (TypeError when malformed). */
function changeFromName(name: string, value: unknown): SettingChange {
  const colon = name.indexOf(':');
  const setting = colon === -1 ? name : name.slice(0, colon);
  const id = name.slice(colon + 1);
  const clear = value === null ? undefined : value;
  if (setting === 'maxWebRtcViewers' && colon === -1) return parseSettingChange({ setting, value: clear });
  if ((setting === 'hlsLadder' || setting === 'hlsRedundant') && colon !== -1) return parseSettingChange({ setting, room: id, value: clear });
  if (setting === 'drain' && colon !== -1) return parseSettingChange({ setting, node: id, value: clear });
  throw new TypeError(`unknown setting "${name.slice(0, 80)}" (maxWebRtcViewers, hlsLadder:<room>, hlsRedundant:<room>, drain:<node>)`);
}

/**
 * The pipes each origin node holds, asked over the bus (one request per origin
 * node, in parallel); the nodes that did not answer in time or answered
 * nonsense are listed, not guessed at.
 */
async function pipesOfOrigins(
  cluster: Pick<ClusterState, 'mode' | 'bus'>,
  origins: readonly string[],
): Promise<{ pipes: ClusterPipeView[]; unreported: string[] }> {
  if (cluster.mode === 'memory') return { pipes: [], unreported: [] };
  const answers = await Promise.all(
    origins.map(async (node) => {
      try {
        return { node, answer: clusterPipesAnswerSchema.parse(await cluster.bus.request(node, CLUSTER_PIPES_METHOD, {}, CLUSTER_PIPES_TIMEOUT_MS)) };
      } catch {
        return { node, answer: undefined };
      }
    }),
  );
  return {
    // A node reports only the pipes it serves as an origin.
    pipes: answers.flatMap(({ node, answer }) => answer?.pipes.filter((pipe) => pipe.origin === node) ?? []),
    unreported: answers.filter(({ answer }) => !answer).map(({ node }) => node),
  };
}

export function createClusterRouter(deps: { tokens: TokenService; cluster: Pick<ClusterState, 'mode' | 'nodes' | 'directory' | 'bus' | 'settings'> }): Router {
  const { cluster } = deps;
  const router = express.Router({ caseSensitive: true, strict: true });
  const adminOnly = requireAdmin(deps.tokens);
  const body = express.json({ limit: 4096, strict: false });

  const setDrain =
    (draining: boolean) =>
    async (req: express.Request, res: Response): Promise<void> => {
      const id = param(req, 'id');
      if (!NODE_ID_PATTERN.test(id)) {
        sendError(res, 400, 'BAD_REQUEST', 'invalid node id (1-64 characters of A-Z a-z 0-9 _ . -)');
        return;
      }
      if (draining && !(await cluster.nodes.get(id))) {
        sendError(res, 404, 'NOT_FOUND', `no live node "${id}"`);
        return;
      }
      await cluster.settings.set({ setting: 'drain', node: id, value: draining ? true : undefined });
      res
        .status(draining ? 202 : 200)
        .set('Cache-Control', 'no-store')
        .json({ node: id, draining } satisfies DrainAnswer);
    };
  router.get('/api/cluster', adminOnly, async (_req, res) => {
    const [nodes, listings] = await Promise.all([cluster.nodes.nodes(), cluster.directory.list()]);
    const origins = [...new Set(listings.flatMap((room) => (room.origin ? [room.origin.node] : [])))].sort();
    const { pipes, unreported } = await pipesOfOrigins(cluster, origins);
    const rooms = listings.map((room) => ({ ...room, pipes: pipes.filter((pipe) => pipe.room === room.id) }));
    const body: ClusterOverview = { mode: cluster.mode, node: cluster.bus.nodeId, nodes, rooms, pipesUnreported: unreported };
    res.set('Cache-Control', 'no-store').json(body);
  });

  router.post('/api/cluster/nodes/:id/drain', adminOnly, setDrain(true));
  router.delete('/api/cluster/nodes/:id/drain', adminOnly, setDrain(false));

  router.get('/api/settings', adminOnly, (_req, res) => {
    res.set('Cache-Control', 'no-store').json(cluster.settings.snapshot());
  });

  router.put('/api/settings/:name', adminOnly, body, async (req, res) => {
    const raw: unknown = req.body;
    if (typeof raw !== 'object' || raw === null || !('value' in raw)) {
      sendError(res, 400, 'BAD_REQUEST', 'body must be a JSON object { "value": … } (null clears the setting)');
      return;
    }
    let change: SettingChange;
    try {
      change = changeFromName(param(req, 'name'), raw.value);
    } catch (error) {
      sendError(res, 400, 'BAD_REQUEST', (error as Error).message);
      return;
    }
    await cluster.settings.set(change);
    res.set('Cache-Control', 'no-store').json(cluster.settings.snapshot());
  });

  return router;
}
