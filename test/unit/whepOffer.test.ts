/**
 * WHEP's SDP side without a worker: a player's recvonly offer is read into
 * the capabilities to consume with (the router's numbers), `honours` says
 * whether an answer can describe the consumer as the player offered it (else
 * 406 + counter-offer), bad offers are refused with the right status, and the
 * answer / counter-offer carry what a player needs (sendonly, SSRCs with RTX
 * as FID, ICE-lite, candidates; a rejected m-line outside BUNDLE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { types as ms } from 'mediasoup';
import { consumeCapabilities, honours, planWhepOffer } from '../../server/egress/whep/whepOffer.js';
import { buildWhepDescription } from '../../server/egress/whep/whepAnswer.js';
import { SdpOfferError } from '../../server/webrtc/sdp/remoteDescription.js';
import { fakeTransport, routerCapabilities } from '../helpers/routerCapabilities.js';

const capabilities = routerCapabilities();
const MID = 'urn:ietf:params:rtp-hdrext:sdes:mid';
const routerPt = (mimeType: string): number => capabilities.codecs!.find((c) => c.mimeType === mimeType)!.preferredPayloadType;
const routerMidId = capabilities.headerExtensions!.find((h) => h.uri === MID && h.kind === 'video')!.preferredId;

/** A player's offer (Chromium's shape) with the given payload types and MID extension id. */
function offer(numbers: { opus: number; vp8: number; rtx: number; midId: number }, direction = 'recvonly'): string {
  const common = (mid: string) => [
    'c=IN IP4 0.0.0.0',
    'a=ice-ufrag:plyr',
    'a=ice-pwd:playerpasswordplayerpass',
    'a=fingerprint:sha-256 01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF',
    'a=setup:actpass',
    `a=mid:${mid}`,
    `a=extmap:${numbers.midId} ${MID}`,
    `a=${direction}`,
    'a=rtcp-mux',
    'a=rtcp-rsize',
  ];
  return `${[
    'v=0',
    'o=- 1 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE 0 1',
    `m=audio 9 UDP/TLS/RTP/SAVPF ${numbers.opus}`,
    ...common('0'),
    `a=rtpmap:${numbers.opus} opus/48000/2`,
    `a=fmtp:${numbers.opus} minptime=10;useinbandfec=1`,
    `m=video 9 UDP/TLS/RTP/SAVPF ${numbers.vp8} ${numbers.rtx}`,
    ...common('1'),
    `a=rtpmap:${numbers.vp8} VP8/90000`,
    `a=rtcp-fb:${numbers.vp8} nack`,
    `a=rtcp-fb:${numbers.vp8} nack pli`,
    `a=rtpmap:${numbers.rtx} rtx/90000`,
    `a=fmtp:${numbers.rtx} apt=${numbers.vp8}`,
  ].join('\r\n')}\r\n`;
}

const routerNumbers = { opus: routerPt('audio/opus'), vp8: routerPt('video/VP8'), rtx: routerPt('video/VP8') + 1, midId: routerMidId };
const chromiumNumbers = { opus: 111, vp8: 96, rtx: 97, midId: 4 };

/** The consumer mediasoup would make on a fresh transport (router numbers, mids from 0). */
function consumerOf(kind: ms.MediaKind, mid: string): ms.RtpParameters {
  const media =
    kind === 'audio' ? capabilities.codecs!.find((c) => c.mimeType === 'audio/opus')! : capabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!;
  const codecs: ms.RtpCodecParameters[] = [
    {
      mimeType: media.mimeType,
      payloadType: media.preferredPayloadType,
      clockRate: media.clockRate,
      ...(media.channels ? { channels: media.channels } : {}),
      parameters: {},
    },
  ];
  if (kind === 'video')
    codecs.push({ mimeType: 'video/rtx', payloadType: media.preferredPayloadType + 1, clockRate: 90000, parameters: { apt: media.preferredPayloadType } });
  return {
    mid,
    codecs,
    headerExtensions: [{ uri: MID, id: routerMidId }],
    encodings: [kind === 'video' ? { ssrc: 1111, rtx: { ssrc: 2222 } } : { ssrc: 3333 }],
    rtcp: { cname: 'room-cname', reducedSize: true },
  };
}

