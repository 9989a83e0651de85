/** Backup ingest settings: defaults, range checks with a clear message, units. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../server/config/config.js';

test('INGEST_STALL_MS and INGEST_FAILBACK_S: defaults 1000 ms and 10 s', () => {
  assert.deepEqual(loadConfig({}).ingestFailover, { stallMs: 1000, failbackMs: 10_000 });
  assert.deepEqual(loadConfig({ INGEST_STALL_MS: '300', INGEST_FAILBACK_S: '2.5' }).ingestFailover, { stallMs: 300, failbackMs: 2500 });
  assert.equal(loadConfig({ INGEST_STALL_MS: '5000' }).ingestFailover.stallMs, 5000);
});

test('out-of-range or malformed values stop the start, naming the variable', () => {
  for (const env of [
    { INGEST_STALL_MS: '299' },
    { INGEST_STALL_MS: '5001' },
    { INGEST_STALL_MS: '1s' },
    { INGEST_STALL_MS: '1000.5' },
    { INGEST_FAILBACK_S: '0' },
    { INGEST_FAILBACK_S: 'soon' },
  ]) {
    const name = Object.keys(env)[0]!;
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.message.includes(name),
      JSON.stringify(env),
    );
  }
});
