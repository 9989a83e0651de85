/**
 * ISO-BMFF box reading and CMAF segmentation on real fragmented MP4 written
 * by ffmpeg (H.264 + AAC, 30 fps, 1 s GOP, -frag_duration 250 ms).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { BoxReader, Mp4ParseError, type Mp4Box } from '../../server/hls/mp4Boxes.js';
import { parseMoof, trackDefaults } from '../../server/hls/mp4Moof.js';
import { parseMoov, type MoovInfo } from '../../server/hls/mp4Moov.js';
import { CmafSegmenter, type CmafPart, type CmafSegment, type SegmenterEvent } from '../../server/hls/cmafSegmenter.js';
import { generateFmp4, killFmp4Generators } from '../helpers/fmp4Fixture.js';

after(() => {
  killFmp4Generators();
});

function readAll(data: Buffer, chunkSize: number): Mp4Box[] {
  const reader = new BoxReader();
  const boxes: Mp4Box[] = [];
  for (let i = 0; i < data.length; i += chunkSize) boxes.push(...reader.push(data.subarray(i, i + chunkSize)));
  assert.equal(reader.bufferedBytes, 0, 'nothing left over');
  return boxes;
}

function segmentAll(boxes: Mp4Box[], segmenter = new CmafSegmenter()): SegmenterEvent[] {
  const events: SegmenterEvent[] = [];
  for (const box of boxes) events.push(...segmenter.push(box));
  events.push(...segmenter.flush());
  return events;
}

const partsOf = (events: SegmenterEvent[]): CmafPart[] => events.flatMap((e) => (e.type === 'part' ? [e.part] : []));
const segmentsOf = (events: SegmenterEvent[]): CmafSegment[] => events.flatMap((e) => (e.type === 'segment' ? [e.segment] : []));

/** A box with a 64-bit (largesize) header carrying the same payload. */
function toLargeSize(box: Mp4Box): Buffer {
  const payload = box.data.subarray(box.headerSize);
  const header = Buffer.alloc(16);
  header.writeUInt32BE(1, 0);
  header.write(box.type, 4, 'latin1');
  header.writeBigUInt64BE(BigInt(16 + payload.length), 8);
  return Buffer.concat([header, payload]);
}

let fmp4: Buffer;
let boxes: Mp4Box[];
let moov: MoovInfo;

before(async () => {
  fmp4 = await generateFmp4(4, { preset: 'veryfast', videoOptions: ['-profile:v', 'high', '-level:v', '3.1'] });
  boxes = readAll(fmp4, 65536);
  moov = parseMoov(boxes.find((b) => b.type === 'moov')!);
});

describe('BoxReader', () => {
  test('splits the stream into top-level boxes whatever the chunking', () => {
    const types = boxes.map((b) => b.type);
    assert.deepEqual(types.slice(0, 2), ['ftyp', 'moov']);
    assert.equal(types.at(-1), 'mfra');
    assert.equal(
      boxes.reduce((n, b) => n + b.size, 0),
      fmp4.length,
    );
    const fragments = types.filter((t) => t === 'moof').length;
    assert.equal(types.filter((t) => t === 'mdat').length, fragments);
    assert.ok(fragments >= 14, `${fragments} fragments for 4 s at ~250 ms`);

    for (const chunkSize of [1, 7, 4096, fmp4.length]) {
      const again = readAll(fmp4, chunkSize);
      assert.deepEqual(
        again.map((b) => `${b.type}:${b.size}`),
        boxes.map((b) => `${b.type}:${b.size}`),
        `chunk size ${chunkSize}`,
      );
      assert.ok(again.every((b, i) => b.data.equals(boxes[i]!.data)));
    }
  });

  test('reads 64-bit box sizes', () => {
    const mdat = boxes.find((b) => b.type === 'mdat')!;
    const large = toLargeSize(mdat);
    const reader = new BoxReader();
    const out = [...reader.push(large.subarray(0, 10)), ...reader.push(large.subarray(10))];
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type, 'mdat');
    assert.equal(out[0]!.headerSize, 16);
    assert.equal(out[0]!.size, large.length);
    assert.ok(out[0]!.data.subarray(16).equals(mdat.data.subarray(8)));
  });

  test('rejects size-0 boxes, bad sizes and garbage, and stays failed', () => {
    const zero = Buffer.from([0, 0, 0, 0, 0x6d, 0x64, 0x61, 0x74]);
    assert.throws(() => new BoxReader().push(zero), Mp4ParseError);
    const tooSmall = Buffer.from([0, 0, 0, 4, 0x6d, 0x64, 0x61, 0x74]);
    assert.throws(() => new BoxReader().push(tooSmall), Mp4ParseError);
    const reader = new BoxReader();
    assert.throws(() => reader.push(Buffer.from('GET / HTTP/1.1\r\n\r\n')), Mp4ParseError);
    assert.throws(() => reader.push(fmp4), Mp4ParseError, 'a failed reader refuses more input');
    reader.reset();
    assert.ok(reader.push(fmp4).length > 0, 'reset recovers');
    assert.throws(() => new BoxReader({ maxBoxSize: 1000 }).push(fmp4.subarray(0, 1300)), /exceeds/);
  });
});

