import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../server/config/config.js';

test('defaults give a working single-machine config', () => {
  const config = loadConfig({});
  assert.equal(config.port, 3000);
  assert.ok(config.numWorkers >= 1);
  assert.equal(config.rtcMinPort, 40000);
  assert.equal(config.rtcMaxPort, 49999);
  assert.equal(config.requireViewerToken, false);
  assert.equal(config.authSecret, undefined);
  assert.match(config.announcedIp, /^\d+\.\d+\.\d+\.\d+$/);
});

test('values are parsed and typed', () => {
  const config = loadConfig({
    PORT: '8080',
    NUM_WORKERS: '3',
    RTC_MIN_PORT: '50000',
    RTC_MAX_PORT: '50100',
    ANNOUNCED_IP: '203.0.113.7',
    AUTH_SECRET: 'x'.repeat(32),
    REQUIRE_VIEWER_TOKEN: 'true',
    LOG_LEVEL: 'debug',
    MAX_CONSUMERS_PER_ROUTER: '20',
    ROOM_GRACE_SECONDS: '2.5',
  });
  assert.equal(config.port, 8080);
  assert.equal(config.numWorkers, 3);
  assert.equal(config.announcedIp, '203.0.113.7');
  assert.equal(config.requireViewerToken, true);
  assert.equal(config.maxConsumersPerRouter, 20);
  assert.equal(config.roomGraceMs, 2500);
});

test('HLS settings', () => {
  const config = loadConfig({ HLS_RENDITIONS: '480,240', HLS_DVR_SECONDS: '7200', HLS_DIR: '/srv/hls' });
  assert.deepEqual(
    config.hls.renditions.map((r) => r.name),
    ['480p', '240p'],
  );
  assert.equal(config.hls.dvrSeconds, 7200);
  assert.equal(config.hls.dir, '/srv/hls');
  assert.equal(loadConfig({}).hls.enabled, true);
  assert.equal(loadConfig({}).hls.h264Passthrough, true, 'H.264 passthrough on by default');
  assert.equal(loadConfig({ HLS_H264_PASSTHROUGH: 'false' }).hls.h264Passthrough, false);
});

test("keyframe requests are paced past the browsers' 300 ms by default", () => {
  assert.equal(loadConfig({}).keyFrameRequestDelayMs, 350);
  assert.equal(loadConfig({ KEYFRAME_REQUEST_DELAY_MS: '0' }).keyFrameRequestDelayMs, 0);
  assert.equal(loadConfig({}).keyFrameCacheMs, 500);
  assert.equal(loadConfig({ KEYFRAME_CACHE_MS: '0' }).keyFrameCacheMs, 0);
});

test('empty strings fall back to defaults', () => {
  assert.equal(loadConfig({ PORT: '' }).port, 3000);
});

test('a specific listen IP is announced by default', () => {
  assert.equal(loadConfig({ LISTEN_IP: '127.0.0.1' }).announcedIp, '127.0.0.1');
});

const bad: Array<[Record<string, string>, string]> = [
  [{ PORT: 'eighty' }, 'PORT'],
  [{ PORT: '70000' }, 'PORT'],
  [{ NUM_WORKERS: '0' }, 'NUM_WORKERS'],
  [{ RTC_MIN_PORT: '50000', RTC_MAX_PORT: '40000' }, 'RTC_MIN_PORT'],
  [{ LISTEN_IP: 'not-an-ip' }, 'LISTEN_IP'],
  [{ AUTH_SECRET: 'short' }, 'AUTH_SECRET'],
  [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  [{ REQUIRE_VIEWER_TOKEN: 'maybe' }, 'REQUIRE_VIEWER_TOKEN'],
  [{ MAX_CONSUMERS_PER_ROUTER: '1' }, 'MAX_CONSUMERS_PER_ROUTER'],
  [{ HLS_RENDITIONS: '720,banana' }, 'HLS_RENDITIONS'],
  [{ HLS_ENABLED: 'sometimes' }, 'HLS_ENABLED'],
  [{ HLS_DVR_SECONDS: '-5' }, 'HLS_DVR_SECONDS'],
  [{ HLS_H264_PASSTHROUGH: 'copy' }, 'HLS_H264_PASSTHROUGH'],
  [{ KEYFRAME_REQUEST_DELAY_MS: '-1' }, 'KEYFRAME_REQUEST_DELAY_MS'],
  [{ KEYFRAME_REQUEST_DELAY_MS: 'soon' }, 'KEYFRAME_REQUEST_DELAY_MS'],
  [{ KEYFRAME_CACHE_MS: '-5' }, 'KEYFRAME_CACHE_MS'],
  [{ KEYFRAME_CACHE_MS: '60000' }, 'KEYFRAME_CACHE_MS'],
];
for (const [env, variable] of bad) {
  test(`invalid ${variable} (${JSON.stringify(env)}) names the variable`, () => {
    assert.throws(
      () => loadConfig(env),
      (error: unknown) => error instanceof ConfigError && error.variable === variable && error.message.startsWith(`${variable}:`),
    );
  });
}
