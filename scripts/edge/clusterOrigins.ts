/**
 * The edge's origins from a running cluster: GET /api/cluster (admin) on any
 * node, and the public URLs of the nodes that record HLS (`hls` role),
 * serving ones first (a draining node is still an origin: it serves what it
 * records until it stops). Without any `hls` node, every node (each one
 * forwards /hls to the recorder).
 */
import type { ClusterOverview } from '../../server/contracts/clusterApi.js';

export async function clusterOrigins(clusterUrl: string, adminToken: string, timeoutMs = 5_000): Promise<string[]> {
  const url = new URL('/api/cluster', clusterUrl);
  let response: Response;
  try {
    response = await fetch(url, { headers: { Authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new Error(`cannot reach ${url.href}: ${(error as Error).message}`);
  }
  if (response.status === 401 || response.status === 403) throw new Error(`${url.href} refused the admin token (HTTP ${response.status})`);
  if (!response.ok) throw new Error(`${url.href} answered HTTP ${response.status}`);
  const overview = (await response.json()) as ClusterOverview;
  if (!Array.isArray(overview.nodes)) throw new Error(`${url.href} did not answer a cluster overview`);
  const recorders = overview.nodes.filter((node) => node.roles.includes('hls'));
  const chosen = recorders.length > 0 ? recorders : overview.nodes;
  const ordered = [...chosen.filter((n) => n.state === 'serving'), ...chosen.filter((n) => n.state !== 'serving')];
  // The edge talks plain HTTP to origins: keep scheme, host and port only.
  return ordered.map((node) => {
    const publicUrl = new URL(node.publicUrl);
    if (publicUrl.protocol !== 'http:') throw new Error(`node ${node.id} announces ${node.publicUrl}: the edge needs http:// origins (give --origin by hand)`);
    return publicUrl.origin;
  });
}