describe('parseMoov / parseMoof', () => {
  test('moov: tracks, timescales, resolution and codec strings', () => {
    assert.equal(moov.tracks.length, 2);
    const video = moov.tracks.find((t) => t.handler === 'vide');
    const audio = moov.tracks.find((t) => t.handler === 'soun');
    assert.ok(video && audio);
    assert.equal(video.codec, 'avc1.64001f', 'High profile, level 3.1');
    assert.equal(video.width, 640);
    assert.equal(video.height, 360);
    assert.ok(video.timescale > 0);
    assert.equal(audio.codec, 'mp4a.40.2');
    assert.equal(audio.timescale, 48000);
    assert.equal(audio.sampleRate, 48000);
    assert.ok(audio.channels! >= 1);
  });

  test('moof: decode times, durations, sample counts and sync flags', () => {
    const defaults = trackDefaults(moov);
    const video = moov.tracks.find((t) => t.handler === 'vide')!;
    const audio = moov.tracks.find((t) => t.handler === 'soun')!;
    const moofs = boxes.filter((b) => b.type === 'moof').map((b) => parseMoof(b, defaults));
    let frames = 0;
    let keyframes = 0;
    let expectedVideoStart = 0;
    let expectedAudioStart = 0;
    moofs.forEach((moof, i) => {
      assert.equal(moof.sequenceNumber, i + 1);
      const v = moof.trafs.find((t) => t.trackId === video.trackId);
      const a = moof.trafs.find((t) => t.trackId === audio.trackId)!;
      assert.ok(a, `fragment ${i} carries audio`);
      // With encoder delay the last fragment may hold only the trailing audio.
      assert.ok(v || i === moofs.length - 1, `fragment ${i} carries video`);
      assert.equal(a.baseMediaDecodeTime, expectedAudioStart, `audio tfdt of fragment ${i}`);
      expectedAudioStart += a.duration;
      assert.equal(a.firstSampleIsSync, true, 'AAC samples are all sync samples');
      assert.ok(a.bytes > 0);
      if (!v) return;
      assert.equal(v.baseMediaDecodeTime, expectedVideoStart, `video tfdt of fragment ${i} continues the previous one`);
      expectedVideoStart += v.duration;
      frames += v.sampleCount;
      assert.ok(v.bytes > 0);
      if (v.firstSampleIsSync) keyframes += 1;
    });
    assert.equal(frames, 120, '4 s at 30 fps');
    assert.equal(keyframes, 4, 'a keyframe every 30 frames, each at a fragment start');
    assert.equal(moofs[0]!.trafs.find((t) => t.trackId === video.trackId)!.firstSampleIsSync, true);
    const seconds = expectedVideoStart / video.timescale;
    assert.ok(Math.abs(seconds - 4) < 0.05, `video lasts ${seconds} s`);
  });
});

