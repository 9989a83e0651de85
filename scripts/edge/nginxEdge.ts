/**
 * A private nginx running the HLS edge configuration in front of Floodlight
 * origins: its own temp directory (config, pid, logs, cache), `nginx -t`
 * before it starts, started in the foreground as a child of this process
 * (`daemon off`; a tracked process, so it never outlives us), ready once its
 * port answers. `close()` stops it and removes the directory.
 *
 *   const edge = await NginxEdge.start({ origins: ['http://127.0.0.1:3000'], port: 8080 });
 *   edge.url                      // http://127.0.0.1:8080
 *   edge.accessLog()              // parsed access log (accessLog.ts)
 *   await edge.close();
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, type TrackedProcess } from '../../test/helpers/processes.js';
import { parseEdgeLog, type EdgeLogEntry } from './accessLog.js';
import { logText, startedUp } from './edgeProcess.js';
import { renderEdgeConfig, type EdgeConfigOptions } from './edgeConfig.js';

const run = promisify(execFile);

export const NGINX_PATH = process.env['NGINX_PATH'] ?? '/usr/sbin/nginx';

export interface NginxEdgeOptions extends Omit<EdgeConfigOptions, 'runtimeDir' | 'port'> {
  /** Default: a free port chosen now. */
  port?: number;
  /** How long to wait for the port to answer. Default 10 s. */
  startTimeoutMs?: number;
}

/**
 * Binds host:port (0: any free port) for a moment and releases it; resolves
 * with the port, rejects (EADDRINUSE) when something listens there.
 */
function bindBriefly(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}

/** A TCP port nobody listens on right now. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return bindBriefly(host, 0);
}

/**
 * The edge listens with `reuseport`, so nginx binds beside another nginx
 * edge left on the same port (the kernel would share the players between
 * them) and the port answers at once: check first that nothing listens there.
 * (A socket without SO_REUSEPORT, like this one, cannot bind beside it.)
 */
async function chosenPort(host: string, port: number): Promise<number> {
  return bindBriefly(host, port).catch((error: unknown) => {
    throw new Error(`port ${port} on ${host} is taken (${(error as NodeJS.ErrnoException).code ?? String(error)}): another edge still running?`);
  });
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.setTimeout(500, () => done(false));
  });
}

export class NginxEdge {
  readonly url: string;
  readonly dir: string;
  readonly configPath: string;
  readonly accessLogPath: string;
  readonly #process: TrackedProcess;
  #closing: Promise<void> | undefined;

  private constructor(url: string, dir: string, configPath: string, process: TrackedProcess) {
    this.url = url;
    this.dir = dir;
    this.configPath = configPath;
    this.accessLogPath = path.join(dir, 'access.log');
    this.#process = process;
  }

  static async start(options: NginxEdgeOptions): Promise<NginxEdge> {
    if (!fs.existsSync(NGINX_PATH)) throw new Error(`nginx not found at ${NGINX_PATH}; run "bash scripts/setup --test" (Debian package nginx)`);
    const host = options.host ?? '127.0.0.1';
    const port = options.port === undefined ? await freePort(host) : await chosenPort(host, options.port);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-edge-'));
    try {
      // Started as root, nginx's workers run as `nobody`: they must be able to
      // reach the cache and temp folders (which the master creates and hands to them).
      fs.chmodSync(dir, 0o755);
      const config = renderEdgeConfig({ ...options, host, port, runtimeDir: dir });
      const configPath = path.join(dir, 'nginx.conf');
      fs.writeFileSync(configPath, config);
      // -p: nginx's prefix is our directory, so nothing is read or written elsewhere.
      const base = ['-p', dir, '-c', configPath, '-e', path.join(dir, 'error.log')];
      await run(NGINX_PATH, [...base, '-t', '-q']).catch((error: unknown) => {
        const stderr = (error as { stderr?: string }).stderr ?? String(error);
        throw new Error(`nginx -t rejected the edge configuration: ${stderr.trim()}`);
      });
      const child = spawnTracked(NGINX_PATH, [...base, '-g', 'daemon off;'], { name: 'nginx-edge' });
      const edge = new NginxEdge(`http://${host}:${port}`, dir, configPath, child);
      const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
      await startedUp(child, deadline, `listen on ${host}:${port}`, () => connects(host, port), {
        intervalMs: 50,
        detail: () => edge.errorLogText(),
      }).catch(async (error: unknown) => {
        await edge.close();
        throw error;
      });
      return edge;
    } catch (error) {
      fs.rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  get running(): boolean {
    return this.#process.running;
  }

  /** Raw access log text so far (nginx writes each line as the response ends). */
  accessLogText(): string {
    return logText(this.accessLogPath);
  }

  accessLog(): EdgeLogEntry[] {
    return parseEdgeLog(this.accessLogText());
  }

  errorLogText(): string {
    return logText(path.join(this.dir, 'error.log'));
  }

  /** Stops nginx (SIGQUIT lets it finish responses; SIGKILL after 5 s) and removes its directory. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#process.stop({ signal: 'SIGQUIT', timeoutMs: 5_000 });
      fs.rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#closing;
  }
}
