/**
 * The relay's RTP rewrite: one outgoing timeline across inputs, continuous
 * sequence numbers and rebased timestamps, modulo 2^16 / 2^32.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { asksForKeyFrame, rebaseOffsets, RtpTimeline, seqNewer, tsNewer } from '../../server/rooms/programRelayRtp.js';

function rtp(seq: number, ts: number, ssrc = 0xabcdef01, pt = 100, marker = false): Buffer {
  const packet = Buffer.alloc(16);
  packet[0] = 0x80;
  packet[1] = (marker ? 0x80 : 0) | pt;
  packet.writeUInt16BE(seq, 2);
  packet.writeUInt32BE(ts >>> 0, 4);
  packet.writeUInt32BE(ssrc, 8);
  return packet;
}

const header = (p: Buffer) => ({ seq: p.readUInt16BE(2), ts: p.readUInt32BE(4), ssrc: p.readUInt32BE(8), pt: p[1]! & 0x7f, marker: (p[1]! & 0x80) !== 0 });

test('serial comparisons wrap', () => {
  assert.ok(seqNewer(0, 65535));
  assert.ok(!seqNewer(65535, 0));
  assert.ok(seqNewer(10, 5));
  assert.ok(tsNewer(5, 0xffff_fff0));
  assert.ok(!tsNewer(0xffff_fff0, 5));
});

test('the first input passes through, on the relay SSRC and payload type, marker kept', () => {
  const timeline = new RtpTimeline({ ssrc: 0x1234, payloadType: 107, clockRate: 90_000, minStep: 3000 });
  const packet = rtp(500, 90_000, 0x9999, 96, true);
  assert.ok(timeline.rewrite(packet, 1000));
  assert.deepEqual(header(packet), { seq: 500, ts: 90_000, ssrc: 0x1234, pt: 107, marker: true });
});

test('a new input continues the sequence and advances the timestamp by the wall-clock gap', () => {
  const timeline = new RtpTimeline({ ssrc: 1, payloadType: 107, clockRate: 90_000, minStep: 3000 });
  for (let i = 0; i < 10; i++) timeline.rewrite(rtp(100 + i, 3000 * i), 1000 + 33 * i);
  // Last sent: seq 109, ts 27000 at 1297 ms. The backup's first packet comes 1 s later.
  timeline.rebase();
  const first = rtp(40_000, 1_234_567);
  timeline.rewrite(first, 2297);
  assert.equal(header(first).seq, 110);
  assert.equal(header(first).ts, 27_000 + 90_000);
  // Its next packets keep their own spacing.
  const next = rtp(40_001, 1_234_567 + 3000);
  timeline.rewrite(next, 2330);
  assert.equal(header(next).seq, 111);
  assert.equal(header(next).ts, 27_000 + 90_000 + 3000);
});

test('rebasing right after the last packet still advances one frame (frames stay ordered)', () => {
  const offsets = rebaseOffsets({ seq: 10, ts: 5000, at: 100 }, { sequenceNumber: 7, timestamp: 50 }, 100, { clockRate: 90_000, minStep: 3000 });
  assert.equal((7 + offsets.seqOffset) % 65536, 11);
  assert.equal((50 + offsets.tsOffset) % 2 ** 32, 8000);
});

test('sequence numbers and timestamps wrap around across a rebase', () => {
  const timeline = new RtpTimeline({ ssrc: 1, payloadType: 111, clockRate: 48_000, minStep: 960 });
  timeline.rewrite(rtp(65_534, 0xffff_fc00), 0);
  timeline.rewrite(rtp(65_535, 0xffff_ffc0), 20);
  timeline.rebase();
  const first = rtp(3, 10);
  timeline.rewrite(first, 40); // 20 ms later: +960
  assert.equal(header(first).seq, 0);
  assert.equal(header(first).ts, (0xffff_ffc0 + 960) % 2 ** 32);
  const second = rtp(4, 970);
  timeline.rewrite(second, 60);
  assert.equal(header(second).seq, 1);
  assert.equal(header(second).ts, (0xffff_ffc0 + 1920) % 2 ** 32);
  // And an input whose own numbers wrap keeps counting on.
  timeline.rebase();
  const a = rtp(65_535, 0xffff_ffff);
  timeline.rewrite(a, 80);
  const b = rtp(0, 959);
  timeline.rewrite(b, 100);
  assert.equal(header(b).seq, (header(a).seq + 1) % 65536);
  assert.equal(header(b).ts, (header(a).ts + 960) % 2 ** 32);
});

test('a reordered packet of the old input does not move the timeline back', () => {
  const timeline = new RtpTimeline({ ssrc: 1, payloadType: 96, clockRate: 90_000, minStep: 3000 });
  timeline.rewrite(rtp(10, 9000), 0);
  timeline.rewrite(rtp(9, 6000), 1); // late
  timeline.rebase();
  const first = rtp(500, 1);
  timeline.rewrite(first, 1);
  assert.equal(header(first).seq, 11);
  assert.equal(header(first).ts, 12_000);
});

test('non-RTP input is refused and left as it was', () => {
  const timeline = new RtpTimeline({ ssrc: 1, payloadType: 96, clockRate: 90_000, minStep: 3000 });
  const junk = Buffer.from([0x00, 1, 2, 3]);
  assert.equal(timeline.rewrite(junk, 0), false);
  assert.deepEqual([...junk], [0, 1, 2, 3]);
});

test('PLI and FIR ask for a key frame; a receiver report or a NACK does not', () => {
  const rr = Buffer.from([0x81, 201, 0, 7, ...Array<number>(28).fill(0)]);
  const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2]);
  const fir = Buffer.from([0x84, 206, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0]);
  const nack = Buffer.from([0x81, 205, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 5, 0, 0]);
  assert.equal(asksForKeyFrame(rr), false);
  assert.equal(asksForKeyFrame(nack), false);
  assert.equal(asksForKeyFrame(pli), true);
  assert.equal(asksForKeyFrame(fir), true);
  assert.equal(asksForKeyFrame(Buffer.concat([rr, pli])), true, 'inside a compound packet');
  assert.equal(asksForKeyFrame(Buffer.from([0x00, 0, 0])), false);
});
