import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { assumptionsFrom, ladderFor } from '../../scripts/capacity/capacityArgs.js';
import { CapacityInputError, parseBitrateMix, type Assumptions, type MeasuredFigures } from '../../scripts/capacity/capacityInputs.js';
import { ffmpegCores, objectsPerSecond, planCapacity, type CapacityPlan } from '../../scripts/capacity/capacityModel.js';
import { formatValue } from '../../scripts/capacity/capacityReport.js';
import { loadMeasuredFigures, MEASURED_JSON, readMeasuredJson } from '../../scripts/capacity/measuredFigures.js';

const s = (value: number) => ({ value, source: 'test' });

const MEASURED: MeasuredFigures = {
  webrtcViewersPerCore: s(500),
  clusterOverheadPerViewer: s(0.1),
  originWorkerCoresPerPipe: s(0.01),
  edgeCoresPerPipedBroadcast: s(0.005),
  originCoresPer1000Requests: s(0.2),
  requestsPerLlHlsClient: s(8),
  edgeCollapseRatio: s(1),
  ffmpegCoresByRenditions: [s(0.1), s(0.2), s(0.3)],
};

const ASSUMPTIONS: Assumptions = {
  viewers: 1_000_000,
  webrtcViewers: 100_000,
  ladder: [
    { height: 720, bitrate: 2_000_000, share: 0.5 },
    { height: 240, bitrate: 500_000, share: 0.5 },
  ],
  partSeconds: 0.25,
  segmentSeconds: 1,
  contributionBitrate: 6e6,
  origins: 2,
  coresPerServer: 10,
  serverNetworkBps: 10e9,
  cdnEdgeBps: 10e9,
  cdnEdgeRequestsPerSecond: 100_000,
  shieldFanIn: 10,
  shieldTiers: 1,
  utilisation: 0.5,
  joinSurgeShare: 0.5,
  joinSurgeSeconds: 100,
  webrtcSimulcastBps: 2e6,
  webrtcViewerBps: 1e6,
  rooms: 1,
  redisOpsPerSecond: 100_000,
};

function value(plan: CapacityPlan, tier: string, label: string): number {
  const found = plan.tiers.find((t) => t.name === tier)?.figures.find((f) => f.label.startsWith(label));
  assert.ok(found, `${tier}: ${label}`);
  return found.value;
}

