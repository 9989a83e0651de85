/**
 * Starts a real Floodlight server in this process (real mediasoup workers,
 * real socket.io and HTTP on an ephemeral port) for integration tests.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../server/config/config.js';
import { FloodlightServer } from '../../server/app.js';
import { createLogger } from '../../server/observability/logger.js';

export const TEST_AUTH_SECRET = 'test-secret-test-secret-test-secret';

/** HLS output of every test server of this process, removed at exit. */
const hlsRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-test-hls-'));
process.once('exit', () => fs.rmSync(hlsRoot, { recursive: true, force: true }));

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
    HLS_DIR: fs.mkdtempSync(path.join(hlsRoot, 'server-')),
    HLS_RETAIN_SECONDS: '2',
    // Encoder ingest listens on fixed ports by default; tests that use it pick free ones.
    RTMP_PORT: '0',
    SRT_PORT: '0',
    ...env,
  });
  return FloodlightServer.create(config, { logger: createLogger(config.logLevel) });
}
