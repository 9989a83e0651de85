/**
 * `npm run cluster -- [N]` (through scripts/cluster/run, which sets
 * MEDIASOUP_WORKER_BIN and builds the client): a private redis-server and N
 * Floodlight nodes (server/main.ts through tsx, so no build can be stale) on
 * distinct loopback addresses,
 * their links printed; SIGINT or SIGTERM stops every child (nodes first,
 * then Redis, SIGKILL after 10 s) and removes the temp dir. A child that
 * dies on its own stops the rest (exit 1).
 *
 * Prints `pids: …` and `state dir: …` so a test can check nothing is left.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { TokenService } from '../../server/auth/tokens.js';

const MAX_NODES = 9;
const STOP_GRACE_MS = 10_000;
const START_TIMEOUT_MS = 60_000;

interface Child {
  name: string;
  process: ChildProcess;
  exited: Promise<void>;
}

function fail(message: string): never {
  process.stderr.write(`floodlight cluster: ${message}\n`);
  process.exit(2);
}

const count = process.argv[2] === undefined ? 3 : Number(process.argv[2]);
if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) fail(`the node count must be 1-${MAX_NODES} (got "${process.argv[2]}")`);

/** A port nobody listens on at `host` right now. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-cluster-'));
const children: Child[] = [];
let stopping: Promise<void> | undefined;

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv, ready: RegExp, onLine?: (line: string) => void): Promise<Child> {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const entry: Child = { name, process: child, exited };
  children.push(entry);
  child.once('exit', (code, signal) => {
    if (stopping) return;
    process.stderr.write(`${name} exited (${signal ?? `code ${code}`}); stopping the cluster\n`);
    void stopAll(1);
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within ${START_TIMEOUT_MS / 1000} s`)), START_TIMEOUT_MS);
    const watch = (stream: NodeJS.ReadableStream, isError: boolean): void => {
      readline.createInterface({ input: stream }).on('line', (line) => {
        onLine?.(line);
        if (isError || process.env['CLUSTER_VERBOSE']) process.stderr.write(`[${name}] ${line}\n`);
        if (ready.test(line)) {
          clearTimeout(timer);
          resolve(entry);
        }
      });
    };
    watch(child.stdout, false);
    watch(child.stderr, true);
    child.once('exit', () => {
      clearTimeout(timer);
      reject(new Error(`${name} exited while starting`));
    });
  });
}

/** Nodes first (SIGINT: no drain, there is no other node to drain to), then Redis; SIGKILL after the grace. */
function stopAll(exitCode: number): Promise<void> {
  stopping ??= (async () => {
    const stop = async (group: Child[], signal: NodeJS.Signals): Promise<void> => {
      for (const child of group) if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill(signal);
      const all = Promise.all(group.map((child) => child.exited));
      const timer = setTimeout(() => group.forEach((child) => child.process.kill('SIGKILL')), STOP_GRACE_MS);
      await all;
      clearTimeout(timer);
    };
    await stop(
      children.filter((child) => child.name !== 'redis'),
      'SIGINT',
    );
    await stop(
      children.filter((child) => child.name === 'redis'),
      'SIGTERM',
    );
    fs.rmSync(stateDir, { recursive: true, force: true });
    process.stdout.write('cluster stopped\n');
    process.exit(exitCode);
  })();
  return stopping;
}

process.on('SIGINT', () => void stopAll(0));
process.on('SIGTERM', () => void stopAll(0));

async function main(): Promise<void> {
  const redisPort = await freePort('127.0.0.1');
  await start(
    'redis',
    'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', stateDir],
    process.env,
    /Ready to accept connections/,
  );
  const redisUrl = `redis://127.0.0.1:${redisPort}`;
  const authSecret = randomBytes(32).toString('base64url');
  const nodes = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const host = `127.0.0.${index + 2}`;
      const port = await freePort(host);
      const rtcMin = 42000 + index * 500;
      const links: string[] = [];
      const env = {
        ...process.env,
        NODE_ID: `node-${index + 1}`,
        HOST: host,
        PORT: String(port),
        LISTEN_IP: host,
        ANNOUNCED_IP: host,
        // Printed links and the registry name the node's own address.
        PUBLIC_URL: `http://${host}:${port}`,
        RTC_MIN_PORT: String(rtcMin),
        RTC_MAX_PORT: String(rtcMin + 499),
        REDIS_URL: redisUrl,
        AUTH_SECRET: authSecret,
        NUM_WORKERS: process.env['CLUSTER_WORKERS'] ?? '1',
        HLS_DIR: path.join(stateDir, `hls-${index + 1}`),
        LOG_LEVEL: process.env['LOG_LEVEL'] ?? 'warn',
        // Ctrl-C stops the whole cluster: no point draining to nodes that stop too.
        DRAIN_TIMEOUT_SECONDS: '5',
      };
      const child = await start(`node-${index + 1}`, process.execPath, ['--import', 'tsx', 'server/main.ts'], env, /Rooms:/, (line) => {
        if (/^\s+(Broadcast|Watch):/.test(line)) links.push(line.trim());
      });
      return { id: env.NODE_ID, url: `http://${host}:${port}`, links, pid: child.process.pid };
    }),
  );
  const admin = await new TokenService(authSecret).issue({ room: '*', role: 'admin' }, 24 * 3600);
  const lines = [
    '',
    `Floodlight cluster: ${count} node(s) on Redis ${redisUrl}`,
    ...nodes.flatMap((node) => [`${node.id}  ${node.url}`, ...node.links.map((link) => `  ${link}`), `  Dashboard: ${node.url}/dashboard?token=${admin}`]),
    `Where a viewer should go: curl ${nodes[0]!.url}/api/rooms/live/join?role=viewer`,
    `pids: ${children.map((child) => child.process.pid).join(' ')}`,
    `state dir: ${stateDir}`,
    'Ctrl-C stops everything.',
    '',
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`floodlight cluster: ${(error as Error).message}\n`);
  void stopAll(1);
});