test('an offer with the router numbers is honoured: 201 with an answer', () => {
  const plan = planWhepOffer(offer(routerNumbers));
  assert.deepEqual(
    plan.media.map((m) => [m.kind, m.mid]),
    [
      ['audio', '0'],
      ['video', '1'],
    ],
  );
  const video = consumeCapabilities(plan.media[1]!, capabilities);
  assert.deepEqual(
    video.codecs!.map((c) => c.mimeType),
    ['video/VP8', 'video/rtx'],
  );
  assert.deepEqual(
    video.headerExtensions!.map((h) => [h.uri, h.preferredId]),
    [[MID, routerMidId]],
  );
  assert.ok(honours(plan.media[0]!, consumerOf('audio', '0')));
  assert.ok(honours(plan.media[1]!, consumerOf('video', '1')));
  assert.equal(plan.remote.localSetup, 'passive');
});

test("Chromium's own numbers (VP8 96, MID id 4) cannot be honoured: consumed with the router's, counter-offered", () => {
  const plan = planWhepOffer(offer(chromiumNumbers));
  const video = consumeCapabilities(plan.media[1]!, capabilities);
  assert.equal(video.codecs![0]!.preferredPayloadType, routerPt('video/VP8'), 'the router payload type, whatever the player offered');
  assert.equal(honours(plan.media[1]!, consumerOf('video', '1')), false);
  assert.equal(honours(plan.media[0]!, consumerOf('audio', '0')), false);
  // Same numbers, other mid: the consumer's MID header extension would lie.
  assert.equal(honours(planWhepOffer(offer(routerNumbers)).media[1]!, consumerOf('video', '0')), false);
});

test('bad offers are refused with the right status', () => {
  const good = offer(routerNumbers);
  const cases: [string, string, 400 | 422, RegExp][] = [
    ['not SDP', 'hello', 400, /v=0/],
    ['sendrecv', offer(routerNumbers, 'sendrecv'), 422, /recvonly/],
    ['sendonly', offer(routerNumbers, 'sendonly'), 422, /recvonly/],
    ['two video m-lines', good + good.slice(good.indexOf('m=video')).replace('a=mid:1', 'a=mid:2'), 422, /at most one video/],
    ['no fingerprint', good.replace(/a=fingerprint:[^\r\n]*\r\n/g, ''), 400, /fingerprint/],
    ['only RTX', good.replace(/m=video 9 UDP\/TLS\/RTP\/SAVPF \d+ /, 'm=video 9 UDP/TLS/RTP/SAVPF '), 422, /no media codec/],
  ];
  for (const [name, sdp, status, message] of cases) {
    assert.throws(
      () => planWhepOffer(sdp),
      (error: unknown) => error instanceof SdpOfferError && error.status === status && message.test(error.message),
      name,
    );
  }
});

test('the answer sends (sendonly, SSRCs with an FID group, candidates); a rejected m-line stays out of BUNDLE; a counter-offer says actpass', () => {
  const answer = buildWhepDescription({
    type: 'answer',
    sections: [
      { kind: 'audio', mid: '0', consumer: undefined, rejectedPayloadType: 111 },
      { kind: 'video', mid: '1', consumer: consumerOf('video', '1') },
    ],
    transport: fakeTransport,
    localSetup: 'passive',
    streamId: 'floodlight-room',
  });
  const lines = answer.split('\r\n');
  assert.ok(lines.includes('a=group:BUNDLE 1'), answer);
  assert.ok(lines.includes('m=audio 0 UDP/TLS/RTP/SAVPF 111'));
  assert.ok(lines.includes('a=ice-lite'));
  assert.ok(lines.includes('a=setup:passive'));
  assert.ok(lines.includes('a=sendonly'));
  assert.ok(lines.includes(`a=rtpmap:${routerPt('video/VP8')} VP8/90000`));
  assert.ok(lines.includes('a=ssrc-group:FID 1111 2222'));
  assert.ok(lines.includes('a=ssrc:1111 cname:room-cname'));
  assert.ok(lines.includes(`a=extmap:${routerMidId} ${MID}`));
  assert.ok(lines.includes('a=candidate:udpcandidate 1 udp 1076302079 127.0.0.1 40001 typ host'));
  const counter = buildWhepDescription({
    type: 'offer',
    sections: [{ kind: 'video', mid: '0', consumer: consumerOf('video', '0') }],
    transport: fakeTransport,
    localSetup: 'passive',
    streamId: 'floodlight-room',
  });
  assert.match(counter, /a=setup:actpass/);
  assert.match(counter, /a=group:BUNDLE 0\r\n/);
});
