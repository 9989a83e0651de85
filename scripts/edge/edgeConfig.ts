/**
 * The edge's nginx configuration: deploy/nginx/floodlight-edge.conf.template
 * with its @@…@@ fields filled in. Bad input (an origin that is not
 * http://host:port, a port out of range) throws before anything is written.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const EDGE_TEMPLATE_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/nginx/floodlight-edge.conf.template');

export interface EdgeConfigOptions {
  /** Origins as http://host:port (no path), tried in this order of preference. */
  origins: readonly string[];
  /**
   * Origins asked only while every one of `origins` is down (nginx `backup`):
   * for recorders whose streams are not interchangeable object by object.
   */
  backupOrigins?: readonly string[];
  /** Where nginx writes its pid, logs, cache and temp files. */
  runtimeDir: string;
  /** Default 127.0.0.1. */
  host?: string;
  port: number;
  /** Default 1: the edge shares the machine with the origins in tests. */
  workerProcesses?: number | 'auto';
  /** Default '512m'. */
  cacheMaxSize?: string;
}

/** host:port of an origin URL; throws a clear error for anything else. */
export function originAddress(origin: string): string {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    throw new Error(`origin ${JSON.stringify(origin)} is not a URL (expected http://host:port)`);
  }
  if (url.protocol !== 'http:') throw new Error(`origin ${origin}: only http:// origins are supported (the edge terminates TLS, not the origin)`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || url.username) {
    throw new Error(`origin ${origin}: give only scheme, host and port (no path, query or credentials)`);
  }
  const port = url.port || '80';
  return `${url.hostname}:${port}`;
}

export function renderEdgeConfig(options: EdgeConfigOptions): string {
  if (options.origins.length === 0) throw new Error('at least one origin is needed');
  if (!Number.isInteger(options.port) || options.port < 1 || options.port > 65535) throw new Error(`port ${options.port} is not a TCP port`);
  const workers = options.workerProcesses ?? 1;
  if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 1)) throw new Error(`worker processes must be a positive integer or auto`);
  const cacheMaxSize = options.cacheMaxSize ?? '512m';
  if (!/^\d+[kmg]?$/.test(cacheMaxSize)) throw new Error(`cache size ${cacheMaxSize} is not an nginx size (e.g. 512m)`);
  if (/[\s;{}'"]/.test(options.runtimeDir)) throw new Error(`runtime directory ${options.runtimeDir} must not contain spaces, quotes or ; { }`);
  const addresses = [...new Set(options.origins.map(originAddress))];
  const backups = [...new Set((options.backupOrigins ?? []).map(originAddress))].filter((address) => !addresses.includes(address));
  const line = (address: string, extra = ''): string => `        server ${address} max_fails=1 fail_timeout=5s${extra};`;
  const servers = [...addresses.map((a) => line(a)), ...backups.map((a) => line(a, ' backup'))].join('\n');
  // ip_hash (pages, socket.io) cannot have backup servers: every node is a peer there.
  const appServers = [...addresses, ...backups].map((a) => line(a)).join('\n');
  const fields: Record<string, string> = {
    RUNTIME_DIR: options.runtimeDir,
    LISTEN: `${options.host ?? '127.0.0.1'}:${options.port}`,
    ORIGIN_SERVERS: servers,
    APP_SERVERS: appServers,
    WORKER_PROCESSES: String(workers),
    CACHE_MAX_SIZE: cacheMaxSize,
  };
  const template = fs.readFileSync(EDGE_TEMPLATE_PATH, 'utf8');
  return template.replace(/@@([A-Z_]+)@@/g, (whole, name: string) => {
    const value = fields[name];
    if (value === undefined) throw new Error(`template field ${whole} has no value`);
    return value;
  });
}
