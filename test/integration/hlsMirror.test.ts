/**
 * Redundant HLS origins that serve the same objects (issue 12): node A (webrtc)
 * is the room's origin; B and C are `hls` nodes recording it. B was first, so
 * it leads; C follows: it serves a mirror of B's output under the same URLs
 * while its own recorder runs as a hot standby. Checked: the same media
 * playlist text and byte-identical init, parts and segments from B and C;
 * then B is SIGKILLed and an LL-HLS client reading from C keeps getting
 * parts: the media sequence goes on (no reset) after a discontinuity, at most
 * one stall of at most 2 s; old files go behind the window.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from '../helpers/redisServer.js';
import { spawnClusterNode, startClusterNode, type ChildNode } from '../helpers/clusterNodes.js';
import type { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { publishLight } from '../helpers/roomPeers.js';
import { waitFor } from '../helpers/wait.js';
import { LlHlsClient } from '../../scripts/loadtest/llHlsClient.js';
import { filesNamed, parseMediaPlaylist, playlistEdge } from '../../server/hls/mirror/playlistText.js';

const ROOM = 'mirrored';
const HLS_ENV = { HLS_ENABLED: 'true', HLS_RENDITIONS: '240', NODE_ROLES: 'hls' };
const MASTER = `/hls/${ROOM}/index.m3u8`;
const MEDIA = `/hls/${ROOM}/240p/index.m3u8`;

let redis: RedisServer | undefined;
const servers: FloodlightServer[] = [];
const children: ChildNode[] = [];
const dirs: string[] = [];
let publisher: HeadlessPublisher | undefined;
let client: LlHlsClient | undefined;

after(async () => {
  await client?.close();
  await publisher?.close();
  await Promise.all(servers.map((server) => server.close()));
  await Promise.all(children.map((child) => child.process.stop()));
  await redis?.stop();
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

const text = async (url: string): Promise<string | undefined> => {
  const response = await fetch(url).catch(() => undefined);
  return response?.status === 200 ? response.text() : undefined;
};

/** Pids of processes whose command line mentions `text` (node-b's ffmpeg writes its thumbnail under its HLS_DIR). */
function processesUsing(text: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

test('a follower serves the leader’s objects byte for byte, and continues the stream when the leader is SIGKILLed', { timeout: 240_000 }, async () => {
  redis = await RedisServer.start();
  const bDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-hls-b-'));
  dirs.push(bDir);
  const b = await spawnClusterNode(redis.url, 'node-b', '127.0.0.5', { ...HLS_ENV, HLS_DIR: bDir });
  children.push(b);
  const a = await startClusterNode(redis.url, 'node-a', '127.0.0.2', { HLS_ENABLED: 'true', HLS_RENDITIONS: '240', NODE_ROLES: 'webrtc' });
  servers.push(a);

  publisher = await publishLight(a, ROOM);
  await waitFor(async () => (await text(`${b.url}${MEDIA}`))?.includes('#EXTINF:') ?? false, { description: 'node-b recording', timeoutMs: 30_000 }).catch(
    (error: unknown) => {
      throw new Error(`${(error as Error).message}\nnode-b:\n${b.process.output()}`);
    },
  );

  // C joins as the second recorder: B (placed first) leads, C follows.
  const c = await startClusterNode(redis.url, 'node-c', '127.0.0.6', HLS_ENV);
  servers.push(c);
  await a.cluster.settings.set({ setting: 'hlsRedundant', room: ROOM, value: true });
  await waitFor(() => c.hls?.status(ROOM)?.available === true, { description: 'node-c serving the mirror', timeoutMs: 30_000 });
  await waitFor(() => (c.hls?.ffmpegStats.running ?? 0) >= 1, { description: 'node-c’s own recorder running (hot standby)', timeoutMs: 30_000 });
  assert.equal(await text(`${c.url}${MASTER}`).then((m) => m?.includes('240p/index.m3u8')), true, 'node-c lists the rendition');

  // The same playlist text once both have the same part; the same bytes for every object it names.
  const shared = await waitFor(
    async () => {
      const current = await text(`${c.url}${MEDIA}`);
      if (!current) return undefined;
      const edge = playlistEdge(parseMediaPlaylist(current));
      const directive = `?_HLS_msn=${edge.lastMsn}&_HLS_part=${edge.lastPart + 1}`;
      const [fromB, fromC] = await Promise.all([text(`${b.url}${MEDIA}${directive}`), text(`${c.url}${MEDIA}${directive}`)]);
      return fromB !== undefined && fromB === fromC ? fromB : undefined;
    },
    { description: 'the same media playlist text from node-b and node-c', timeoutMs: 20_000 },
  );
  const named = filesNamed(parseMediaPlaylist(shared));
  assert.ok(named.some((f) => f.startsWith('init-')) && named.some((f) => f.startsWith('part-')) && named.some((f) => f.startsWith('seg-')));
  for (const file of named) {
    const [fromB, fromC] = await Promise.all(
      [b.url, c.url].map(async (url) => {
        const response = await fetch(`${url}/hls/${ROOM}/240p/${file}`);
        assert.equal(response.status, 200, `${file} from ${url}`);
        return Buffer.from(await response.arrayBuffer());
      }),
    );
    assert.ok(fromB!.equals(fromC!), `${file}: the same bytes from both origins`);
  }

  // A player reading from the follower directly.
  client = new LlHlsClient({ masterUrl: `${c.url}${MASTER}`, id: 'follower-player' });
  client.start();
  await waitFor(() => client!.stats().state === 'playing' && client!.stats().parts >= 8, { description: 'the player playing from node-c', timeoutMs: 30_000 });
  const beforeKill = client.stats();
  const lastBefore = playlistEdge(parseMediaPlaylist((await text(`${c.url}${MEDIA}`))!));

  assert.ok(processesUsing(bDir).length > 0, 'node-b’s ffmpeg found by its thumbnail path');
  b.process.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor(() => c.hls?.takeoversTotal === 1, { description: 'node-c taking over', timeoutMs: 10_000 });
  console.error(`# node-c took over ${Date.now() - killedAt} ms after node-b was killed`);
  const taken = await waitFor(
    async () => {
      const current = await text(`${c.url}${MEDIA}`);
      const parsed = current === undefined ? undefined : parseMediaPlaylist(current);
      return parsed && parsed.segments.some((s) => s.discontinuity) && playlistEdge(parsed).lastCompleteMsn > lastBefore.lastMsn + 1 ? parsed : undefined;
    },
    { description: 'node-c continuing the stream with its own segments', timeoutMs: 15_000 },
  );
  const msns = [...taken.segments.map((s) => s.msn), ...(taken.inProgress ? [taken.inProgress.msn] : [])];
  assert.deepEqual(
    msns,
    msns.map((_, i) => taken.mediaSequence + i),
    'the media sequence runs on without a gap',
  );
  assert.ok(taken.mediaSequence >= lastBefore.lastMsn - 8, 'no reset of the media sequence');
  const boundary = taken.segments.find((s) => s.discontinuity)!;
  assert.ok(boundary.msn <= lastBefore.lastMsn + 2, `the own output continues right after the mirrored msn (${boundary.msn} after ${lastBefore.lastMsn})`);

  await waitFor(() => client!.stats().parts >= beforeKill.parts + 16, { description: 'the player getting parts after the takeover', timeoutMs: 20_000 });
  const afterKill = client.stats();
  const stalls = afterKill.stalls - beforeKill.stalls;
  const stallMs = afterKill.stallMs - beforeKill.stallMs;
  console.error(`# player across the takeover: ${stalls} stall(s), ${Math.round(stallMs)} ms stalled; errors ${JSON.stringify(afterKill.errors)}`);
  assert.notEqual(afterKill.state, 'closed');
  assert.ok(stalls <= 1, `at most one stall (${stalls})`);
  assert.ok(stallMs <= 2_000, `stalled at most 2 s (${Math.round(stallMs)} ms)`);

  // Nothing piles up: the served folder holds the window and a few segments behind it.
  const servedDir = path.join(c.hls!.root, ROOM, '240p');
  await waitFor(
    async () => {
      const window = parseMediaPlaylist((await text(`${c.url}${MEDIA}`))!);
      const segments = fs.readdirSync(servedDir).filter((f) => f.startsWith('seg-'));
      return segments.length <= window.segments.length + 6 && !segments.includes(taken.segments[0]!.uri) ? true : undefined;
    },
    { description: 'files behind the window removed', timeoutMs: 30_000 },
  );
  await waitFor(() => processesUsing(bDir).length === 0, { description: 'no ffmpeg of node-b left', timeoutMs: 10_000 });
  await client.close();
  client = undefined;
  await c.close();
  assert.equal(c.hls?.ffmpegStats.running ?? 0, 0, 'no ffmpeg left on node-c');
});
