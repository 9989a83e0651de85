/**
 * Entry point: `npm start` (scripts/start) runs this, compiled to dist/server/main.js, after setup.
 * Startup problems end with one clear line and exit code 1, never a stack trace.
 */
import fs from 'node:fs';
import { ConfigError, loadConfig, type Config } from './config/config.js';
import { createLogger } from './observability/logger.js';

const DEFAULT_ROOM = 'live';

function die(message: string): never {
  process.stderr.write(`floodlight: ${message}\n`);
  process.exit(1);
}

function checkWorkerBinary(): void {
  const bin = process.env['MEDIASOUP_WORKER_BIN'];
  if (!bin) die('MEDIASOUP_WORKER_BIN is not set; start with "npm start", which builds and locates the mediasoup worker');
  try {
    fs.accessSync(bin, fs.constants.X_OK);
  } catch {
    die(`mediasoup worker binary missing or not executable at ${bin}; run "npm run setup" to build it`);
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) die(`invalid setting ${error.message}`);
    throw error;
  }
  checkWorkerBinary();
  const log = createLogger(config.logLevel);
  // Imported after the checks: mediasoup resolves its worker binary on load.
  const { FloodlightServer, PortInUseError } = await import('./app.js');
  const { WorkerStartError } = await import('./media/workerPool.js');
  const { HlsDirUnsafeError } = await import('./hls/hlsDirSafety.js');
  const { RedisConnectError } = await import('./cluster/redis/redisConnection.js');
  const { NodeIdTakenError } = await import('./cluster/nodeRegistry.js');

  // Signals are handled from the start: a SIGTERM during startup (or right
  // after the banner) must still shut down cleanly with exit code 0.
  let server: Awaited<ReturnType<typeof FloodlightServer.create>> | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    log.info({ signal }, 'stopping');
    if (!server) return; // startup notices `stopping` and closes what it made
    const running = server;
    // In a cluster, SIGTERM is the graceful way out: clients move to other nodes first.
    const drained =
      signal === 'SIGTERM' && running.cluster.mode === 'redis'
        ? running.drain('SIGTERM', config.drainTimeoutMs).then((outcome) => log.info({ outcome }, 'drain over'))
        : Promise.resolve();
    drained
      .then(() => running.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // A 24/7 server logs stray promise rejections instead of dying on them.
  process.on('unhandledRejection', (reason) => log.error({ err: reason }, 'unhandled promise rejection'));

  try {
    server = await FloodlightServer.create(config, { logger: log });
  } catch (error) {
    if (
      error instanceof PortInUseError ||
      error instanceof WorkerStartError ||
      error instanceof HlsDirUnsafeError ||
      error instanceof RedisConnectError ||
      error instanceof NodeIdTakenError
    ) {
      die(error.message);
    }
    throw error;
  }
  if (stopping) {
    await server.close();
    process.exit(0);
  }

  const local = config.publicUrl ?? `http://localhost:${server.port}`;
  const lan = `http://${config.announcedIp}:${server.port}`;
  const publisherToken = await server.tokens.issue({ room: DEFAULT_ROOM, role: 'publisher' }, 24 * 3600);
  const lines = [
    '',
    `Floodlight is live on port ${server.port} with ${server.pool.size} media worker(s).`,
    `  Broadcast: ${local}/broadcast?room=${DEFAULT_ROOM}&token=${publisherToken}`,
    `  Watch:     ${local}/watch?room=${DEFAULT_ROOM}${config.publicUrl ? '' : `   (other machines: ${lan}/watch?room=${DEFAULT_ROOM})`}`,
    `  Rooms:     ${local}/`,
    server.authSecretGenerated
      ? '  AUTH_SECRET is not set: tokens above are valid until this process exits. Set AUTH_SECRET and use "npm run token" for lasting ones.'
      : '  Tokens for other rooms: npm run token -- --room NAME --role publisher',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`floodlight: failed to start: ${(error as Error)?.message ?? String(error)}\n`);
  process.exit(1);
});
