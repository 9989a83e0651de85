/**
 * HLS in a cluster (issue 10): node A (its own process, so it can die for
 * real) is the origin of a room and records it; node B is an edge of the room
 * (a viewer joined there) with HLS on too. B runs no recorder, and serves the
 * room's HLS by forwarding to A: master, media playlist, blocking reload,
 * parts and the thumbnail, with A's headers. A forwarded request is never
 * forwarded again; a room nobody serves is 404; A killed → 502 at once, never
 * a hang. A second test drives the proxy against origins that hang or refuse
 * (504 / 502) and checks the upstream request ends when the client leaves.
 */
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { FloodlightServer } from '../../server/app.js';
import { HOP_HEADER, HlsClusterProxy } from '../../server/hls/hlsClusterProxy.js';
import { createLogger } from '../../server/observability/logger.js';
import { RedisServer } from '../helpers/redisServer.js';
import { spawnClusterNode, startClusterNode, type ChildNode } from '../helpers/clusterNodes.js';
import { HeadlessViewer, type HeadlessPublisher } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'show';
const HLS_ENV = { HLS_ENABLED: 'true', HLS_RENDITIONS: '240' };

let redis: RedisServer;
let servers: FloodlightServer[] = [];
let children: ChildNode[] = [];
let peers: Array<HeadlessPublisher | HeadlessViewer> = [];
let dirs: string[] = [];

before(async () => {
  redis = await RedisServer.start();
});

afterEach(async () => {
  await Promise.all(peers.map((peer) => peer.close()));
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(children.map((child) => child.process.stop()));
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  peers = [];
  servers = [];
  children = [];
  dirs = [];
});

after(async () => {
  await redis.stop();
});

const PLAYLIST_HEADERS = ['content-type', 'cache-control', 'access-control-allow-origin', 'cross-origin-resource-policy'];

function pick(response: Response, names: readonly string[]): Record<string, string | null> {
  return Object.fromEntries(names.map((name) => [name, response.headers.get(name)]));
}

/** URIs of the complete segments, in order. */
function segmentUris(playlist: string): string[] {
  return playlist.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
}

