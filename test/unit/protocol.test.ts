import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestSchemas, roomIdSchema } from '../../server/contracts/signaling.js';

test('room ids: safe characters only', () => {
  for (const ok of ['live', 'match-2026_final', 'A'.repeat(64)]) assert.ok(roomIdSchema.safeParse(ok).success, ok);
  for (const bad of ['', '../etc', 'a/b', 'room name', 'A'.repeat(65), 'é', '..', 'a.b']) {
    assert.ok(!roomIdSchema.safeParse(bad).success, bad);
  }
});

test('join needs a room and a known role', () => {
  assert.ok(requestSchemas.join.safeParse({ room: 'live', role: 'viewer' }).success);
  assert.ok(requestSchemas.join.safeParse({ room: 'live', role: 'publisher', token: 'x' }).success);
  assert.ok(!requestSchemas.join.safeParse({ room: 'live', role: 'admin' }).success);
  assert.ok(!requestSchemas.join.safeParse({ room: 42, role: 'viewer' }).success);
  assert.ok(!requestSchemas.join.safeParse({}).success);
});

test('strict payloads refuse unknown fields', () => {
  assert.ok(!requestSchemas.createTransport.safeParse({ direction: 'recv', extra: 1 }).success);
  assert.ok(!requestSchemas.createTransport.safeParse({ direction: 'sideways' }).success);
});

test('produce: bounded rtpParameters with 1 to 3 encodings', () => {
  const base = { transportId: 't', kind: 'video', rtpParameters: { codecs: [{ mimeType: 'video/VP8' }], encodings: [{ ssrc: 1 }] } };
  assert.ok(requestSchemas.produce.safeParse(base).success);
  const four = { ...base, rtpParameters: { ...base.rtpParameters, encodings: [{}, {}, {}, {}] } };
  assert.ok(!requestSchemas.produce.safeParse(four).success);
  assert.ok(!requestSchemas.produce.safeParse({ ...base, kind: 'data' }).success);
  const noCodecs = { ...base, rtpParameters: { codecs: [], encodings: [{}] } };
  assert.ok(!requestSchemas.produce.safeParse(noCodecs).success);
});

test('preferred layers are bounded', () => {
  assert.ok(requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 2 }).success);
  assert.ok(!requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 3 }).success);
  assert.ok(!requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 1.5 }).success);
});
