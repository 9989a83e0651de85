/**
 * `npm run loadtest` (scripts/loadtest/main.ts) as a user runs it, against a
 * local test server: its synthetic publisher, 3 WebRTC viewers and 5 LL-HLS
 * clients for 15 s. Its JSON report must match what the server saw meanwhile
 * (WebRTC viewers in /api/rooms, distinct HLS clients in /metrics'
 * floodlight_hls_origin_clients). Bad arguments: exit 2, a clear message.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import type { RoomsResponse } from '../../server/contracts/adminApi.js';
import type { LoadReport } from '../../scripts/loadtest/loadReport.js';
import { spawnTracked } from '../helpers/processes.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';

const ROOM = 'loadtest-room';
const repoRoot = path.resolve(import.meta.dirname, '../..');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-loadtest-test-'));
let server: FloodlightServer | undefined;

before(async () => {
  server = await startTestServer({ HLS_RENDITIONS: '720,240' });
});

after(async () => {
  await server?.close();
  fs.rmSync(scratch, { recursive: true, force: true });
});

function runTool(args: string[]): ReturnType<typeof spawnTracked> {
  return spawnTracked(process.execPath, ['--import', 'tsx', 'scripts/loadtest/main.ts', ...args], {
    name: 'loadtest',
    cwd: repoRoot,
    env: { ...process.env, AUTH_SECRET: TEST_AUTH_SECRET },
  });
}

async function serverView(): Promise<{ webrtc: number; hlsClients: number; live: boolean }> {
  const rooms = (await (await fetch(`${server!.url}/api/rooms`)).json()) as RoomsResponse;
  const room = rooms.rooms.find((r) => r.id === ROOM);
  const metrics = await (await fetch(`${server!.url}/metrics`)).text();
  const hls = /^floodlight_hls_origin_clients(?:\{[^}]*\})? (\d+)/m.exec(metrics);
  return { webrtc: room?.viewers ?? 0, hlsClients: Number(hls?.[1] ?? 0), live: room?.live ?? false };
}

test('the load tool reports what the server saw (3 WebRTC, 5 LL-HLS, 15 s, its own publisher)', { timeout: 120_000 }, async () => {
  const jsonFile = path.join(scratch, 'report.json');
  const tool = runTool([
    '--url',
    server!.url,
    '--room',
    ROOM,
    '--webrtc',
    '3',
    '--hls',
    '5',
    '--duration',
    '15',
    '--ramp',
    '2',
    '--publisher',
    '--local',
    '--every',
    '3',
    '--json',
    jsonFile,
  ]);
  // What the server sees while the tool runs: the most at any time.
  const seen = { webrtc: 0, hlsClients: 0, live: false };
  let polls = 0;
  while (tool.running) {
    const view = await serverView().catch(() => undefined);
    if (view) {
      polls++;
      seen.webrtc = Math.max(seen.webrtc, view.webrtc);
      seen.hlsClients = Math.max(seen.hlsClients, view.hlsClients);
      seen.live ||= view.live;
    }
    await Promise.race([tool.exited, new Promise((resolve) => setTimeout(resolve, 500))]);
  }
  const exit = await tool.exited;
  assert.equal(exit.code, 0, `loadtest exited ${exit.code ?? exit.signal}; output:\n${tool.output()}`);
  const report = JSON.parse(fs.readFileSync(jsonFile, 'utf8')) as LoadReport;
  console.log(`# server saw ${JSON.stringify(seen)} over ${polls} polls; report: webrtc ${JSON.stringify(report.webrtc)} hls ${JSON.stringify(report.hls)}`);

  assert.ok(seen.live, 'the tool published: the room was live');
  assert.equal(report.webrtc.clients, 3);
  assert.equal(report.webrtc.playing, 3, 'every WebRTC viewer got a first frame');
  assert.equal(seen.webrtc, report.webrtc.playing, 'WebRTC viewers: the server counted what the tool reports');
  assert.equal(report.hls.clients, 5);
  assert.equal(report.hls.playing, 5, 'every LL-HLS client got a first part');
  assert.equal(seen.hlsClients, report.hls.clients, 'distinct HLS clients at the origin match the tool');

  // Media flowed and the figures are plausible.
  assert.ok(report.webrtc.joinToFirstFrameMs.p50 > 0 && report.webrtc.joinToFirstFrameMs.p95 < 15_000);
  assert.ok(report.webrtc.bitrateKbps.mean > 200, `WebRTC bitrate ${report.webrtc.bitrateKbps.mean} kbps`);
  assert.ok(report.hls.parts >= 5 * 20, `LL-HLS parts ${report.hls.parts}`);
  assert.ok(report.hls.bitrateKbps.mean > 50, `LL-HLS bitrate ${report.hls.bitrateKbps.mean} kbps`);
  assert.ok(report.hls.latencyToLiveMs.count > 0 && report.hls.latencyToLiveMs.p50 > 0 && report.hls.latencyToLiveMs.p50 < 10_000, 'latency to live measured');
  assert.ok(report.publisher && report.publisher.sentVideoPackets > 0, 'the publisher sent video');
  assert.match(tool.output(), /playing/, 'a progress line while running');
});

test('bad arguments: exit 2 and a clear message, nothing started', { timeout: 30_000 }, async () => {
  for (const [args, message] of [
    [['--room', ROOM, '--hls', '1'], /--url is required/],
    [['--url', 'http://127.0.0.1:9', '--room', ROOM, '--hls', 'lots'], /--hls must be a number/],
    [['--url', 'http://127.0.0.1:9', '--room', ROOM, '--hls', '5000'], /over the cap of 2000/],
    [['--url', 'http://127.0.0.1:9', '--room', '../x', '--hls', '1'], /not a valid room name/],
    [['--url', 'http://127.0.0.1:9', '--room', ROOM], /nothing to do/],
  ] as const) {
    const tool = runTool([...args]);
    const exit = await tool.exited;
    assert.equal(exit.code, 2, `${args.join(' ')} → exit ${exit.code}`);
    assert.match(tool.output(), message);
  }
});
