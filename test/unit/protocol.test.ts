import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestSchemas, roomIdSchema, serverEventNames } from '../../server/contracts/signaling.js';
import { isValidRoomId } from '../../server/contracts/roomId.js';

test('room ids: safe characters only', () => {
  for (const ok of ['live', 'match-2026_final', 'A'.repeat(64)]) assert.ok(roomIdSchema.safeParse(ok).success, ok);
  for (const bad of ['', '../etc', 'a/b', 'room name', 'A'.repeat(65), 'é', '..', 'a.b']) {
    assert.ok(!roomIdSchema.safeParse(bad).success, bad);
    assert.ok(!isValidRoomId(bad), bad);
  }
  assert.ok(isValidRoomId('live'));
  assert.ok(!isValidRoomId(null));
});

test('join needs a room and a known role', () => {
  assert.ok(requestSchemas.join.safeParse({ room: 'live', role: 'viewer' }).success);
  assert.ok(requestSchemas.join.safeParse({ room: 'live', role: 'publisher', token: 'x' }).success);
  assert.ok(!requestSchemas.join.safeParse({ room: 'live', role: 'admin' }).success);
  assert.ok(!requestSchemas.join.safeParse({ room: 42, role: 'viewer' }).success);
  assert.ok(!requestSchemas.join.safeParse({}).success);
});

test('join is strict: unknown fields are refused', () => {
  const refused = requestSchemas.join.safeParse({ room: 'live', role: 'viewer', admin: true });
  assert.ok(!refused.success);
  assert.equal(refused.error.issues[0]?.code, 'unrecognized_keys');
});

test('strict payloads refuse unknown fields', () => {
  assert.ok(!requestSchemas.createTransport.safeParse({ direction: 'recv', extra: 1 }).success);
  assert.ok(!requestSchemas.createTransport.safeParse({ direction: 'sideways' }).success);
});

const vp8 = { mimeType: 'video/VP8', payloadType: 96, clockRate: 90000 };
const produceBase = { transportId: 't', kind: 'video', rtpParameters: { codecs: [vp8], encodings: [{ ssrc: 1 }] } };
const produceWithCodec = (codec: Record<string, unknown>, kind = 'video') => ({
  ...produceBase,
  kind,
  rtpParameters: { ...produceBase.rtpParameters, codecs: [codec] },
});

/** The first issue's message when refused (the server answers BAD_REQUEST with it). */
function refusal(payload: unknown): string {
  const parsed = requestSchemas.produce.safeParse(payload);
  assert.ok(!parsed.success, `accepted ${JSON.stringify(payload)}`);
  const issue = parsed.error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
}

test('produce: bounded rtpParameters with 1 to 3 encodings', () => {
  assert.ok(requestSchemas.produce.safeParse(produceBase).success);
  const rtx = { mimeType: 'video/rtx', payloadType: 97, clockRate: 90000, parameters: { apt: 96 } };
  assert.ok(requestSchemas.produce.safeParse({ ...produceBase, rtpParameters: { ...produceBase.rtpParameters, codecs: [vp8, rtx] } }).success);
  const opus = { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, rtcpFeedback: [{ type: 'transport-cc' }] };
  assert.ok(requestSchemas.produce.safeParse(produceWithCodec(opus, 'audio')).success);
  const four = { ...produceBase, rtpParameters: { ...produceBase.rtpParameters, encodings: [{}, {}, {}, {}] } };
  assert.ok(!requestSchemas.produce.safeParse(four).success);
  assert.ok(!requestSchemas.produce.safeParse({ ...produceBase, kind: 'data' }).success);
  assert.ok(!requestSchemas.produce.safeParse({ ...produceBase, extra: 1 }).success);
  const noCodecs = { ...produceBase, rtpParameters: { codecs: [], encodings: [{}] } };
  assert.ok(!requestSchemas.produce.safeParse(noCodecs).success);
});

test('produce: a codec of the other kind is refused (viewers would be told the wrong kind)', () => {
  assert.match(refusal(produceWithCodec(vp8, 'audio')), /^rtpParameters\.codecs\.0\.mimeType: kind is audio but codec video\/VP8 is not$/);
  assert.match(refusal(produceWithCodec({ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000 })), /kind is video but codec audio\/opus is not/);
  // One wrong codec among right ones is enough.
  const mixed = {
    ...produceBase,
    rtpParameters: { ...produceBase.rtpParameters, codecs: [vp8, { mimeType: 'audio/opus', payloadType: 100, clockRate: 48000 }] },
  };
  assert.match(refusal(mixed), /^rtpParameters\.codecs\.1\.mimeType: /);
});

test('produce: payload types are integers 0..127, clock rates positive integers, mime types audio/x or video/x', () => {
  for (const payloadType of [128, -1, 1.5, '96'])
    assert.match(refusal(produceWithCodec({ ...vp8, payloadType })), /^rtpParameters\.codecs\.0\.payloadType: /, String(payloadType));
  for (const payloadType of [0, 127]) assert.ok(requestSchemas.produce.safeParse(produceWithCodec({ ...vp8, payloadType })).success, String(payloadType));
  for (const clockRate of [0, -90000, 90000.5])
    assert.match(refusal(produceWithCodec({ ...vp8, clockRate })), /^rtpParameters\.codecs\.0\.clockRate: /, String(clockRate));
  for (const mimeType of ['VP8', 'video/', 'text/plain', 'video/VP8/x', 'application/rtx']) {
    assert.match(
      refusal(produceWithCodec({ ...vp8, mimeType })),
      /^rtpParameters\.codecs\.0\.mimeType: mimeType must be audio\/<codec> or video\/<codec>$/,
      mimeType,
    );
  }
  const { payloadType: _omitted, ...withoutPayloadType } = vp8;
  assert.match(refusal(produceWithCodec(withoutPayloadType)), /^rtpParameters\.codecs\.0\.payloadType: /);
});

test('server event names: the list the SDK subscribes with', () => {
  assert.equal(new Set(serverEventNames).size, serverEventNames.length);
  assert.ok(serverEventNames.includes('newProducer'));
});

test('preferred layers are bounded', () => {
  assert.ok(requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 2 }).success);
  assert.ok(!requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 3 }).success);
  assert.ok(!requestSchemas.setPreferredLayers.safeParse({ consumerId: 'c', spatialLayer: 1.5 }).success);
});
