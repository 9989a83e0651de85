/**
 * Node placement (server/cluster/placement): the selectors alone, the policy
 * that chains them, and the join decision a node makes for a client that
 * connected to it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeRecord } from '../../server/cluster/nodeRegistry.js';
import { joinDecision, place, type ClusterSnapshot } from '../../server/cluster/placement/placementPolicy.js';
import { leastLoaded, regionFirst, servingNodes, withinCapacity } from '../../server/cluster/placement/selectors.js';

const node = (id: string, overrides: Partial<Omit<NodeRecord, 'load'>> & { load?: Partial<NodeRecord['load']> } = {}): NodeRecord => ({
  id,
  publicUrl: `http://${id}.example:3000`,
  mediaAddress: '10.0.0.1',
  region: 'eu',
  roles: ['webrtc', 'hls'],
  state: 'serving',
  updatedAt: new Date().toISOString(),
  ...overrides,
  load: { cpu: 0, viewers: 0, consumers: 0, bitrateOutBps: 0, ...overrides.load },
});

const snapshot = (nodes: NodeRecord[], overrides: Partial<ClusterSnapshot> = {}): ClusterSnapshot => ({
  nodes,
  origin: undefined,
  roomViewersByNode: {},
  maxWebRtcViewers: 0,
  drain: {},
  ...overrides,
});

const viewer = { room: 'r', role: 'viewer' } as const;
const publisher = { room: 'r', role: 'publisher' } as const;
const ids = (nodes: NodeRecord[]): string[] => nodes.map((n) => n.id);

test('least loaded: fewer viewers first, CPU counts as much as viewers, ties by id', () => {
  const nodes = [node('c', { load: { viewers: 50 } }), node('a', { load: { viewers: 10 } }), node('b', { load: { viewers: 10 } })];
  assert.deepEqual(ids(leastLoaded()(nodes, viewer)), ['a', 'b', 'c']);
  // 90 % CPU with few viewers is busier than 100 viewers of 500.
  const busy = [node('hot', { load: { cpu: 0.9, viewers: 1 } }), node('cool', { load: { cpu: 0.1, viewers: 100 } })];
  assert.deepEqual(ids(leastLoaded()(busy, viewer)), ['cool', 'hot']);
});

test('serving nodes: draining state, drain flag and nodes without the webrtc role are out', () => {
  const nodes = [node('a', { state: 'draining' }), node('b'), node('c'), node('hls-only', { roles: ['hls'] })];
  assert.deepEqual(ids(servingNodes({ c: true })(nodes, viewer)), ['b']);
  assert.deepEqual(ids(servingNodes({ c: false })(nodes, viewer)), ['b', 'c']);
});

test('capacity: nodes at the per-node limit of the room take no more viewers, publishers are not limited', () => {
  const nodes = [node('a'), node('b')];
  assert.deepEqual(ids(withinCapacity(2, { a: 2, b: 1 })(nodes, viewer)), ['b']);
  assert.deepEqual(ids(withinCapacity(0, { a: 2, b: 1 })(nodes, viewer)), ['a', 'b'], '0 is unlimited');
  assert.deepEqual(ids(withinCapacity(2, { a: 2, b: 2 })(nodes, publisher)), ['a', 'b']);
});

test('region first keeps the load order inside and outside the region; no hint changes nothing', () => {
  const nodes = [node('us1', { region: 'us' }), node('eu1'), node('us2', { region: 'us' }), node('eu2')];
  assert.deepEqual(ids(regionFirst(nodes, { ...viewer, region: 'us' })), ['us1', 'us2', 'eu1', 'eu2']);
  assert.deepEqual(ids(regionFirst(nodes, viewer)), ['us1', 'eu1', 'us2', 'eu2']);
});

test('place: a viewer goes to the lightest serving node of its region, alternates follow', () => {
  const nodes = [
    node('a', { load: { viewers: 5 } }),
    node('b', { load: { viewers: 1 }, state: 'draining' }),
    node('c', { load: { viewers: 3 } }),
    node('d', { load: { viewers: 9 }, region: 'us' }),
  ];
  const eu = place(viewer, snapshot(nodes));
  assert.equal(eu?.node.id, 'c');
  assert.deepEqual(ids(eu?.alternates ?? []), ['a', 'd']);
  assert.equal(place({ ...viewer, region: 'us' }, snapshot(nodes))?.node.id, 'd');
  assert.equal(place(viewer, snapshot(nodes), 'c')?.node.id, 'a', 'excluded node');
  assert.equal(place(viewer, snapshot(nodes, { drain: { a: true, c: true, d: true } })), undefined, 'nobody left');
});

test('place: a publisher goes to the room origin while it serves, otherwise to the lightest node', () => {
  const nodes = [node('a', { load: { viewers: 50 } }), node('b')];
  const origin = { room: 'r', node: 'a', epoch: 3 };
  assert.equal(place(publisher, snapshot(nodes, { origin }))?.node.id, 'a');
  assert.equal(place(publisher, snapshot(nodes, { origin, drain: { a: true } }))?.node.id, 'b');
  assert.equal(place(publisher, snapshot(nodes))?.node.id, 'b');
});

test('join decision: serve, redirect a publisher to the origin, redirect away from a draining or full node', () => {
  const nodes = [node('a'), node('b', { load: { viewers: 4 } })];
  assert.deepEqual(joinDecision(viewer, 'a', false, snapshot(nodes)), { action: 'serve' });

  const toOrigin = joinDecision(publisher, 'b', false, snapshot(nodes, { origin: { room: 'r', node: 'a', epoch: 1 } }));
  assert.equal(toOrigin.action === 'redirect' && toOrigin.placement.node.id, 'a');
  assert.ok(toOrigin.action === 'redirect' && !ids(toOrigin.placement.alternates).includes('b'), 'never an alternate to itself');
  assert.deepEqual(joinDecision(publisher, 'a', false, snapshot(nodes, { origin: { room: 'r', node: 'a', epoch: 1 } })), { action: 'serve' });
  // The origin drains: the publisher lands where it connected.
  assert.deepEqual(joinDecision(publisher, 'b', false, snapshot(nodes, { origin: { room: 'r', node: 'a', epoch: 1 }, drain: { a: true } })), {
    action: 'serve',
  });

  const draining = joinDecision(viewer, 'a', true, snapshot(nodes));
  assert.equal(draining.action === 'redirect' && draining.placement.node.id, 'b');
  assert.equal(joinDecision(viewer, 'a', false, snapshot(nodes, { drain: { a: true } })).action, 'redirect', 'drain flag alone');
  assert.equal(joinDecision(viewer, 'a', true, snapshot([node('a')])).action, 'refuse', 'draining and alone');

  const full = snapshot(nodes, { maxWebRtcViewers: 2, roomViewersByNode: { a: 2, b: 1 } });
  assert.equal(joinDecision(viewer, 'a', false, full).action, 'redirect');
  assert.deepEqual(
    joinDecision(viewer, 'a', false, { ...full, roomViewersByNode: { a: 2, b: 2 } }),
    { action: 'serve' },
    'all full: the room answers ROOM_FULL',
  );
});
