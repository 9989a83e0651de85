/**
 * The Varnish edge's VCL as rendered from deploy/varnish/floodlight-edge.vcl:
 * one probed and one unprobed backend per origin, origins tried in order of
 * preference (primaries, then backups, healthy first), at most 3 tries, and
 * every rendering accepted by the real `varnishd -C` (Debian's varnish,
 * installed by `scripts/setup --test`). Bad origin lists throw before anything
 * is written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderVarnishConfig } from '../../scripts/edge/varnishConfig.js';
import { VARNISHD_PATH } from '../../scripts/edge/varnishEdge.js';

const run = promisify(execFile);

/** Compiles the VCL with the real varnishd (-C: compile and exit); throws with the compiler's words. */
async function compiles(vcl: string): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-vcl-test-'));
  try {
    fs.writeFileSync(path.join(dir, 'edge.vcl'), vcl);
    await run(VARNISHD_PATH, ['-C', '-j', 'none', '-f', path.join(dir, 'edge.vcl'), '-n', path.join(dir, 'work')], { maxBuffer: 64 * 1024 * 1024 });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The backends `floodlight_choose_origin` sets, in the order it tries them. */
const choiceOrder = (vcl: string): string[] => [...vcl.matchAll(/set bereq\.backend = (\w+);/g)].map((m) => m[1]!);

test('one origin: a probed and an unprobed backend, one try, and varnishd compiles it', async () => {
  const config = renderVarnishConfig({ origins: ['http://127.0.0.1:3000'] });
  assert.deepEqual(config.addresses, ['127.0.0.1:3000']);
  assert.equal(config.maxRetries, 1);
  assert.match(config.vcl, /backend origin_0 \{\n {4}\.host = "127\.0\.0\.1";\n {4}\.port = "3000";\n {4}\.probe = floodlight_origin_health;/);
  assert.match(config.vcl, /backend origin_0_unprobed \{\n {4}\.host = "127\.0\.0\.1";\n {4}\.port = "3000";\n {4}\.connect_timeout/);
  assert.deepEqual(choiceOrder(config.vcl), ['origin_0', 'origin_0_unprobed']);
  assert.doesNotMatch(config.vcl, /@@/, 'every template field is filled');
  await compiles(config.vcl);
});

test('several origins and a backup: healthy primaries, the healthy backup, then all of them unprobed; at most 3 tries', async () => {
  const config = renderVarnishConfig({
    origins: ['http://127.0.0.2:3000', 'http://127.0.0.3:3000', 'http://127.0.0.2:3000', 'http://127.0.0.4:3000'],
    backupOrigins: ['http://127.0.0.9:3000', 'http://127.0.0.3:3000'],
  });
  assert.deepEqual(
    config.addresses,
    ['127.0.0.2:3000', '127.0.0.3:3000', '127.0.0.4:3000', '127.0.0.9:3000'],
    'duplicates dropped, a backup that is a primary too stays a primary',
  );
  assert.equal(config.maxRetries, 2, 'three tries: the first and two retries');
  assert.deepEqual(choiceOrder(config.vcl), [
    'origin_0',
    'origin_1',
    'origin_2',
    'origin_3',
    'origin_0_unprobed',
    'origin_1_unprobed',
    'origin_2_unprobed',
    'origin_3_unprobed',
  ]);
  // A retry skips what this request tried: the address is matched as a word of X-Floodlight-Tried, dots escaped.
  assert.match(config.vcl, /bereq\.http\.X-Floodlight-Tried !~ "\(\^\| \)127\\\.0\\\.0\\\.3:3000\( \|\$\)" && std\.healthy\(origin_1\)/);
  assert.equal((config.vcl.match(/floodlight_app\.add_backend\(origin_\d, 1\.0\);/g) ?? []).length, 4, 'pages are sticky over every origin');
  await compiles(config.vcl);
});

test('an IPv6 origin is given to Varnish without brackets', async () => {
  const config = renderVarnishConfig({ origins: ['http://[::1]:3000'] });
  assert.match(config.vcl, /\.host = "::1";/);
  await compiles(config.vcl);
});

test('bad origin lists throw with the reason, before anything is written', () => {
  assert.throws(() => renderVarnishConfig({ origins: [] }), /at least one origin/);
  assert.throws(() => renderVarnishConfig({ origins: ['not a url'] }), /is not a URL/);
  assert.throws(() => renderVarnishConfig({ origins: ['https://origin.example:443'] }), /only http:\/\/ origins/);
  assert.throws(() => renderVarnishConfig({ origins: ['http://origin.example:3000/hls'] }), /only scheme, host and port/);
  assert.throws(
    () => renderVarnishConfig({ origins: ['http://127.0.0.1:3000'], backupOrigins: ['http://user:pw@127.0.0.1:3001'] }),
    /no path, query or credentials/,
  );
});
