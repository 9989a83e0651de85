/** Cluster alert rules (server/alerts/clusterAlertRules.ts) over synthetic registry and directory snapshots. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AlertManager } from '../../server/alerts/alertManager.js';
import { alertManagerSink } from '../../server/alerts/clusterAlertMonitor.js';
import { ClusterAlertRules, ORIGIN_GRACE_MS, type ClusterObservation } from '../../server/alerts/clusterAlertRules.js';

const serving = (...ids: string[]): ClusterObservation['nodes'] => ids.map((id) => ({ id, state: 'serving' as const }));
const summary = (actions: ReturnType<ClusterAlertRules['evaluate']>): string[] => actions.map((a) => `${a.type} ${a.rule} ${a.subject}`);

test('node_gone fires when a serving node disappears, not when a draining one leaves, and resolves when it is back', () => {
  const rules = new ClusterAlertRules();
  assert.deepEqual(summary(rules.evaluate({ at: 0, nodes: serving('a', 'b', 'c'), rooms: [] })), []);
  assert.deepEqual(summary(rules.evaluate({ at: 1000, nodes: [...serving('a', 'b'), { id: 'c', state: 'draining' }], rooms: [] })), [], 'c starts draining');
  assert.deepEqual(summary(rules.evaluate({ at: 2000, nodes: serving('a'), rooms: [] })), ['fire node_gone b'], 'b vanished; c drained and left');
  assert.deepEqual(summary(rules.evaluate({ at: 3000, nodes: serving('a'), rooms: [] })), [], 'fires once');
  assert.deepEqual(summary(rules.evaluate({ at: 4000, nodes: serving('a', 'b'), rooms: [] })), ['resolve node_gone b']);
});

test('room_lost_origin fires when a live room stays without origin past the grace, and resolves when an origin is back', () => {
  const rules = new ClusterAlertRules();
  const nodes = serving('a', 'b');
  rules.evaluate({ at: 0, nodes, rooms: [{ id: 'r', live: true, origin: 'a' }] });
  assert.deepEqual(summary(rules.evaluate({ at: 1000, nodes, rooms: [{ id: 'r', live: true, origin: null }] })), []);
  assert.deepEqual(summary(rules.evaluate({ at: 1000 + ORIGIN_GRACE_MS - 1, nodes, rooms: [{ id: 'r', live: true, origin: null }] })), [], 'within the grace');
  const fired = rules.evaluate({ at: 1000 + ORIGIN_GRACE_MS, nodes, rooms: [{ id: 'r', live: true, origin: null }] });
  assert.deepEqual(summary(fired), ['fire room_lost_origin r']);
  assert.match(fired[0]!.message, /node a/);
  assert.deepEqual(summary(rules.evaluate({ at: 9000, nodes, rooms: [{ id: 'r', live: true, origin: 'b' }] })), ['resolve room_lost_origin r']);
});

test('room_lost_origin: a new origin within the grace, a room that ended normally, or one nobody serves any more are no alert', () => {
  const rules = new ClusterAlertRules();
  const nodes = serving('a', 'b');
  rules.evaluate({
    at: 0,
    nodes,
    rooms: [
      { id: 'quick', live: true, origin: 'a' },
      { id: 'ended', live: true, origin: 'a' },
      { id: 'gone', live: true, origin: 'a' },
    ],
  });
  rules.evaluate({
    at: 1000,
    nodes,
    rooms: [
      { id: 'quick', live: true, origin: null },
      { id: 'ended', live: false, origin: 'a' },
    ],
  });
  rules.evaluate({
    at: 2000,
    nodes,
    rooms: [
      { id: 'quick', live: true, origin: 'b' },
      { id: 'ended', live: false, origin: null },
    ],
  });
  assert.deepEqual(summary(rules.evaluate({ at: 2000 + 2 * ORIGIN_GRACE_MS, nodes, rooms: [{ id: 'quick', live: true, origin: 'b' }] })), []);
});

test("cluster alerts become the node's own alerts: node_gone names the node, room_lost_origin the room", () => {
  const manager = new AlertManager({ logger: pino({ level: 'silent' }) });
  const heard: string[] = [];
  manager.on('alert', (alert) => heard.push(`${alert.state} ${alert.rule} ${alert.node ?? alert.room}`));
  const sink = alertManagerSink(manager);
  sink({ type: 'fire', rule: 'node_gone', subject: 'b', message: 'node b disappeared' });
  sink({ type: 'fire', rule: 'room_lost_origin', subject: 'match', message: 'room match lost its origin' });
  sink({ type: 'fire', rule: 'node_gone', subject: 'b', message: 'again' });
  const active = manager.active();
  assert.deepEqual(active.map((a) => [a.rule, a.severity, a.node, a.room]).sort(), [
    ['node_gone', 'critical', 'b', null],
    ['room_lost_origin', 'critical', null, 'match'],
  ]);
  sink({ type: 'resolve', rule: 'node_gone', subject: 'b', message: 'node b is back' });
  assert.deepEqual(
    manager.active().map((a) => a.rule),
    ['room_lost_origin'],
  );
  assert.equal(manager.history()[0]?.message, 'node b is back');
  assert.deepEqual(heard, ['firing node_gone b', 'firing room_lost_origin match', 'resolved node_gone b']);
});
