/**
 * LL-HLS clients (the load tool's) played through an HLS edge, and what the
 * edge's access log must then show: one origin request per object, no error
 * of the edge's own. Shared by the nginx and Varnish edge tests, so both
 * edges are held to the same figures.
 */
import assert from 'node:assert/strict';
import { collapseFigures, objectKind, type EdgeLogEntry } from '../../scripts/edge/accessLog.js';
import { LlHlsClient } from '../../scripts/loadtest/llHlsClient.js';
import { waitFor } from './wait.js';

/** "N/M playing, parts min … median …, errors {…}" for progress lines and logs. */
export function clientsSummary(clients: readonly LlHlsClient[]): string {
  const stats = clients.map((c) => c.stats());
  const playing = stats.filter((s) => s.joinToFirstPartMs !== null).length;
  const parts = stats.map((s) => s.parts).sort((a, b) => a - b);
  const errors: Record<string, number> = {};
  for (const s of stats) for (const [k, n] of Object.entries(s.errors)) errors[k] = (errors[k] ?? 0) + n;
  return `${playing}/${stats.length} playing, parts min ${parts[0]} median ${parts[Math.floor(parts.length / 2)]}, errors ${JSON.stringify(errors)}`;
}

/** Clients on the lowest rendition of `masterUrl`, started. */
export function startLlHlsClients(masterUrl: string, count: number, idPrefix: string): LlHlsClient[] {
  const clients = Array.from({ length: count }, (_, i) => new LlHlsClient({ masterUrl, id: `${idPrefix}-${i}`, variant: 'lowest' }));
  for (const client of clients) client.start();
  return clients;
}

/** Waits until every client has loaded `parts` more parts than now. */
export async function waitForMoreParts(clients: readonly LlHlsClient[], parts: number, description: string): Promise<void> {
  const base = clients.map((c) => c.stats().parts);
  await waitFor(() => clients.every((c, i) => c.stats().parts >= base[i]! + parts), {
    description,
    timeoutMs: 30_000,
    progress: () => clientsSummary(clients),
  });
}

/**
 * `count` clients through the edge until each has a first part and then 40
 * more live parts (~10 s at the 0.2 s part target); closed at the end.
 */
export async function playThroughEdge(masterUrl: string, count: number, idPrefix: string): Promise<void> {
  const clients = startLlHlsClients(masterUrl, count, idPrefix);
  try {
    await waitFor(() => clients.every((c) => c.stats().joinToFirstPartMs !== null), {
      description: `all ${count} clients to load a first part through the edge`,
      timeoutMs: 30_000,
      progress: () => clientsSummary(clients),
    });
    await waitForMoreParts(clients, 40, 'every client to load 40 more live parts');
  } finally {
    await Promise.all(clients.map((c) => c.close()));
  }
  console.log(`# clients: ${clientsSummary(clients)}`);
}

/** 5xx answers no origin gave for that object: made by the edge itself (a shared cached answer counts as the origin's). */
export function edgeMadeErrors(log: readonly EdgeLogEntry[]): EdgeLogEntry[] {
  const fromOrigin = new Set(log.flatMap((e) => e.upstreamStatuses.map((status) => `${e.key} ${status}`)));
  return log.filter((e) => e.status >= 500 && !fromOrigin.has(`${e.key} ${e.status}`));
}

/** The edge collapsed the clients' requests (≤ 1.1 origin requests per object) and made no error of its own. */
export function assertCollapsing(log: readonly EdgeLogEntry[]): void {
  const figures = collapseFigures(log);
  console.log(
    `# edge: ${figures.clientRequests} client requests, ${figures.originRequests} origin requests for ${figures.objects} objects → ` +
      `${figures.originRequestsPerObject.toFixed(3)} per object; by kind ${JSON.stringify(figures.byKind)}`,
  );
  if (figures.worst.length) console.log(`# fetched more than once: ${JSON.stringify(figures.worst.slice(0, 5))}`);
  assert.ok(figures.objects > 50, `the clients asked for many objects (${figures.objects})`);
  assert.ok(figures.originRequestsPerObject <= 1.1, `origin requests per object ${figures.originRequestsPerObject.toFixed(3)} > 1.1`);
  for (const kind of ['part', 'blocking-playlist'] as const) {
    const k = figures.byKind[kind];
    // Enough distinct objects to judge collapsing by: a client asks for about one blocking
    // reload per two parts here (parts ~50, reloads ~20 in 10 s), hence a low floor.
    assert.ok(k && k.objects >= 10, `${kind}s went through the edge (${k?.objects ?? 0} objects)`);
    assert.ok(k.perObject <= 1.1, `${kind}: ${k.originRequests} origin requests for ${k.objects} objects`);
    // Collapsing, not just caching: most clients' requests never reached the origin.
    assert.ok(k.clientRequests >= 50 * k.originRequests, `${kind}: ${k.clientRequests} client requests for ${k.originRequests} origin requests`);
  }
  // The edge passes the origin's answers on (a blocking reload the origin could
  // not satisfy in time is its own 503) but makes no error of its own.
  const edgeMade = edgeMadeErrors(log);
  assert.equal(edgeMade.length, 0, `5xx made by the edge: ${JSON.stringify(edgeMade.slice(0, 3))}`);
  const failedMedia = log.filter((e) => e.status !== 200 && ['part', 'segment', 'init'].includes(objectKind(e.key)));
  assert.ok(failedMedia.length <= 2, `media requests that failed: ${JSON.stringify(failedMedia.slice(0, 3))}`);
}
