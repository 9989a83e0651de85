/**
 * HLS content steering (RFC 8216bis §7, Apple's "HLS Content Steering"):
 * player-side failover across origins or CDNs. With HLS_PATHWAYS set, the
 * master playlist lists every variant once per pathway (PATHWAY-ID, absolute
 * URI under that pathway's base) and names a steering manifest
 * (EXT-X-CONTENT-STEERING, SERVER-URI `steering.json` next to the master);
 * the manifest orders the pathways (PATHWAY-PRIORITY), and a player reloads
 * it every TTL seconds and plays from the first pathway it can.
 *
 * Pathways are either configured bases (CDNs or edges, `id=https://base`,
 * kept in the configured order: Floodlight cannot see a CDN's health) or, with
 * HLS_PATHWAYS=recorders, the nodes recording the room (their public URLs):
 * those that serve first, in recorder order, then draining ones, then nodes
 * no longer announced (dead) last.
 *
 * This file holds the wire formats (pure); contentSteeringRouter.ts serves them.
 */

/** A pathway: its id (PATHWAY-ID) and the base its URIs start with (`<base>/hls/<room>/…`). */
export interface Pathway {
  id: string;
  base: string;
}

/** HLS_PATHWAYS: off (no steering), the room's recorder nodes, or configured bases. */
export type PathwaysSetting = { kind: 'off' } | { kind: 'recorders' } | { kind: 'configured'; pathways: Pathway[] };

/** Pathway ids: RFC 8216bis allows [a-zA-Z0-9._-]. */
const PATHWAY_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** How often players reload the manifest, s. Short: a dead recorder should go last within seconds. */
export const STEERING_TTL_S = 5;
export const STEERING_MANIFEST_FILE = 'steering.json';
export const STEERING_CONTENT_TYPE = 'application/json';

/**
 * Parses HLS_PATHWAYS: '' (off), 'recorders', or `id=url,id=url` (at least
 * two; http(s) bases without query or fragment). Throws a clear error.
 */
export function parsePathwaysSetting(value: string): PathwaysSetting {
  const text = value.trim();
  if (text === '') return { kind: 'off' };
  if (text === 'recorders') return { kind: 'recorders' };
  const pathways = text.split(',').map((item): Pathway => {
    const at = item.indexOf('=');
    const id = item.slice(0, at).trim();
    const raw = item.slice(at + 1).trim();
    if (at <= 0 || !PATHWAY_ID.test(id)) throw new Error(`HLS_PATHWAYS: "${item.trim()}" is not id=url (id: letters, digits, . _ -)`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new Error(`HLS_PATHWAYS: ${id}: "${raw}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`HLS_PATHWAYS: ${id}: only http(s) bases`);
    if (url.search || url.hash || url.username) throw new Error(`HLS_PATHWAYS: ${id}: a base has no query, fragment or credentials`);
    return { id, base: url.href.replace(/\/$/, '') };
  });
  if (pathways.length < 2) throw new Error('HLS_PATHWAYS: steering needs at least two pathways (or "recorders")');
  if (new Set(pathways.map((p) => p.id)).size !== pathways.length) throw new Error('HLS_PATHWAYS: pathway ids must differ');
  return { kind: 'configured', pathways };
}

/** A pathway id for a node id (node ids allow more characters than pathway ids). */
export function pathwayIdOf(nodeId: string): string {
  return nodeId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64);
}

/**
 * The master with each variant once per pathway (in the given order) and the
 * steering tag. The first pathway is the one a player starts on before its
 * first manifest. `master` is the plain master (variant URIs relative to
 * `/hls/<room>/`).
 */
export function steeredMaster(master: string, room: string, pathways: readonly Pathway[]): string {
  if (pathways.length === 0) return master;
  const lines = master.trimEnd().split('\n');
  const header: string[] = [];
  const variants: Array<{ inf: string; uri: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#EXT-X-STREAM-INF:')) {
      const uri = lines[++i];
      if (uri === undefined || uri.startsWith('#')) throw new Error('master playlist: EXT-X-STREAM-INF without a URI');
      variants.push({ inf: line, uri });
    } else header.push(line);
  }
  const out = [...header, `#EXT-X-CONTENT-STEERING:SERVER-URI="${STEERING_MANIFEST_FILE}",PATHWAY-ID="${pathways[0]!.id}"`];
  for (const pathway of pathways) {
    for (const variant of variants) {
      out.push(`${variant.inf},PATHWAY-ID="${pathway.id}"`);
      out.push(`${pathway.base}/hls/${room}/${variant.uri}`);
    }
  }
  return out.join('\n') + '\n';
}

/** The steering manifest (JSON), pathways in order of preference. */
export interface SteeringManifest {
  VERSION: 1;
  TTL: number;
  'PATHWAY-PRIORITY': string[];
}

export function steeringManifest(priority: readonly string[], ttlSeconds = STEERING_TTL_S): SteeringManifest {
  return { VERSION: 1, TTL: ttlSeconds, 'PATHWAY-PRIORITY': [...priority] };
}

/** What is known of a recorder node's health. */
export interface RecorderHealth {
  nodeId: string;
  /** Announced in the node registry (a dead node leaves it within seconds). */
  announced: boolean;
  draining: boolean;
}

/** Recorders in order of preference: serving first (in recorder order), then draining, then gone. */
export function recorderPriority(recorders: readonly RecorderHealth[]): string[] {
  const rank = (r: RecorderHealth): number => (!r.announced ? 2 : r.draining ? 1 : 0);
  return recorders
    .map((r, index) => ({ r, index }))
    .sort((a, b) => rank(a.r) - rank(b.r) || a.index - b.index)
    .map(({ r }) => pathwayIdOf(r.nodeId));
}
