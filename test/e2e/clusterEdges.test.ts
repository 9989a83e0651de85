/**
 * Cascading with real browsers (issue 10's first test): nodes A, B, C on
 * 127.0.0.2/.3/.4 and a private redis-server; a publisher on A; Chromium watch
 * pages on B and C decode the broadcast (framesDecoded grows). Each edge holds
 * exactly one pipe per track whatever its audience: counted with one viewer on
 * each edge, then with three on B — at the origin (its pipes and their
 * consumers, its program router's transports), on each edge (its cascade),
 * through GET /api/cluster (the pipes per room, per track: kind, bitrate,
 * packets, state), in /metrics (pipes per node, bytes) and on the dashboard's
 * cluster view.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import type { ClusterOverview, ClusterRoomView } from '../../server/contracts/clusterApi.js';
import { RedisServer } from '../helpers/redisServer.js';
import { startClusterNode } from '../helpers/clusterNodes.js';
import { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'edges';

let redis: RedisServer | undefined;
let chromium: LaunchedChromium | undefined;
const servers: FloodlightServer[] = [];
let publisher: HeadlessPublisher | undefined;

before(async () => {
  redis = await RedisServer.start();
  chromium = await launchChromium();
});

after(async () => {
  await chromium?.close();
  await publisher?.close();
  await Promise.all(servers.map((server) => server.close()));
  await redis?.stop();
});

async function watch(server: FloodlightServer, name: string): Promise<Page> {
  const page = await chromium!.context.newPage();
  page.on('pageerror', (error) => console.log(`[${name} page error] ${error.message}`));
  await page.goto(`${server.url}/watch?room=${ROOM}`);
  await page.waitForSelector('video[data-state="playing"][data-transport="webrtc"]', { timeout: 30_000 });
  return page;
}

async function framesDecoded(page: Page): Promise<number> {
  return page.evaluate(async () => {
    const handle = (window as unknown as { floodlight?: { viewer?: { getStats(): Promise<{ framesDecoded: number }> } } }).floodlight;
    if (!handle?.viewer) throw new Error('window.floodlight.viewer is missing');
    return (await handle.viewer.getStats()).framesDecoded;
  });
}

/** Every page decodes 30 more frames. */
async function decoding(pages: Map<string, Page>, description: string): Promise<void> {
  const start = new Map<string, number>();
  for (const [name, page] of pages) start.set(name, await framesDecoded(page));
  const gained = new Map<string, number>();
  await waitFor(
    async () => {
      for (const [name, page] of pages) gained.set(name, (await framesDecoded(page)) - start.get(name)!);
      return [...gained.values()].every((n) => n >= 30);
    },
    { description, timeoutMs: 30_000, intervalMs: 250, progress: () => JSON.stringify(Object.fromEntries(gained)) },
  );
  console.log(`# ${description}: ${JSON.stringify(Object.fromEntries(gained))}`);
}

async function clusterRoom(server: FloodlightServer, token: string): Promise<{ overview: ClusterOverview; room: ClusterRoomView | undefined }> {
  const response = await fetch(`${server.url}/api/cluster`, { headers: { authorization: `Bearer ${token}` } });
  assert.equal(response.status, 200);
  const overview = (await response.json()) as ClusterOverview;
  return { overview, room: overview.rooms.find((r) => r.id === ROOM) };
}