describe('CmafSegmenter', () => {
  test('parts are fragments, segments ~1 s starting at keyframes, numbering', () => {
    const events = segmentAll(boxes);
    const first = events[0];
    assert.equal(first?.type, 'init');
    const init = first.init;
    assert.ok(init.data.equals(Buffer.concat([boxes[0]!.data, boxes[1]!.data])), 'init = ftyp + moov');
    assert.equal(init.discontinuity, 0);

    const parts = partsOf(events);
    const segments = segmentsOf(events);
    assert.equal(parts.length, boxes.filter((b) => b.type === 'moof').length);
    assert.equal(segments.length, 4);
    segments.forEach((segment, i) => {
      assert.equal(segment.msn, i);
      // ±1 frame; the last one may also carry trailing audio-only samples.
      const slack = i === segments.length - 1 ? 0.1 : 0.034;
      assert.ok(Math.abs(segment.duration - 1) <= slack, `segment ${i} lasts ${segment.duration} s`);
      assert.equal(segment.parts[0]!.independent, true, 'segments start with a keyframe');
      assert.ok(segment.parts.slice(1).every((p) => !p.independent));
      segment.parts.forEach((p, j) => {
        assert.equal(p.msn, i);
        assert.equal(p.index, j);
        assert.ok(p.duration <= 0.34, `part ${i}.${j} lasts ${p.duration} s`);
        if (p.videoSamples > 0) assert.ok(p.duration >= 0.15, `part ${i}.${j} lasts ${p.duration} s`);
      });
      assert.equal(
        segment.bytes,
        segment.parts.reduce((n, p) => n + p.data.length, 0),
      );
      assert.equal(segment.startsDiscontinuity, false);
    });
    assert.deepEqual(
      parts.map((p) => p.partNumber),
      parts.map((_, i) => i),
      'stream-wide part numbers',
    );
    // The parts are exactly the moof+mdat bytes, in order.
    const media = Buffer.concat(boxes.filter((b) => b.type === 'moof' || b.type === 'mdat').map((b) => b.data));
    assert.ok(Buffer.concat(parts.map((p) => p.data)).equals(media));
    // A 'segment' event comes right before the first part of the next segment.
    const order = events.filter((e) => e.type !== 'warning').map((e) => (e.type === 'part' ? (e.segmentStart ? 'S' : 'p') : e.type[0]));
    assert.match(order.join(''), /^iSp+(sSp+)+s$/);
  });

  test('reads parts whose boxes use 64-bit sizes', () => {
    const rewritten = boxes.map((b) => (b.type === 'mdat' ? toLargeSize(b) : b.data));
    const events = segmentAll(readAll(Buffer.concat(rewritten), 1000));
    assert.equal(segmentsOf(events).length, 4);
    assert.equal(partsOf(events).length, boxes.filter((b) => b.type === 'moof').length);
  });

  test('a longer segment target groups GOPs', () => {
    const segments = segmentsOf(segmentAll(boxes, new CmafSegmenter({ segmentTargetSec: 2 })));
    assert.deepEqual(
      segments.map((s) => Math.round(s.duration)),
      [2, 2],
    );
  });

  test('fragments before the first keyframe are dropped', () => {
    const firstMoof = boxes.findIndex((b) => b.type === 'moof');
    // Init, then start at the second fragment (not a keyframe).
    const cut = [...boxes.slice(0, firstMoof), ...boxes.slice(firstMoof + 2)];
    const events = segmentAll(cut);
    const parts = partsOf(events);
    assert.ok(events.some((e) => e.type === 'warning' && /before the first keyframe/.test(e.message)));
    assert.equal(parts[0]!.independent, true);
    assert.equal(parts[0]!.partNumber, 0);
    assert.equal(segmentsOf(events).length, 3);
  });

  test('restart: the next init starts a discontinuity, numbering continues', () => {
    const segmenter = new CmafSegmenter();
    const first = segmentAll(boxes.slice(0, 12), segmenter).filter((e) => e.type !== 'warning');
    const lastPart = partsOf(first).at(-1)!;
    const flushed = segmenter.restart();
    assert.equal(flushed.length, 0, 'segmentAll already flushed');
    const second: SegmenterEvent[] = [];
    for (const box of boxes) second.push(...segmenter.push(box));
    const init = second.find((e) => e.type === 'init');
    assert.ok(init?.init.discontinuity === 1);
    const firstPart = second.find((e) => e.type === 'part');
    assert.ok(firstPart);
    assert.equal(firstPart.segmentStart, true);
    assert.equal(firstPart.startsDiscontinuity, true);
    assert.equal(firstPart.part.msn, lastPart.msn + 1);
    assert.equal(firstPart.part.partNumber, lastPart.partNumber + 1);
    const later = partsOf(second).filter((p) => p.index === 0);
    assert.ok(later.length > 1);
  });

  test('a changed init mid-stream also starts a discontinuity', () => {
    const segmenter = new CmafSegmenter();
    const events = segmentAll(boxes.slice(0, 12), segmenter);
    const moovBox = boxes[1]!;
    // Same moov repeated: ignored. Different bytes (patched mvhd timescale): new init.
    assert.deepEqual(segmenter.push(boxes[0]!), []);
    assert.deepEqual(segmenter.push(moovBox), []);
    const patched = Buffer.from(moovBox.data);
    const mvhdAt = patched.indexOf('mvhd', 0, 'latin1');
    patched.writeUInt32BE(90000, mvhdAt + 4 + 12);
    const next = segmenter.push({ ...moovBox, data: patched });
    assert.ok(next.some((e) => e.type === 'init' && e.init.discontinuity === 1));
    assert.ok(partsOf(events).length > 0);
  });
});
