/**
 * Starts a real Floodlight server in this process (real mediasoup workers,
 * real socket.io and HTTP on an ephemeral port) for integration tests.
 */
import { loadConfig } from '../../server/config/config.js';
import { FloodlightServer } from '../../server/app.js';
import { createLogger } from '../../server/observability/logger.js';

export const TEST_AUTH_SECRET = 'test-secret-test-secret-test-secret';

/** Each server gets its own RTC port range so parallel servers never collide. */
let nextPortBlock = 0;

export async function startTestServer(env: Record<string, string> = {}): Promise<FloodlightServer> {
  const block = (process.pid * 7 + nextPortBlock++) % 40;
  const rtcMin = 20000 + block * 500;
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    LISTEN_IP: '127.0.0.1',
    ANNOUNCED_IP: '127.0.0.1',
    NUM_WORKERS: '2',
    RTC_MIN_PORT: String(rtcMin),
    RTC_MAX_PORT: String(rtcMin + 499),
    AUTH_SECRET: TEST_AUTH_SECRET,
    ROOM_GRACE_SECONDS: '1',
    LOG_LEVEL: process.env['TEST_LOG_LEVEL'] ?? 'warn',
    ...env,
  });
  return FloodlightServer.create(config, { logger: createLogger(config.logLevel) });
}
