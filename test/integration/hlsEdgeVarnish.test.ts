/**
 * The Varnish HLS edge (deploy/varnish, scripts/edge/varnishEdge.ts) in front
 * of a real Floodlight origin with a live LL-HLS room (real mediasoup,
 * ffmpeg, packager), held to the nginx edge's figures (hlsEdge.test.ts):
 *   - 200 LL-HLS clients (the load tool's client) through the edge: the
 *     access log (varnishncsa, client and origin requests) shows about one
 *     origin request per part and per blocking reload, every client gets
 *     parts, and the edge makes no error of its own;
 *   - two origins, the first of which dies while clients play (a TCP relay
 *     to the origin, closed with its connections reset, then refusing): the
 *     edge moves on to the second and clients keep getting parts.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { FloodlightServer } from '../../server/app.js';
import { objectKind } from '../../scripts/edge/accessLog.js';
import { VarnishEdge } from '../../scripts/edge/varnishEdge.js';
import { assertCollapsing, clientsSummary, playThroughEdge, startLlHlsClients, waitForMoreParts } from '../helpers/edgeAudience.js';
import { startLiveHlsRoom, type LiveHlsRoom } from '../helpers/liveHlsRoom.js';
import { startTestServer } from '../helpers/testServer.js';

const ROOM = 'varnish-edge-live';
const CLIENTS = 200;
let origin: FloodlightServer | undefined;
let room: LiveHlsRoom | undefined;
const edges: VarnishEdge[] = [];

before(async () => {
  origin = await startTestServer({ HLS_RENDITIONS: '720,240' });
  room = await startLiveHlsRoom(origin, ROOM);
});

after(async () => {
  for (const edge of edges) await edge.close();
  await room?.publisher.close();
  await origin?.close();
});

async function startEdge(origins: string[]): Promise<VarnishEdge> {
  const edge = await VarnishEdge.start({ origins });
  edges.push(edge);
  return edge;
}

/** A TCP relay to `target` that can die like a node: open connections reset, then nothing listens. */
async function startRelay(target: string): Promise<{ url: string; address: string; kill: () => Promise<void> }> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: hostname, port: Number(port) });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  let killed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${address.port}`,
    address: `127.0.0.1:${address.port}`,
    kill: () =>
      (killed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.resetAndDestroy();
      })),
  };
}

test(`${CLIENTS} LL-HLS clients through the Varnish edge: about one origin request per object`, { timeout: 90_000 }, async () => {
  const edge = await startEdge([origin!.url]);
  await playThroughEdge(`${edge.url}${room!.masterPath}`, CLIENTS, 'varnish');
  const log = await edge.accessLog();
  assertCollapsing(log);
  const waited = log.filter((e) => objectKind(e.key) === 'part' && e.cache === 'HIT').length;
  console.log(`# parts answered from the cache or the waiting list: ${waited}`);
});

test('two origins, the first dies: parts keep coming through the Varnish edge from the second', { timeout: 90_000 }, async () => {
  const relay = await startRelay(origin!.url);
  const edge = await startEdge([relay.url, origin!.url]);
  const clients = startLlHlsClients(`${edge.url}${room!.masterPath}`, 20, 'varnish-failover');
  try {
    await waitForMoreParts(clients, 10, 'clients playing through the first origin');
    const before = await edge.accessLog();
    assert.ok(
      before.some((e) => e.upstreams[0] === relay.address && e.upstreamStatuses[0] === '200'),
      'the edge used the first origin while it was up',
    );

    const killedAt = Date.now() / 1000;
    await relay.kill();
    await waitForMoreParts(clients, 15, 'every client to load 15 more parts after the first origin died');
    const afterKill = (await edge.accessLog()).filter((e) => e.at > killedAt);
    const failedMedia = afterKill.filter((e) => e.status >= 500 && ['part', 'segment', 'init'].includes(objectKind(e.key)));
    assert.equal(failedMedia.length, 0, `media requests failed after the kill: ${JSON.stringify(failedMedia.slice(0, 3))}`);
    const fromSecond = afterKill.filter((e) => e.upstreams.at(-1) === new URL(origin!.url).host && e.status === 200);
    assert.ok(fromSecond.length > 10, `the second origin answered after the kill (${fromSecond.length} fetches)`);
    const movedOn = afterKill.filter((e) => e.upstreams.length > 1 && e.upstreams[0] === relay.address);
    console.log(
      `# after the kill: ${afterKill.length} requests, ${fromSecond.length} fetched from the second origin, ${movedOn.length} moved on from the dead one`,
    );
    console.log(`# clients: ${clientsSummary(clients)}`);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await relay.kill();
  }
});
