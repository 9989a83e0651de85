/**
 * A private Varnish running the HLS edge configuration
 * (deploy/varnish/floodlight-edge.vcl) in front of Floodlight origins, the
 * same shape as NginxEdge: its own temp directory (VCL, Varnish's working
 * directory, access log), `varnishd -C` before it starts (a bad VCL is a
 * clear error), varnishd in the foreground as a tracked child (`-F`, never
 * outlives us), `varnishncsa` writing the access log of client requests and
 * origin fetches, ready once the edge answers and the log shows it.
 * `close()` stops both and removes the directory.
 *
 *   const edge = await VarnishEdge.start({ origins: ['http://127.0.0.1:3000'], port: 8080 });
 *   edge.url                      // http://127.0.0.1:8080
 *   await edge.accessLog()        // parsed access log (accessLog.ts entries), complete up to now
 *   await edge.close();
 *
 * varnishd runs without privilege separation (`-j none`): as root in a test
 * machine or container that is the simple choice; everything it writes is in
 * its own directory.
 */
import { randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { spawnTracked, type TrackedProcess } from '../../test/helpers/processes.js';
import { waitFor } from '../../test/helpers/wait.js';
import type { EdgeLogEntry } from './accessLog.js';
import { startedUp, logText } from './edgeProcess.js';
import { freePort } from './nginxEdge.js';
import { renderVarnishConfig, type VarnishConfigOptions } from './varnishConfig.js';
import { LOG_MARK_PATH, VARNISH_LOG_FORMAT, parseVarnishLog } from './varnishLog.js';

const run = promisify(execFile);

export const VARNISHD_PATH = process.env['VARNISHD_PATH'] ?? '/usr/sbin/varnishd';
export const VARNISHNCSA_PATH = process.env['VARNISHNCSA_PATH'] ?? '/usr/bin/varnishncsa';

export interface VarnishEdgeOptions extends VarnishConfigOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default: a free port chosen now. */
  port?: number;
  /** Cache memory (`-s malloc,<size>`). Default '256m'. */
  cacheSize?: string;
  /** How long to wait for the edge and its log to answer. Default 15 s. */
  startTimeoutMs?: number;
}

export class VarnishEdge {
  readonly url: string;
  readonly dir: string;
  readonly configPath: string;
  readonly accessLogPath: string;
  readonly #originNames: readonly string[];
  readonly #processes: TrackedProcess[] = [];
  #closing: Promise<void> | undefined;

  private constructor(url: string, dir: string, configPath: string, originNames: readonly string[]) {
    this.url = url;
    this.dir = dir;
    this.configPath = configPath;
    this.accessLogPath = path.join(dir, 'access.log');
    this.#originNames = originNames;
  }

  static async start(options: VarnishEdgeOptions): Promise<VarnishEdge> {
    for (const binary of [VARNISHD_PATH, VARNISHNCSA_PATH]) {
      if (!fs.existsSync(binary)) throw new Error(`${binary} not found; run "bash scripts/setup --test" (Debian package varnish)`);
    }
    const cacheSize = options.cacheSize ?? '256m';
    if (!/^\d+[kmg]?$/.test(cacheSize)) throw new Error(`cache size ${cacheSize} is not a Varnish size (e.g. 256m)`);
    const config = renderVarnishConfig(options);
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? (await freePort(host));
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port ${port} is not a TCP port`);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-varnish-edge-'));
    const configPath = path.join(dir, 'floodlight-edge.vcl');
    const workDir = path.join(dir, 'varnish');
    const edge = new VarnishEdge(`http://${host}:${port}`, dir, configPath, config.addresses);
    try {
      // Readable by the unprivileged users Varnish's tools may switch to (as nginx's workers).
      fs.chmodSync(dir, 0o755);
      fs.writeFileSync(configPath, config.vcl);
      // -C compiles the VCL and exits: a bad configuration fails here, with the compiler's words.
      await run(VARNISHD_PATH, ['-C', '-j', 'none', '-f', configPath, '-n', workDir], { maxBuffer: 64 * 1024 * 1024 }).catch((error: unknown) => {
        const stderr = (error as { stderr?: string }).stderr ?? String(error);
        throw new Error(`varnishd -C rejected the edge configuration: ${stderr.trim()}`);
      });
      const varnishd = spawnTracked(
        VARNISHD_PATH,
        [
          '-F',
          '-j',
          'none',
          '-n',
          workDir,
          '-a',
          `${host}:${port}`,
          '-f',
          configPath,
          '-s',
          `malloc,${cacheSize}`,
          // No management port: nothing to secure, and nothing here uses varnishadm.
          '-T',
          'none',
          '-p',
          `max_retries=${config.maxRetries}`,
          // Players' idle keep-alive connections stay open as long as nginx keeps them (65 s).
          '-p',
          'timeout_idle=65',
        ],
        { name: 'varnishd-edge' },
      );
      edge.#processes.push(varnishd);
      const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
      await startedUp(varnishd, deadline, `answer on ${host}:${port}`, async () => (await edge.#mark()) !== undefined);
      // The log reader starts once varnishd's shared memory log exists; it
      // logs from now on, so the edge is ready once a mark shows in its file.
      const ncsa = spawnTracked(VARNISHNCSA_PATH, ['-n', workDir, '-c', '-b', '-F', VARNISH_LOG_FORMAT, '-w', edge.accessLogPath], {
        name: 'varnishncsa-edge',
      });
      edge.#processes.push(ncsa);
      // A new mark each time: the reader may miss one sent before it attached.
      await startedUp(ncsa, deadline, 'log the edge', async () => {
        const mark = await edge.#mark();
        return mark !== undefined && edge.accessLogText().includes(mark);
      });
      return edge;
    } catch (error) {
      await edge.close();
      throw error;
    }
  }

  get running(): boolean {
    return this.#processes.length > 0 && this.#processes.every((p) => p.running);
  }

  /** Asks the edge for a log mark (answered by the VCL itself); its id, or undefined if the edge did not answer. */
  async #mark(): Promise<string | undefined> {
    const id = randomUUID();
    try {
      const response = await fetch(`${this.url}${LOG_MARK_PATH}${id}`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return response.status === 204 ? id : undefined;
    } catch {
      return undefined;
    }
  }

  /** Raw access log text so far (varnishncsa writes a transaction's line once it ended). */
  accessLogText(): string {
    return logText(this.accessLogPath);
  }

  /**
   * The access log up to now, parsed (accessLog.ts entries). varnishncsa reads
   * Varnish's shared memory log behind the requests: this asks for a mark and
   * waits until its line is written, after every request that ended before it.
   */
  async accessLog(): Promise<EdgeLogEntry[]> {
    const mark = await this.#mark();
    if (mark === undefined) throw new Error('the Varnish edge does not answer');
    await waitFor(() => this.accessLogText().includes(mark), {
      description: 'varnishncsa to write the log up to now',
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    return parseVarnishLog(this.accessLogText(), this.#originNames);
  }

  /** Stops varnishncsa and varnishd (SIGKILL after 5 s) and removes the directory. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const child of [...this.#processes].reverse()) await child.stop({ signal: 'SIGTERM', timeoutMs: 5_000 });
      fs.rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.#closing;
  }
}
