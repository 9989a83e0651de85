import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pickLeastLoadedWorker, placeViewer, type WorkerLoadSnapshot } from '../../server/media/placement.js';

const worker = (index: number, load: Partial<WorkerLoadSnapshot> = {}): WorkerLoadSnapshot => ({
  index,
  alive: true,
  routers: 0,
  producers: 0,
  consumers: 0,
  cpu: 0,
  ...load,
});

test('least-loaded worker: fewer consumers wins', () => {
  assert.equal(pickLeastLoadedWorker([worker(0, { consumers: 40 }), worker(1, { consumers: 10 })]), 1);
});

test('least-loaded worker: ties go to the lowest index', () => {
  assert.equal(pickLeastLoadedWorker([worker(0), worker(1)]), 0);
});

test('least-loaded worker: dead workers are never chosen', () => {
  assert.equal(pickLeastLoadedWorker([worker(0, { alive: false }), worker(1, { consumers: 999 })]), 1);
  assert.equal(pickLeastLoadedWorker([worker(0, { alive: false })]), undefined);
});

test('least-loaded worker: CPU counts', () => {
  assert.equal(pickLeastLoadedWorker([worker(0, { cpu: 0.9 }), worker(1, { consumers: 20, cpu: 0.1 })]), 1);
});

test('least-loaded worker: avoided workers are used only when nothing else is alive', () => {
  assert.equal(pickLeastLoadedWorker([worker(0), worker(1, { consumers: 100 })], [0]), 1);
  assert.equal(pickLeastLoadedWorker([worker(0), worker(1, { alive: false })], [0]), 0);
});

test('viewer placement fills the fullest router that still has room', () => {
  const routers = [
    { id: 'a', workerIndex: 0, reserved: 10 },
    { id: 'b', workerIndex: 1, reserved: 16 },
  ];
  assert.deepEqual(placeViewer(routers, 2, 20), { kind: 'existing', routerId: 'b' });
});

test('viewer placement asks for a new router when all are at the cap', () => {
  const routers = [
    { id: 'a', workerIndex: 0, reserved: 20 },
    { id: 'b', workerIndex: 1, reserved: 19 },
  ];
  assert.deepEqual(placeViewer(routers, 2, 20), { kind: 'new-router' });
  assert.deepEqual(placeViewer([], 2, 20), { kind: 'new-router' });
});

test('30 viewers with a cap of 20 consumers need 3 routers of 10', () => {
  const routers: Array<{ id: string; workerIndex: number; reserved: number }> = [];
  for (let viewer = 0; viewer < 30; viewer++) {
    const decision = placeViewer(routers, 2, 20);
    if (decision.kind === 'new-router') routers.push({ id: `r${routers.length}`, workerIndex: routers.length % 2, reserved: 2 });
    else routers.find((r) => r.id === decision.routerId)!.reserved += 2;
  }
  assert.deepEqual(
    routers.map((r) => r.reserved),
    [20, 20, 20],
  );
});
