/**
 * Floodlight nodes of one cluster on one machine: each on its own loopback
 * address (127.0.0.2, .3, …: HTTP, WebRTC and pipes), all on one private
 * redis-server. In this process (startTestServer), or as a child process
 * running server/main.ts for tests that must SIGKILL a node.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer, TEST_AUTH_SECRET } from './testServer.js';
import { freePort } from './redisServer.js';
import { spawnTracked, type TrackedProcess } from './processes.js';
import { waitFor } from './wait.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function nodeEnv(redisUrl: string, nodeId: string, ip: string): Record<string, string> {
  // HLS is another concern: keeping ffmpeg off leaves the two cores to the media under test.
  return { REDIS_URL: redisUrl, NODE_ID: nodeId, HOST: ip, LISTEN_IP: ip, ANNOUNCED_IP: ip, HLS_ENABLED: 'false' };
}

/** A node in this process. */
export function startClusterNode(redisUrl: string, nodeId: string, ip: string, env: Record<string, string> = {}): Promise<FloodlightServer> {
  return startTestServer({ ...nodeEnv(redisUrl, nodeId, ip), ...env });
}

/** A node in its own process (server/main.ts), so that it can die for real. */
export interface ChildNode {
  nodeId: string;
  url: string;
  process: TrackedProcess;
}

export async function spawnClusterNode(redisUrl: string, nodeId: string, ip: string, env: Record<string, string> = {}): Promise<ChildNode> {
  const port = await freePort();
  const url = `http://${ip}:${port}`;
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    name: nodeId,
    cwd: repoRoot,
    env: {
      ...process.env,
      ...nodeEnv(redisUrl, nodeId, ip),
      PORT: String(port),
      NUM_WORKERS: '1',
      // Its own address: the port range cannot collide with nodes on other addresses.
      RTC_MIN_PORT: '47000',
      RTC_MAX_PORT: '47499',
      AUTH_SECRET: TEST_AUTH_SECRET,
      LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
      ...env,
    },
  });
  try {
    await waitFor(
      async () => {
        if (!child.running) throw new Error(`${nodeId} exited at start:\n${child.output()}`);
        return (await fetch(`${url}/healthz`).catch(() => undefined))?.ok ?? false;
      },
      { description: `${nodeId} answering on ${url}`, timeoutMs: 30_000 },
    );
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { nodeId, url, process: child };
}
