/**
 * The edge's Varnish configuration: deploy/varnish/floodlight-edge.vcl with
 * its @@…@@ fields filled in (one backend per origin, the sticky director for
 * pages, the origin choice with failover). Bad input (an origin that is not
 * http://host:port) throws before anything is written; origins are parsed by
 * the nginx edge's `originAddress`, so both edges accept the same lists.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { originAddress } from './edgeConfig.js';

export const VARNISH_TEMPLATE_PATH = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../deploy/varnish/floodlight-edge.vcl');

/** Origins one request may try, like nginx's proxy_next_upstream_tries 3. */
const MAX_TRIES = 3;

export interface VarnishConfigOptions {
  /** Origins as http://host:port (no path), tried in this order of preference. */
  origins: readonly string[];
  /** Origins asked only while every one of `origins` is down or has failed this request. */
  backupOrigins?: readonly string[];
}

export interface VarnishConfig {
  vcl: string;
  /** For `-p max_retries` (Varnish's own cap on return (retry)). */
  maxRetries: number;
  /** host:port of every origin, in the order the VCL names them origin_0, origin_1, … (and origin_N_unprobed) */
  addresses: string[];
}

function splitAddress(address: string): { host: string; port: string } {
  const colon = address.lastIndexOf(':');
  // new URL() keeps IPv6 hosts in brackets; a Varnish .host wants them bare.
  return { host: address.slice(0, colon).replace(/^\[(.*)\]$/, '$1'), port: address.slice(colon + 1) };
}

export function renderVarnishConfig(options: VarnishConfigOptions): VarnishConfig {
  if (options.origins.length === 0) throw new Error('at least one origin is needed');
  const primaries = [...new Set(options.origins.map(originAddress))];
  const backups = [...new Set((options.backupOrigins ?? []).map(originAddress))].filter((address) => !primaries.includes(address));
  const addresses = [...primaries, ...backups];
  const name = (index: number): string => `origin_${index}`;
  const unprobed = (index: number): string => `origin_${index}_unprobed`;

  // Each origin twice: probed (chosen while healthy) and unprobed (tried when no
  // healthy untried origin is left: Varnish never connects to a backend its
  // probe calls sick, and a probe that times out on a busy origin must not
  // turn into 503s; nginx, likewise, never refuses to try its last server).
  const backend = (address: string, index: number, probed: boolean): string => {
    const { host, port } = splitAddress(address);
    return [
      `backend ${probed ? name(index) : unprobed(index)} {`,
      `    .host = "${host}";`,
      `    .port = "${port}";`,
      ...(probed ? ['    .probe = floodlight_origin_health;'] : []),
      '    .connect_timeout = 1s;',
      '    .first_byte_timeout = 20s;',
      '    .between_bytes_timeout = 20s;',
      '}',
    ].join('\n');
  };
  const backends = addresses.flatMap((address, index) => [backend(address, index, true), backend(address, index, false)]).join('\n');
  const appBackends = addresses.map((_, index) => `    floodlight_app.add_backend(${name(index)}, 1.0);`).join('\n');

  // Preference: healthy primaries, healthy backups, then the others in the
  // same order (unprobed); never one this request tried.
  const order = [...primaries.map((a) => ({ address: a, healthy: true })), ...backups.map((a) => ({ address: a, healthy: true }))];
  const candidates = [...order, ...order.map((o) => ({ ...o, healthy: false }))];
  const choose = candidates
    .map(({ address, healthy }, i) => {
      const index = addresses.indexOf(address);
      // Varnish trims the header's leading space: match at the start too.
      const untried = `bereq.http.X-Floodlight-Tried !~ "(^| )${address.replace(/[.[\]]/g, '\\$&')}( |$)"`;
      const condition = healthy ? `${untried} && std.healthy(${name(index)})` : untried;
      return [
        `    ${i === 0 ? 'if' : '} elsif'} (${condition}) {`,
        `        set bereq.backend = ${healthy ? name(index) : unprobed(index)};`,
        `        set bereq.http.X-Floodlight-Tried = bereq.http.X-Floodlight-Tried + " ${address}";`,
      ].join('\n');
    })
    .join('\n');
  const chooseOrigin = `${choose}\n    }`;

  const maxTries = Math.min(addresses.length, MAX_TRIES);
  const fields: Record<string, string> = {
    ORIGIN_BACKENDS: backends,
    APP_BACKENDS: appBackends,
    CHOOSE_ORIGIN: chooseOrigin,
    MAX_TRIES: String(maxTries),
  };
  const template = fs.readFileSync(VARNISH_TEMPLATE_PATH, 'utf8');
  const vcl = template.replace(/@@([A-Z_]+)@@/g, (whole, field: string) => {
    const value = fields[field];
    if (value === undefined) throw new Error(`template field ${whole} has no value`);
    return value;
  });
  return { vcl, maxRetries: Math.max(1, maxTries - 1), addresses };
}