/** The value of the series `name` with (at least) these labels in a node's /metrics, whatever their order. */
async function metric(server: FloodlightServer, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const pairs = Object.entries(labels).map(([label, value]) => `${label}="${value}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && pairs.every((pair) => l.slice(0, l.indexOf('}')).includes(pair)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** One pipe per edge, one consumer per track, at the origin, on each edge and in the API. */
async function assertOnePipePerEdge(a: FloodlightServer, edges: FloodlightServer[], token: string, audience: string): Promise<void> {
  const lease = (await a.directory.originOf(ROOM))!;
  const expected = ['node-b', 'node-c'].map((edge) => [ROOM, edge, lease.epoch, 2]);
  assert.deepEqual(
    a.rooms
      .cascade()
      .pipes.map((p) => [p.room, p.edge, p.epoch, p.consumers])
      .sort(),
    expected,
    `origin pipes with ${audience}`,
  );
  const media = a.rooms.get(ROOM)?.programMedia();
  assert.ok(media, 'the origin has a program router');
  assert.equal((await media.router.dump()).transportIds.length, 3, `the publisher's transport and two pipes on the origin router with ${audience}`);
  for (const edge of edges) {
    const cascades = edge.rooms.cascade();
    assert.deepEqual(
      cascades.edges.map((e) => [e.room, e.origin, e.tracks]),
      [[ROOM, 'node-a', 2]],
      `${edge.url}: one cascade of two tracks with ${audience}`,
    );
    assert.equal(cascades.pipes.length, 0, 'an edge serves no pipes');
  }
  // The API, asked of an edge: the same pipes, flowing, per track.
  let room: ClusterRoomView | undefined;
  await waitFor(
    async () => {
      ({ room } = await clusterRoom(edges[0]!, token));
      return (room?.pipes ?? []).length === 2 && room!.pipes.every((p) => p.tracks.length === 2 && p.tracks.every((t) => t.state === 'flowing'));
    },
    { description: `/api/cluster listing two flowing pipes with ${audience}`, progress: () => JSON.stringify(room?.pipes) },
  );
  const pipes = room!.pipes;
  assert.deepEqual(
    pipes.map((p) => [p.origin, p.edge, p.epoch]).sort(),
    expected.map(([, edge, epoch]) => ['node-a', edge, epoch]),
  );
  for (const pipe of pipes) {
    assert.deepEqual(pipe.tracks.map((t) => t.kind).sort(), ['audio', 'video']);
    for (const track of pipe.tracks)
      assert.ok(track.bitrateBps > 0 && track.packets > 0 && track.bytes > 0, `${pipe.edge} ${track.kind}: ${JSON.stringify(track)}`);
  }
  console.log(
    `# pipes with ${audience}: ${pipes.map((p) => `${p.origin}→${p.edge} ${p.tracks.map((t) => `${t.kind} ${t.bitrateBps} b/s ${t.packets} pkts`).join(', ')}`).join(' | ')}`,
  );
}

test('Chromium viewers on two edges decode the broadcast; each edge holds one pipe per track, with 1 viewer and with 3', { timeout: 240_000 }, async () => {
  for (const [id, ip] of [
    ['node-a', '127.0.0.2'],
    ['node-b', '127.0.0.3'],
    ['node-c', '127.0.0.4'],
  ] as const) {
    servers.push(await startClusterNode(redis!.url, id, ip));
  }
  const [a, b, c] = servers as [FloodlightServer, FloodlightServer, FloodlightServer];
  const adminToken = await a.tokens.issue({ room: '*', role: 'admin' }, 600);

  const publisherToken = await a.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  publisher = new HeadlessPublisher({
    url: a.url,
    room: ROOM,
    token: publisherToken,
    video: { width: 320, height: 180, bitrateKbps: 300, keyframeIntervalSec: 1 },
  });
  await publisher.publish();
  await waitFor(async () => (await b.directory.originOf(ROOM))?.node === 'node-a', { description: 'node-a holding the origin' });

  // One viewer on each edge.
  const pages = new Map<string, Page>([
    ['b-0', await watch(b, 'b-0')],
    ['c-0', await watch(c, 'c-0')],
  ]);
  assert.equal(b.rooms.get(ROOM)?.program.source?.protocol, 'cascade', 'node-b is an edge');
  assert.equal(c.rooms.get(ROOM)?.program.source?.protocol, 'cascade', 'node-c is an edge');
  await decoding(pages, 'one Chromium viewer on each edge decoding');
  await assertOnePipePerEdge(a, [b, c], adminToken, '1 viewer per edge');

  // Two more on B: still one pipe per edge.
  pages.set('b-1', await watch(b, 'b-1'));
  pages.set('b-2', await watch(b, 'b-2'));
  await waitFor(() => b.rooms.get(ROOM)?.viewerCount === 3, { description: 'three viewers joined on node-b' });
  await decoding(pages, 'three Chromium viewers on node-b and one on node-c decoding');
  await assertOnePipePerEdge(a, [b, c], adminToken, '3 viewers on node-b');

  // Metrics, per node: A feeds two pipes, B and C each receive one; bytes counted on both ends.
  assert.equal(await metric(a, 'floodlight_pipes', { node: 'node-a', role: 'origin' }), 2);
  assert.equal(await metric(b, 'floodlight_pipes', { node: 'node-b', role: 'edge' }), 1);
  assert.equal(await metric(b, 'floodlight_pipes', { node: 'node-b', role: 'origin' }), 0);
  await waitFor(async () => ((await metric(a, 'floodlight_pipe_bytes_total', { node: 'node-a', direction: 'out' })) ?? 0) > 10_000, {
    description: 'node-a counting bytes sent over its pipes',
  });
  await waitFor(async () => ((await metric(c, 'floodlight_pipe_bytes_total', { node: 'node-c', direction: 'in' })) ?? 0) > 10_000, {
    description: 'node-c counting bytes received over its pipe',
  });

  // The dashboard's cluster view, on node-c: the room with both edges, each fed by one pipe.
  const dashboard = await chromium!.context.newPage();
  await dashboard.goto(`${c.url}/dashboard?token=${adminToken}`);
  const edgeCell = (edge: string): string => `#cluster-rooms tr[data-cluster-room="${ROOM}"] [data-edge="${edge}"][data-pipes="1"]`;
  await dashboard.waitForSelector(edgeCell('node-b'), { timeout: 15_000 });
  await dashboard.waitForSelector(edgeCell('node-c'), { timeout: 15_000 });
  const shown = await dashboard.locator(edgeCell('node-b')).textContent();
  console.log(`# dashboard, node-b's pipe: ${shown}`);
  assert.match(shown ?? '', /node-a → node-b: audio .*pkts · flowing; video .*pkts · flowing/);
});
