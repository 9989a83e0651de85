/**
 * SDK failover: a viewer's node (its own process) is SIGKILLed; the socket
 * cannot come back, so the SDK asks the alternates it learnt from its join
 * answer where to go, rejoins there and receives media again.
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
let survivor: FloodlightServer;
let victim: NodeProcess | undefined;
const peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  redis = await RedisServer.start();
  survivor = await startTestServer({ REDIS_URL: redis.url, NODE_ID: 'survivor', HLS_ENABLED: 'false' });
});

after(async () => {
  await Promise.allSettled(peers.map((peer) => peer.close()));
  await victim?.process.stop({ signal: 'SIGKILL' });
  await survivor.close();
  await redis.stop();
});

test('a viewer whose node dies rejoins through an alternate from its join answer', { timeout: 90_000 }, async () => {
  victim = await startNodeProcess({ redisUrl: redis.url, nodeId: 'victim', rtcMinPort: 45000 });
  const survivorUrl = `http://127.0.0.1:${survivor.port}`;

  const token = await survivor.tokens.issue({ room: 'lifeboat', role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({ url: survivorUrl, room: 'lifeboat', token, name: 'publisher' });
  peers.push(publisher);
  await publisher.publish();
  const viewer = new HeadlessViewer({ url: victim.url, room: 'lifeboat', name: 'viewer' });
  peers.push(viewer);
  await viewer.join();
  assert.equal(viewer.signaling.serverUrl, victim.url);

  const killedAt = performance.now();
  victim.process.kill('SIGKILL');
  await waitFor(() => viewer.signaling.serverUrl === survivorUrl && viewer.state === 'joined', {
    description: 'the viewer failed over to the surviving node',
    timeoutMs: 20_000,
    progress: () => `${viewer.state} on ${viewer.signaling.serverUrl}`,
  });
  await viewer.waitForNewFrames(10);
  const backAfterMs = performance.now() - killedAt;
  // Failover starts 2 s after the socket is lost; the rest is one HTTP ask and a join.
  assert.ok(backAfterMs < 10_000, `media again ${Math.round(backAfterMs)} ms after the kill`);
});
