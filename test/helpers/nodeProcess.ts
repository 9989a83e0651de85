/**
 * A cluster node as its own process: the real entry point (server/main.ts
 * through tsx), so signals (SIGTERM drain, SIGKILL crash) reach it as they
 * would in production. Only the node itself is signalled, never its group:
 * its media workers must see their parent act, not the signal.
 */
import { freePort } from './redisServer.js';
import { spawnTracked, type TrackedProcess } from './processes.js';
import { TEST_AUTH_SECRET } from './testServer.js';

export interface NodeProcess {
  process: TrackedProcess;
  url: string;
  /** The outcome of its drain ('empty' | 'deadline') once it logged one. */
  drainOutcome(): string | undefined;
}

export async function startNodeProcess(options: { redisUrl: string; nodeId: string; rtcMinPort: number; env?: Record<string, string> }): Promise<NodeProcess> {
  const port = await freePort();
  let outcome: string | undefined;
  const child = spawnTracked(process.execPath, ['--import', 'tsx', 'server/main.ts'], {
    name: options.nodeId,
    processGroup: false,
    onStdoutLine: (line) => {
      outcome ??= /"outcome":"(\w+)"/.exec(line)?.[1];
    },
    env: {
      ...process.env,
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      LISTEN_IP: '127.0.0.1',
      ANNOUNCED_IP: '127.0.0.1',
      PORT: String(port),
      NUM_WORKERS: '1',
      RTC_MIN_PORT: String(options.rtcMinPort),
      RTC_MAX_PORT: String(options.rtcMinPort + 499),
      HLS_ENABLED: 'false',
      REDIS_URL: options.redisUrl,
      NODE_ID: options.nodeId,
      AUTH_SECRET: TEST_AUTH_SECRET,
      ...options.env,
    },
  });
  await child.waitForLine(/Floodlight is live/, 30_000);
  return { process: child, url: `http://127.0.0.1:${port}`, drainOutcome: () => outcome };
}