function partUris(playlist: string): string[] {
  return [...playlist.matchAll(/^#EXT-X-PART:.*URI="([^"]+)"/gm)].map((m) => m[1]!);
}

function mediaSequence(playlist: string): number {
  const match = /^#EXT-X-MEDIA-SEQUENCE:(\d+)/m.exec(playlist);
  assert.ok(match, `a media sequence in\n${playlist}`);
  return Number(match[1]);
}

test(
  'an edge records nothing and serves the origin node’s HLS: playlists, blocking reloads, parts, thumbnail; 404 and 502 when there is nothing to forward to',
  { timeout: 180_000 },
  async () => {
    const hlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-hls-a-'));
    dirs.push(hlsDir);
    const a = await spawnClusterNode(redis.url, 'node-a', '127.0.0.2', { ...HLS_ENV, HLS_DIR: hlsDir });
    children.push(a);
    const b = await startClusterNode(redis.url, 'node-b', '127.0.0.3', HLS_ENV);
    servers.push(b);

    // Published at node-a (a child process); node-b issues the token (the nodes share the secret).
    const publisher = await publishLight(b, ROOM, { url: a.url });
    peers.push(publisher);
    await waitFor(async () => (await b.directory.originOf(ROOM))?.node === 'node-a', { description: 'node-a holding the origin' });
    const viewer = new HeadlessViewer({ url: b.url, room: ROOM, name: 'edge-viewer' });
    peers.push(viewer);
    await viewer.join();
    await waitFor(() => b.rooms.get(ROOM)?.live, { description: 'the room live on the edge node-b' });
    assert.equal(b.rooms.get(ROOM)?.program.source?.protocol, 'cascade', 'node-b is an edge of the room');

    // A records: its master becomes available (held until a player can start).
    const fromA = (p: string, init?: RequestInit): Promise<Response> => fetch(`${a.url}${p}`, init);
    const fromB = (p: string, init?: RequestInit): Promise<Response> => fetch(`${b.url}${p}`, init);
    const master = `/hls/${ROOM}/index.m3u8`;
    await waitFor(async () => (await fromA(master)).status === 200, { description: 'the master playlist on node-a', timeoutMs: 30_000 });

    // B records nothing: no HLS stream, no ffmpeg, although its room is live with the same program.
    assert.equal(b.hls?.status(ROOM), undefined, 'no HLS stream on the edge');
    assert.equal(b.hls?.ffmpegPid(ROOM), undefined, 'no ffmpeg on the edge');
    assert.equal(b.hls?.ffmpegStats.running ?? 0, 0, 'no ffmpeg running on node-b');

    // Master through B: A's text and headers.
    const [masterA, masterB] = await Promise.all([fromA(master), fromB(master)]);
    assert.equal(masterB.status, 200);
    const masterText = await masterB.text();
    assert.equal(masterText, await masterA.text(), "node-b's master is node-a's");
    assert.deepEqual(pick(masterB, PLAYLIST_HEADERS), pick(masterA, PLAYLIST_HEADERS));
    assert.equal(masterB.headers.get('access-control-allow-origin'), '*');
    assert.equal(masterB.headers.get('cross-origin-resource-policy'), 'cross-origin');

    // A media playlist through B: the same stream (same segments, by media sequence).
    const mediaUri = segmentUris(masterText)[0];
    assert.ok(mediaUri, `a media playlist in the master:\n${masterText}`);
    const media = new URL(mediaUri, `http://x${master}`).pathname;
    const plainB = await fromB(media);
    assert.equal(plainB.status, 200);
    const textB = await plainB.text();
    const textA = await (await fromA(media)).text();
    const offset = mediaSequence(textB) - mediaSequence(textA);
    const segmentsB = segmentUris(textB);
    const segmentsA = segmentUris(textA);
    for (const [i, uri] of segmentsB.entries()) {
      const j = i + offset;
      if (j >= 0 && j < segmentsA.length) assert.equal(uri, segmentsA[j], `segment ${mediaSequence(textB) + i} on both nodes`);
    }
    assert.ok(segmentsB.length > 0, 'the edge lists segments');

    // A blocking reload through B: held until the next segment, then the same segment as A answers.
    const next = mediaSequence(textA) + segmentsA.length;
    const blocking = `${media}?_HLS_msn=${next}`;
    const [heldA, heldB] = await Promise.all([fromA(blocking), fromB(blocking)]);
    assert.equal(heldB.status, 200, await heldB.clone().text());
    assert.deepEqual(pick(heldB, PLAYLIST_HEADERS), pick(heldA, PLAYLIST_HEADERS));
    assert.equal(heldB.headers.get('cache-control'), 'public, max-age=6');
    const heldTextA = await heldA.text();
    const heldTextB = await heldB.text();
    const segmentAt = (text: string, msn: number): string | undefined => segmentUris(text)[msn - mediaSequence(text)];
    assert.ok(segmentAt(heldTextB, next), `segment ${next} in the held answer through node-b`);
    assert.equal(segmentAt(heldTextB, next), segmentAt(heldTextA, next), `segment ${next} is the same on both nodes`);

    // A part through B: A's bytes and headers (ETag included).
    const part = partUris(heldTextA).at(-1);
    assert.ok(part, 'a part in the playlist');
    const partPath = new URL(part, `http://x${media}`).pathname;
    const [partA, partB] = await Promise.all([fromA(partPath), fromB(partPath)]);
    assert.equal(partB.status, 200);
    const partHeaders = ['content-type', 'content-length', 'cache-control', 'etag', 'last-modified', 'access-control-allow-origin'];
    assert.deepEqual(pick(partB, partHeaders), pick(partA, partHeaders));
    assert.ok(Buffer.from(await partB.arrayBuffer()).equals(Buffer.from(await partA.arrayBuffer())), 'the same part bytes');
    // (An explicit cache-control: fetch adds `no-cache` to conditional requests otherwise, which forbids a 304.)
    const conditional = await fromB(partPath, { headers: { 'if-none-match': partA.headers.get('etag')!, 'cache-control': 'max-age=0' } });
    assert.equal(conditional.status, 304, 'a conditional request goes through');

    // The listing on B points the watch page at the HLS stream; the thumbnail comes from A.
    await waitFor(async () => (await fromA(`/api/rooms/${ROOM}/thumbnail.jpg`)).status === 200, { description: 'a thumbnail on node-a', timeoutMs: 30_000 });
    const listing = (await (await fromB('/api/rooms')).json()) as { rooms: Array<{ id: string; hls: { url: string | null }; thumbnail: string | null }> };
    const item = listing.rooms.find((r) => r.id === ROOM);
    assert.deepEqual([item?.hls.url, item?.thumbnail], [master, `/api/rooms/${ROOM}/thumbnail.jpg`]);
    const thumbnail = await fromB(`/api/rooms/${ROOM}/thumbnail.jpg`);
    assert.equal(thumbnail.status, 200);
    assert.equal(thumbnail.headers.get('content-type'), 'image/jpeg');
    assert.ok(
      Buffer.from(await thumbnail.arrayBuffer())
        .subarray(0, 2)
        .equals(Buffer.from([0xff, 0xd8])),
      'a JPEG',
    );

    // Loop guard: a forwarded request is answered from what B has (nothing), never forwarded again.
    const hop = await fromB(master, { headers: { [HOP_HEADER]: '1' } });
    assert.equal(hop.status, 404);
    // A room nobody serves.
    assert.equal((await fromB('/hls/nobody/index.m3u8')).status, 404);
    assert.equal((await fromB('/api/rooms/nobody/thumbnail.jpg')).status, 404);

    // A dies: while its lease lasts, B answers 502 at once (no hang); once it is gone, 404.
    a.process.kill('SIGKILL');
    await waitFor(() => !a.process.running, { description: 'node-a gone' });
    const started = Date.now();
    // (Its lease and announcement outlive it by up to 3 s: B still sees node-a as the origin.)
    const [dead, deadPart] = await Promise.all([fromB(master), fromB(partPath)]);
    assert.equal(dead.status, 502, 'origin unreachable');
    assert.equal(dead.headers.get('cache-control'), 'no-store');
    assert.equal(deadPart.status, 502, 'a part: origin unreachable');
    assert.ok(Date.now() - started < 3_000, 'answered without waiting for a timeout');
    await waitFor(async () => (await fromB(master)).status === 404, { description: "404 once node-a's lease is gone", timeoutMs: 15_000 });
  },
);

test(
  'the proxy answers 504 for an origin that holds too long, 502 for one that refuses, and drops the upstream request when the client leaves',
  { timeout: 30_000 },
  async () => {
    // An "origin" that reads requests and never answers; `sockets`: its connections that carry a request.
    const sockets = new Set<net.Socket>();
    const connections = new Set<net.Socket>();
    const hanging = net.createServer((socket) => {
      connections.add(socket);
      socket.on('data', () => sockets.add(socket));
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    const hangingUrl = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`;
    // A port nobody listens on.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const origins: Record<string, string> = { slow: hangingUrl, refusing: closedUrl, held: hangingUrl };
    const makeApp = (upstreamTimeoutMs: number): express.Express => {
      const proxy = new HlsClusterProxy({
        nodeId: 'edge',
        directory: { originOf: (room) => Promise.resolve(origins[room] ? { room, node: `origin-of-${room}`, epoch: 1 } : undefined) },
        nodes: { get: (id) => Promise.resolve({ publicUrl: origins[id.replace('origin-of-', '')] } as never) },
        recordsHere: () => false,
        upstreamTimeoutMs,
        logger: createLogger('silent'),
      });
      const app = express();
      app.use('/hls', proxy.hlsHandler, (_req, res) => res.status(404).end());
      return app;
    };
    const quick = makeApp(500).listen(0, '127.0.0.1');
    const patient = makeApp(60_000).listen(0, '127.0.0.1');
    await Promise.all([once(quick, 'listening'), once(patient, 'listening')]);
    try {
      const url = (server: typeof quick, p: string): string => `http://127.0.0.1:${(server.address() as AddressInfo).port}${p}`;
      let started = Date.now();
      const slow = await fetch(url(quick, '/hls/slow/index.m3u8'));
      assert.equal(slow.status, 504);
      assert.equal(slow.headers.get('cache-control'), 'no-store');
      assert.ok(Date.now() - started < 5_000, 'the timeout bounds the wait');
      started = Date.now();
      const refusing = await fetch(url(quick, '/hls/refusing/index.m3u8'));
      assert.equal(refusing.status, 502);
      assert.equal(refusing.headers.get('cache-control'), 'no-store');
      assert.equal((await fetch(url(quick, '/hls/unknown/index.m3u8'))).status, 404, 'no origin: the local answer');

      // The client leaves while the origin holds the request: the upstream connection goes too.
      await waitFor(() => sockets.size === 0, { description: 'the timed-out upstream connection closed' });
      const client = new AbortController();
      const pending = fetch(url(patient, '/hls/held/index.m3u8?_HLS_msn=5'), { signal: client.signal }).catch(() => undefined);
      await waitFor(() => sockets.size === 1, { description: 'the request forwarded to the held origin' });
      client.abort();
      await pending;
      await waitFor(() => sockets.size === 0, { description: 'the upstream connection closed after the client left' });
    } finally {
      quick.close();
      patient.close();
      for (const socket of connections) socket.destroy();
      hanging.close();
    }
  },
);
