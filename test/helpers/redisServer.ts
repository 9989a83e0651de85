/**
 * Private Redis servers for tests: Debian's redis-server on a free loopback
 * port, nothing persisted (`--save '' --appendonly no`), killed with the test
 * (tracked processes). Also a Sentinel group (a primary, a replica, one
 * redis-sentinel) for failover tests.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { spawnTracked, type TrackedProcess } from './processes.js';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const READY = /Ready to accept connections|Sentinel ID is/;

export class RedisServer {
  #process: TrackedProcess | undefined;

  private constructor(
    readonly port: number,
    readonly extraArgs: string[],
  ) {}

  /** A running server; `password` starts it with --requirepass. */
  static async start(options: { password?: string; args?: string[] } = {}): Promise<RedisServer> {
    const args = [...(options.password ? ['--requirepass', options.password] : []), ...(options.args ?? [])];
    const server = new RedisServer(await freePort(), args);
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#process?.running ?? false;
  }

  /** (Re)starts it on the same port, empty (nothing is persisted). */
  async restart(): Promise<void> {
    if (this.running) await this.stop();
    // Replication still writes an RDB file (the full sync): keep it out of the work tree.
    const files = ['--dir', os.tmpdir(), '--dbfilename', `floodlight-test-${this.port}.rdb`];
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...files, ...this.extraArgs];
    this.#process = spawnTracked('redis-server', args, { name: `redis-${this.port}` });
    await this.#process.waitForLine(READY, 10_000);
  }

  /** SIGKILL: a crash, not a shutdown. */
  async kill(): Promise<void> {
    await this.#process?.stop({ signal: 'SIGKILL' });
  }

  async stop(): Promise<void> {
    await this.#process?.stop();
  }
}

/** A primary, a replica of it and one sentinel (quorum 1) that watches them, all on loopback. */
export class SentinelGroup {
  readonly name = 'floodlight-test';

  private constructor(
    readonly primary: RedisServer,
    readonly replica: RedisServer,
    readonly sentinelPort: number,
    readonly sentinel: TrackedProcess,
    readonly dir: string,
  ) {}

  static async start(): Promise<SentinelGroup> {
    const primary = await RedisServer.start();
    const replica = await RedisServer.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'floodlight-sentinel-'));
    const sentinelPort = await freePort();
    const name = 'floodlight-test';
    // Sentinel rewrites its config file: it must be a private, writable one.
    const config = path.join(dir, 'sentinel.conf');
    await writeFile(
      config,
      [
        `port ${sentinelPort}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${name} 127.0.0.1 ${primary.port} 1`,
        `sentinel down-after-milliseconds ${name} 1000`,
        `sentinel failover-timeout ${name} 5000`,
        `sentinel parallel-syncs ${name} 1`,
        '',
      ].join('\n'),
    );
    const sentinel = spawnTracked('redis-sentinel', [config], { name: `sentinel-${sentinelPort}` });
    await sentinel.waitForLine(/\+monitor master/, 10_000);
    return new SentinelGroup(primary, replica, sentinelPort, sentinel, dir);
  }

  async stop(): Promise<void> {
    await this.sentinel.stop();
    await Promise.all([this.primary.stop(), this.replica.stop()]);
    await rm(this.dir, { recursive: true, force: true });
  }
}