const close = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual} ≠ ${expected}`);

test('known inputs give known outputs, tier by tier', () => {
  const plan = planCapacity(MEASURED, ASSUMPTIONS);
  // Players and CDN: 900,000 HLS viewers at a mean 1.25 Mbit/s, 8 req/s each, 4,500 joins/s × 6 start requests.
  close(value(plan, 'Players (LL-HLS)', 'HLS viewers'), 900_000, 'HLS viewers');
  close(value(plan, 'Players (LL-HLS)', 'mean bitrate'), 1_250_000, 'mean bitrate');
  close(value(plan, 'CDN edges', 'egress'), 1.125e12, 'egress');
  close(value(plan, 'CDN edges', 'requests at peak'), 7_227_000, 'edge requests');
  close(value(plan, 'CDN edges', 'edge servers (by bandwidth)'), 225, 'edges by bandwidth');
  close(value(plan, 'CDN edges', 'edge servers (by requests)'), 145, 'edges by requests');
  close(value(plan, 'CDN edges', 'edge servers'), 225, 'edges');
  // Shield and origins: 2 renditions × (4 parts + 4 reload answers + 1 playlist + 1 segment) + 0.5 master = 20.5 objects/s.
  close(value(plan, 'Origin shield', 'distinct objects'), 20.5, 'objects/s');
  close(value(plan, 'Origin shield', 'shield servers, tier 1'), 23, 'shields');
  close(value(plan, 'Origin shield', 'requests per shield'), 205, 'shield requests');
  close(value(plan, 'Origins and transcoding', 'origin requests per room'), 471.5, 'origin requests');
  close(value(plan, 'Origins and transcoding', 'origin HTTP CPU per room'), 0.0943, 'origin HTTP cores');
  // Rooms per origin server: min(⌊0.5 / 0.0943⌋ = 5 by HTTP, ⌊10 × 0.5 / 0.2⌋ = 25 by ffmpeg) = 5; 1 room × 2 origins.
  close(value(plan, 'Origins and transcoding', 'rooms per origin server'), 5, 'rooms per origin server');
  close(value(plan, 'Origins and transcoding', 'origin servers'), 2, 'origin servers');
  close(value(plan, 'Origins and transcoding', 'requests one origin serves'), 2500, 'origin capacity: 0.5 × 1000 / 0.2');
  close(value(plan, 'Origins and transcoding', 'ffmpeg per room'), 0.2, 'ffmpeg');
  close(value(plan, 'Ingest', 'ingest bandwidth'), 12e6, 'ingest');
  // WebRTC: 100,000 × 1/500 × 1.1 = 220 cores → 220 / (10 × 50 % − 0.005 for the node's pipe) = 44.04 → 45 nodes; 44 pipes at 0.01 core.
  close(value(plan, 'WebRTC interactive tier', 'worker CPU for the viewers'), 220, 'webrtc cores');
  close(value(plan, 'WebRTC interactive tier', 'nodes (by network)'), 20, 'nodes by network');
  close(value(plan, 'WebRTC interactive tier', 'nodes (by CPU)'), 45, 'nodes by CPU');
  close(value(plan, 'WebRTC interactive tier', 'nodes'), 45, 'nodes');
  close(value(plan, 'WebRTC interactive tier', 'pipes from the origin'), 44, 'pipes');
  close(value(plan, 'WebRTC interactive tier', "origin worker CPU for the room's pipes"), 0.44, 'origin pipe cores');
  close(value(plan, 'WebRTC interactive tier', 'pipes one origin worker can feed'), 50, 'pipes per worker');
  close(value(plan, 'WebRTC interactive tier', 'joins per second'), 500, 'webrtc joins');
  // Redis: 47 nodes, the room on 46 of them (45 edges): 47 + 230 + 1 + 45 + 90 + 98 (alert monitor: 47 × 2 + 1 + 3) + 276 + 500 joins/s × 12.
  close(value(plan, 'Redis', 'cluster nodes'), 47, 'cluster nodes');
  close(plan.redis.opsPerSecond, 6787, 'redis ops/s');
  assert.deepEqual(plan.warnings, []);
  for (const tier of plan.tiers) assert.ok(tier.failures.length > 0, `${tier.name} says what fails`);
});

test('a second shield tier: the origins see its servers only, at least two', () => {
  const plan = planCapacity(MEASURED, { ...ASSUMPTIONS, shieldTiers: 2 });
  close(value(plan, 'Origin shield', 'shield servers, tier 1'), 23, 'tier 1');
  close(value(plan, 'Origin shield', 'shield servers, tier 2'), 3, 'tier 2: 23 / 10');
  close(value(plan, 'Origins and transcoding', 'origin requests per room'), 3 * 20.5, 'origin requests');
  const wide = planCapacity(MEASURED, { ...ASSUMPTIONS, shieldTiers: 2, shieldFanIn: 1000 });
  close(value(wide, 'Origin shield', 'shield servers, tier 2'), 2, 'never one server alone');
  assert.throws(() => planCapacity(MEASURED, { ...ASSUMPTIONS, shieldTiers: 0 }), /shield tiers/);
});

test('many rooms spread over origin servers, 5 per server here', () => {
  const plan = planCapacity(MEASURED, { ...ASSUMPTIONS, rooms: 12 });
  close(value(plan, 'Origins and transcoding', 'origin requests per room'), 471.5, 'per room, as with one');
  close(value(plan, 'Origins and transcoding', 'origin servers'), 3 * 2, '⌈12 / 5⌉ × 2 origins');
  close(value(plan, 'Origin shield', 'distinct objects'), 12 * 20.5, 'a shield caches every room');
});

test('limits of the code and of a server are reported as warnings', () => {
  const plan = planCapacity({ ...MEASURED, originWorkerCoresPerPipe: s(0.05), originCoresPer1000Requests: s(5) }, ASSUMPTIONS);
  assert.ok(
    plan.warnings.some((w) => w.includes('pipes from one worker')),
    plan.warnings.join('\n'),
  );
  assert.ok(
    plan.warnings.some((w) => w.includes('one Node process')),
    plan.warnings.join('\n'),
  );
});

test('ffmpeg cost: the measured count, else extrapolated from the last two', () => {
  assert.equal(ffmpegCores(MEASURED.ffmpegCoresByRenditions, 2).value, 0.2);
  const five = ffmpegCores(MEASURED.ffmpegCoresByRenditions, 5);
  close(five.value, 0.5, 'five renditions');
  assert.match(five.source, /^extrapolated/);
  close(objectsPerSecond(1, 0.2, 1), 1 * (10 + 1 + 1) + 0.5, 'objects/s with 0.2 s parts');
});

test('bad input is refused with a reason', () => {
  const bad: [Partial<Assumptions>, RegExp][] = [
    [{ viewers: -1 }, /viewers must be a positive number/],
    [{ webrtcViewers: 2_000_000 }, /webrtc viewers must be between 0 and the viewers/],
    [{ utilisation: 1.5 }, /utilisation/],
    [{ origins: 1.5 }, /origins/],
    [{ ladder: [{ height: 720, bitrate: 1e6, share: 0.5 }] }, /sums to 0.500/],
    [{ cdnEdgeBps: 0 }, /cdnEdgeBps/],
  ];
  for (const [change, message] of bad) assert.throws(() => planCapacity(MEASURED, { ...ASSUMPTIONS, ...change }), message);
  assert.throws(() => planCapacity({ ...MEASURED, webrtcViewersPerCore: s(0) }, ASSUMPTIONS), /measured webrtcViewersPerCore is not usable/);
  assert.throws(() => planCapacity({ ...MEASURED, ffmpegCoresByRenditions: [] }, ASSUMPTIONS), /no figure/);
  assert.throws(() => parseBitrateMix('720:0.5,480:0.4'), /sum to 0.900/);
  assert.throws(() => parseBitrateMix('720:0.5,720:0.5'), /twice/);
  assert.throws(() => parseBitrateMix('720=1'), /height:share/);
  assert.throws(() => ladderFor({ 721: 1 }), CapacityInputError);
  assert.throws(() => assumptionsFrom([]), /--viewers is required/);
  assert.throws(() => assumptionsFrom(['--viewers', 'lots']), /not a number/);
  assert.throws(() => assumptionsFrom(['--viewers', '1e6', '--assume', 'nonsense=1']), /--assume nonsense=1/);
  assert.throws(() => assumptionsFrom(['--viewers', '1e6', '--frobnicate']), CapacityInputError);
});

test('the command line: 500e6 viewers, a mix over the recorder ladder, overrides', () => {
  const { assumptions, json, resultsDir } = assumptionsFrom([
    '--viewers',
    '500e6',
    '--webrtc-viewers',
    '2e6',
    '--bitrate-mix',
    '1080:0.2,720:0.5,240:0.3',
    '--assume',
    'shieldFanIn=50',
    '--json',
    '--measured-only',
  ]);
  assert.equal(assumptions.viewers, 500e6);
  assert.equal(assumptions.webrtcViewers, 2e6);
  assert.equal(assumptions.shieldFanIn, 50);
  assert.equal(json, true);
  assert.equal(resultsDir, null);
  // The recorder's own bitrates, video + audio: 4.5 M + 128 k, 2.5 M + 128 k, 400 k + 64 k.
  assert.deepEqual(
    assumptions.ladder.map((r) => [r.height, r.bitrate, r.share]),
    [
      [1080, 4_628_000, 0.2],
      [720, 2_628_000, 0.5],
      [240, 464_000, 0.3],
    ],
  );
  assert.equal(assumptions.partSeconds, 0.2);
  assert.equal(assumptions.segmentSeconds, 1);
});

test('measured figures: the newest bench result over measured.json, figure by figure', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'capacity-test-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, data: unknown) => fs.writeFileSync(path.join(dir, name), JSON.stringify(data));
  const measuredFile = path.join(dir, 'measured.json');
  const figure = (value: number) => ({ value, source: 'a run' });
  write('measured.json', {
    figures: {
      webrtcViewersPerCore: figure(400),
      clusterOverheadPerViewer: figure(0.05),
      originWorkerCoresPerPipe: figure(0.002),
      edgeCoresPerPipedBroadcast: figure(0.003),
      originCoresPer1000Requests: figure(0.3),
      requestsPerLlHlsClient: figure(8),
      edgeCollapseRatio: figure(1),
      ffmpegCoresByRenditions: [figure(0.05), figure(0.2)],
    },
  });
  write('viewers-2026-01-01T00-00-00.json', { results: [{ viewersPerCore: 100, viewersPerCoreAtNominal: 100 }] });
  write('viewers-2026-02-01T00-00-00.json', {
    results: [{ viewersPerCore: 520, viewersPerCoreAtNominal: 510 }, { viewersPerCore: 600, viewersPerCoreAtNominal: 700 }, { error: 'x' }],
  });
  write('edge-cost-2026-02-01T00-00-00.json', {
    figures: {
      clusterOverheadPerViewer: 0.3,
      marginalOverheadPerViewer: 0.07,
      perPipedBroadcastCores: { edge: { node: 0.001, worker: 0.002 }, origin: { worker: 0.004 } },
    },
  });
  write('hls-latency-2026-02-01T00-00-00.json', {
    cpu: [
      { codec: 'h264', renditions: 2, ffmpegCores: 0.25 },
      { codec: 'vp8', renditions: 1, ffmpegCores: 0.3 },
      { codec: 'h264', renditions: 1, ffmpegCores: 0.04 },
    ],
  });
  write('hls-origin-2026-01-01T00-00-00.json', {
    clients: [
      { clients: 100, playing: 100, stalls: 0, rate: 1000, serverCoresPer1000: 0.5 },
      { clients: 300, playing: 300, stalls: 12, rate: 1300, serverCoresPer1000: 0.38 },
    ],
  });
  const figures = loadMeasuredFigures(dir, measuredFile);
  assert.equal(figures.webrtcViewersPerCore.value, 510, 'the newest file, lowest verdict over its runs');
  assert.match(figures.webrtcViewersPerCore.source, /viewers-2026-02-01/);
  assert.equal(figures.clusterOverheadPerViewer.value, 0.07);
  assert.equal(figures.originWorkerCoresPerPipe.value, 0.004);
  close(figures.edgeCoresPerPipedBroadcast.value, 0.003, 'edge node + worker');
  assert.deepEqual(
    figures.ffmpegCoresByRenditions.map((f) => f.value),
    [0.04, 0.25],
  );
  assert.equal(figures.originCoresPer1000Requests.value, 0.5, 'the largest audience that played without stalls');
  assert.equal(figures.requestsPerLlHlsClient.value, 10);
  write('hls-origin-2026-02-01T00-00-00.json', 'not json at all');
  const unreadable = loadMeasuredFigures(dir, measuredFile);
  assert.equal(unreadable.originCoresPer1000Requests.value, 0.3, 'an unreadable newest result leaves measured.json');
  assert.match(unreadable.originCoresPer1000Requests.source, /measured\.json/);
  assert.equal(loadMeasuredFigures(null, measuredFile).webrtcViewersPerCore.value, 400, 'measured.json only');
  write('measured.json', { figures: { webrtcViewersPerCore: { value: 1 } } });
  assert.throws(() => readMeasuredJson(measuredFile), /needs a numeric value and a source/);
});

test('the checked-in measured.json is complete and plans 500 million viewers', () => {
  const figures = readMeasuredJson(MEASURED_JSON);
  const { assumptions } = assumptionsFrom(['--viewers', '500e6', '--measured-only']);
  const plan = planCapacity(figures, assumptions);
  assert.ok(value(plan, 'CDN edges', 'edge servers') > 1000);
  assert.equal(formatValue({ value: 1.5e12, unit: 'bit/s' }), '1.50 Tbit/s');
});
