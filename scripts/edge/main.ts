/**
 * npm run edge -- --origin http://127.0.0.1:3000 [--origin http://127.0.0.1:3001 …]
 *                 [--backup-origin http://…] [--port 8080] [--host 127.0.0.1] [--workers 1|auto]
 * npm run edge -- --cluster http://A:3000 [--token ADMIN_JWT] …
 *
 * --cluster asks any node's /api/cluster (admin: --token, or AUTH_SECRET in
 * the environment) for the nodes recording HLS (`hls` role; every node if
 * none has it) and uses their public URLs as origins. --backup-origin: asked
 * only while every --origin is down (nginx `backup`).
 *
 * Starts a private nginx HLS edge (deploy/nginx/floodlight-edge.conf.template)
 * in front of running Floodlight node(s): temp directory, generated config,
 * `nginx -t`, then nginx in the foreground. Prints the edge URL and, for
 * each live room the first origin lists, its master playlist and watch page
 * through the edge. Ctrl-C stops nginx and removes the temp directory.
 */
import { parseArgs } from 'node:util';
import type { RoomsResponse } from '../../server/contracts/adminApi.js';
import { TokenService } from '../../server/auth/tokens.js';
import { clusterOrigins } from './clusterOrigins.js';
import { NginxEdge } from './nginxEdge.js';

function usage(message: string): never {
  process.stderr.write(
    `edge: ${message}\nusage: npm run edge -- (--origin http://127.0.0.1:3000 [--origin …] [--backup-origin …] | --cluster http://node:3000 [--token ADMIN_JWT])\n` +
      `                        [--port 8080] [--host 127.0.0.1] [--workers 1|auto]\n`,
  );
  process.exit(2);
}

let values: { origin?: string[]; 'backup-origin'?: string[]; cluster?: string; token?: string; port?: string; host?: string; workers?: string };
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

let edge: NginxEdge;
try {
  edge = await NginxEdge.start({ origins, backupOrigins, port, host: values.host ?? '127.0.0.1', workerProcesses: workers });
} catch (error) {
  process.stderr.write(`edge: ${(error as Error).message}\n`);
  process.exit(1);
}

const stop = (signal: string): void => {
  process.stderr.write(`\nedge: ${signal}: stopping nginx\n`);
  void edge.close().finally(() => process.exit(0));
};
process.once('SIGINT', () => stop('interrupted'));
process.once('SIGTERM', () => stop('terminated'));

process.stdout.write(`HLS edge at ${edge.url} → ${origins.join(', ')}${backupOrigins.length ? ` (backup ${backupOrigins.join(', ')})` : ''}\n`);
process.stdout.write(`  config ${edge.configPath}\n  access log ${edge.accessLogPath} (cache=HIT/MISS, upstream=origin tried)\n`);
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
