/**
 * SIGTERM in cluster mode drains: the real entry point (its own process)
 * takes no more joins, moves its clients to the other node (a viewer that
 * waited there for a broadcast whose publisher is on the other node ends up
 * watching it) and exits 0 once empty, long before DRAIN_TIMEOUT_SECONDS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer } from '../helpers/redisServer.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { startNodeProcess, type NodeProcess } from '../helpers/nodeProcess.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisServer;
let stayer: FloodlightServer;
let leaver: NodeProcess | undefined;
const peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  redis = await RedisServer.start();
  stayer = await startTestServer({ REDIS_URL: redis.url, NODE_ID: 'stayer', HLS_ENABLED: 'false' });
});

after(async () => {
  await Promise.allSettled(peers.map((peer) => peer.close()));
  await leaver?.process.stop({ signal: 'SIGKILL' });
  await stayer.close();
  await redis.stop();
});

test('SIGTERM drains a cluster node: its viewer moves to the other node, then the process exits 0', { timeout: 90_000 }, async () => {
  leaver = await startNodeProcess({ redisUrl: redis.url, nodeId: 'leaver', rtcMinPort: 46000, env: { DRAIN_TIMEOUT_SECONDS: '60' } });
  const stayerUrl = `http://127.0.0.1:${stayer.port}`;

  const token = await stayer.tokens.issue({ room: 'encore', role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({ url: stayerUrl, room: 'encore', token, name: 'publisher' });
  peers.push(publisher);
  await publisher.publish();
  const viewer = new HeadlessViewer({ url: leaver.url, room: 'encore', name: 'viewer' });
  peers.push(viewer);
  await viewer.join();
  assert.equal(viewer.signaling.serverUrl, leaver.url);

  const signalledAt = performance.now();
  leaver.process.kill('SIGTERM');
  await waitFor(() => viewer.signaling.serverUrl === stayerUrl && viewer.state === 'joined', {
    description: 'the viewer rejoined on the node that stays',
    timeoutMs: 15_000,
    progress: () => `${viewer.state} on ${viewer.signaling.serverUrl}`,
  });
  await viewer.waitForNewFrames(10);
  const exit = await leaver.process.exited;
  const exitedAfterMs = performance.now() - signalledAt;
  assert.equal(exit.code, 0, `exited cleanly: ${leaver.process.output().slice(-2000)}`);
  assert.ok(exitedAfterMs < 20_000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM, not at the 60 s deadline`);
  assert.equal(leaver.drainOutcome(), 'empty', 'the drain ended because the node was empty');
  assert.equal(await stayer.cluster.nodes.get('leaver'), undefined, 'the node withdrew its announcement');
});
