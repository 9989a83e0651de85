/**
 * npm run edge -- --origin http://127.0.0.1:3000 [--origin http://127.0.0.1:3001 …]
 *                 [--backup-origin http://…] [--port 8080] [--host 127.0.0.1] [--workers 1|auto]
 *                 [--proxy nginx|varnish]
 * npm run edge -- --cluster http://A:3000 [--token ADMIN_JWT] …
 *
 * --cluster asks any node's /api/cluster (admin: --token, or AUTH_SECRET in
 * the environment) for the nodes recording HLS (`hls` role; every node if
 * none has it) and uses their public URLs as origins. --backup-origin: asked
 * only while every --origin is down (nginx `backup`).
 *
 * Starts a private nginx HLS edge (deploy/nginx/floodlight-edge.conf.template)
 * in front of running Floodlight node(s): temp directory, generated config,
 * `nginx -t`, then nginx in the foreground. `--proxy varnish`: the same with
 * Varnish (deploy/varnish/floodlight-edge.vcl, `varnishd -C`, varnishd and
 * varnishncsa in the foreground; --workers does not apply). Prints the edge
 * URL and, for each live room the first origin lists, its master playlist and
 * watch page through the edge. Ctrl-C stops the proxy and removes the temp
 * directory.
 */
import { parseArgs } from 'node:util';
import type { RoomsResponse } from '../../server/contracts/adminApi.js';
import { TokenService } from '../../server/auth/tokens.js';
import { clusterOrigins } from './clusterOrigins.js';
import { NginxEdge } from './nginxEdge.js';
import { VarnishEdge } from './varnishEdge.js';

function usage(message: string): never {
  process.stderr.write(
    `edge: ${message}\nusage: npm run edge -- (--origin http://127.0.0.1:3000 [--origin …] [--backup-origin …] | --cluster http://node:3000 [--token ADMIN_JWT])\n` +
      `                        [--port 8080] [--host 127.0.0.1] [--workers 1|auto] [--proxy nginx|varnish]\n`,
  );
  process.exit(2);
}

let values: {
  origin?: string[];
  'backup-origin'?: string[];
  cluster?: string;
  token?: string;
  port?: string;
  host?: string;
  workers?: string;
  proxy?: string;
};
try {
  ({ values } = parseArgs({
    options: {
      origin: { type: 'string', multiple: true },
      'backup-origin': { type: 'string', multiple: true },
      cluster: { type: 'string' },
      token: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      workers: { type: 'string' },
      proxy: { type: 'string' },
    },
  }));
} catch (error) {
  usage((error as Error).message);
}
let origins = values.origin ?? [];
const backupOrigins = values['backup-origin'] ?? [];
if (values.cluster !== undefined) {
  if (origins.length > 0) usage('give --cluster or --origin, not both');
  let token = values.token;
  const secret = process.env['AUTH_SECRET'];
  if (!token && secret && secret.length >= 16) token = await new TokenService(secret).issue({ room: '*', role: 'admin' }, 300);
  if (!token) usage('--cluster needs --token ADMIN_JWT or AUTH_SECRET (the server secret) in the environment');
  try {
    origins = await clusterOrigins(values.cluster, token);
  } catch (error) {
    process.stderr.write(`edge: --cluster: ${(error as Error).message}\n`);
    process.exit(1);
  }
  if (origins.length === 0) usage(`${values.cluster} lists no nodes`);
}
if (origins.length === 0) usage('at least one --origin (or --cluster) is required');
const port = values.port === undefined ? 8080 : Number(values.port);
if (!Number.isInteger(port) || port < 1 || port > 65535) usage(`--port ${values.port} is not a TCP port`);
const workers = values.workers === undefined ? 1 : values.workers === 'auto' ? 'auto' : Number(values.workers);
if (workers !== 'auto' && (!Number.isInteger(workers) || workers < 1)) usage('--workers must be a positive integer or auto');
const proxy = values.proxy ?? 'nginx';
if (proxy !== 'nginx' && proxy !== 'varnish') usage(`--proxy ${proxy}: nginx or varnish`);
if (proxy === 'varnish' && values.workers !== undefined) usage('--workers is an nginx setting (Varnish sizes its thread pools itself)');

let edge: NginxEdge | VarnishEdge | undefined;
let stopping = false;
// Installed before the proxy starts: Ctrl-C while it starts lets start() fail
// and remove its directory (the proxy got the same SIGINT from the terminal)
// instead of killing this process with the directory left behind.
const stop = (signal: string): void => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`\nedge: ${signal}: stopping ${proxy}\n`);
  if (edge) void edge.close().finally(() => process.exit(0));
};
// `on`, not `once`: a terminal's Ctrl-C reaches this process twice (from the
// terminal and relayed by tsx), and a second default SIGINT would kill it mid-close.
process.on('SIGINT', () => stop('interrupted'));
process.on('SIGTERM', () => stop('terminated'));

try {
  const host = values.host ?? '127.0.0.1';
  edge =
    proxy === 'varnish'
      ? await VarnishEdge.start({ origins, backupOrigins, port, host })
      : await NginxEdge.start({ origins, backupOrigins, port, host, workerProcesses: workers });
} catch (error) {
  if (stopping) process.exit(0);
  process.stderr.write(`edge: ${(error as Error).message}\n`);
  process.exit(1);
}
if (stopping) {
  await edge.close();
  process.exit(0);
}

process.stdout.write(`HLS edge at ${edge.url} → ${origins.join(', ')}${backupOrigins.length ? ` (backup ${backupOrigins.join(', ')})` : ''} (${proxy})\n`);
const logFields = proxy === 'varnish' ? 'varnishncsa: client and origin requests' : 'cache=HIT/MISS, upstream=origin tried';
process.stdout.write(`  config ${edge.configPath}\n  access log ${edge.accessLogPath} (${logFields})\n`);
try {
  const response = await fetch(new URL('/api/rooms', origins[0]), { signal: AbortSignal.timeout(3000) });
  const { rooms } = (await response.json()) as RoomsResponse;
  const live = rooms.filter((r) => r.live);
  if (live.length === 0) process.stdout.write(`  no live room yet; a room R plays at ${edge.url}/hls/R/index.m3u8\n`);
  for (const room of live) {
    process.stdout.write(`  ${room.id}: ${edge.url}/hls/${room.id}/index.m3u8   watch: ${edge.url}/watch?room=${room.id}&transport=hls\n`);
  }
} catch {
  process.stdout.write(`  (could not list rooms at ${origins[0]}); a room R plays at ${edge.url}/hls/R/index.m3u8\n`);
}
process.stdout.write('Ctrl-C stops it.\n');
