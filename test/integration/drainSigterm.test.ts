/**
 * SIGTERM in cluster mode drains: the real entry point (server/main.ts, its
 * own process) takes no more joins, moves its clients to the other node
 * (a viewer that waited there for a broadcast whose publisher is on the
 * other node ends up watching it) and exits 0 once empty, long before
 * DRAIN_TIMEOUT_SECONDS.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { RedisServer, freePort } from '../helpers/redisServer.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer } from '../helpers/headlessPeer.js';
import { spawnTracked, type TrackedProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

let redis: RedisServer;
let stayer: FloodlightServer;
let leaver: TrackedProcess | undefined;
const peers: Array<HeadlessPublisher | HeadlessViewer> = [];

before(async () => {
  redis = await RedisServer.start();
  stayer = await startTestServer({ REDIS_URL: redis.url, NODE_ID: 'stayer', HLS_ENABLED: 'false' });
});

after(async () => {
  await Promise.allSettled(peers.map((peer) => peer.close()));
  await leaver?.stop({ signal: 'SIGKILL' });
  await stayer.close();
  await redis.stop();
});

test('SIGTERM drains a cluster node: its viewer moves to the other node, then the process exits 0', { timeout: 90_000 }, async () => {
  const port = await freePort();
  let drainOutcome: string | undefined;
  leaver = spawnTracked(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    name: 'leaver',
    processGroup: false,
    onStdoutLine: (line) => {
      drainOutcome ??= /"outcome":"(\w+)"/.exec(line)?.[1];
    },
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      LISTEN_IP: '127.0.0.1',
      ANNOUNCED_IP: '127.0.0.1',
      PORT: String(port),
      NUM_WORKERS: '1',
      RTC_MIN_PORT: '46000',
      RTC_MAX_PORT: '46499',
      HLS_ENABLED: 'false',
      REDIS_URL: redis.url,
      NODE_ID: 'leaver',
      AUTH_SECRET: TEST_AUTH_SECRET,
      DRAIN_TIMEOUT_SECONDS: '60',
    },
  });
  await leaver.waitForLine(/Floodlight is live/, 30_000);
  const leaverUrl = `http://127.0.0.1:${port}`;
  const stayerUrl = `http://127.0.0.1:${stayer.port}`;

  const token = await stayer.tokens.issue({ room: 'encore', role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({ url: stayerUrl, room: 'encore', token, name: 'publisher' });
  peers.push(publisher);
  await publisher.publish();
  const viewer = new HeadlessViewer({ url: leaverUrl, room: 'encore', name: 'viewer' });
  peers.push(viewer);
  await viewer.join();
  assert.equal(viewer.signaling.serverUrl, leaverUrl);

  const signalledAt = performance.now();
  leaver.kill('SIGTERM');
  await waitFor(() => viewer.signaling.serverUrl === stayerUrl && viewer.state === 'joined', {
    description: 'the viewer rejoined on the node that stays',
    timeoutMs: 15_000,
    progress: () => `${viewer.state} on ${viewer.signaling.serverUrl}`,
  });
  await viewer.waitForNewFrames(10);
  const exit = await leaver.exited;
  const exitedAfterMs = performance.now() - signalledAt;
  assert.equal(exit.code, 0, `exited cleanly: ${leaver.output().slice(-2000)}`);
  assert.ok(exitedAfterMs < 20_000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM, not at the 60 s deadline`);
  assert.equal(drainOutcome, 'empty', 'the drain ended because the node was empty');
  assert.equal(await stayer.cluster.nodes.get('leaver'), undefined, 'the node withdrew its announcement');
});
