import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRecorderSdp } from '../../server/recorder/recorderSdp.js';
import { parseLadder } from '../../server/recorder/recorderLadder.js';
import { buildLadderArgs } from '../../server/recorder/recorderFfmpegArgs.js';

test('recorder SDP mirrors the consumers: payload types, codecs, fmtp, ports', () => {
  const sdp = buildRecorderSdp([
    {
      kind: 'audio',
      port: 40000,
      rtpParameters: { codecs: [{ mimeType: 'audio/opus', payloadType: 100, clockRate: 48000, channels: 2, parameters: { useinbandfec: 1 } }], encodings: [] },
    },
    {
      kind: 'video',
      port: 40002,
      rtpParameters: {
        codecs: [{ mimeType: 'video/H264', payloadType: 101, clockRate: 90000, parameters: { 'packetization-mode': 1, 'profile-level-id': '42e01f' } }],
        encodings: [],
      },
    },
  ]);
  assert.match(sdp, /^v=0\r\n/);
  assert.match(sdp, /\r\nm=audio 40000 RTP\/AVP 100\r\na=rtpmap:100 opus\/48000\/2\r\na=fmtp:100 useinbandfec=1\r\n/);
  assert.match(sdp, /\r\nm=video 40002 RTP\/AVP 101\r\na=rtpmap:101 H264\/90000\r\na=fmtp:101 packetization-mode=1;profile-level-id=42e01f\r\n/);
  assert.ok(sdp.endsWith('\r\n'));
});

test('ladder: parsed highest first, with bitrates; bad ladders are refused', () => {
  const ladder = parseLadder('240,720p,480');
  assert.deepEqual(
    ladder.map((r) => r.name),
    ['720p', '480p', '240p'],
  );
  assert.ok(ladder[0]!.videoBitrate > ladder[1]!.videoBitrate && ladder[1]!.videoBitrate > ladder[2]!.videoBitrate);
  for (const bad of ['', '721', '100', '720,720', '4320', 'hd', '1080,720,480,360,240,144']) {
    assert.throws(() => parseLadder(bad), Error, bad);
  }
});

test('ffmpeg ladder args: aligned fixed GOPs, never upscaling, one fMP4 output per rendition plus a poster', () => {
  const ladder = parseLadder('720,480,240');
  const args = buildLadderArgs(
    ladder.map((rendition) => ({ rendition, url: `unix:/tmp/x/${rendition.name}.sock` })),
    true,
    '/tmp/thumb.jpg',
  );
  assert.match(args.complexFilter, /^\[0:v:0\]fps=30,split=4\[s0\]\[s1\]\[s2\]\[s3\]/);
  assert.match(args.complexFilter, /min\(720,ih\)/);
  assert.match(args.complexFilter, /min\(240,ih\)/);
  assert.equal(args.outputs.length, 4);
  for (const output of args.outputs.slice(0, 3)) {
    const o = output.options.join(' ');
    assert.match(o, /-g 30 -keyint_min 30 -sc_threshold 0 -bf 0/);
    assert.match(o, /-f mp4 -movflags \+empty_moov\+default_base_moof\+frag_keyframe/);
    assert.match(o, /-map 0:a:0/);
    assert.match(output.url, /^unix:/);
  }
  assert.match(args.outputs[3]!.options.join(' '), /-update 1 -atomic_writing 1/);
  assert.ok(args.inputOptions.includes('-protocol_whitelist'));
  // Without audio, no audio mapping or encoder.
  const silent = buildLadderArgs([{ rendition: ladder[0]!, url: 'unix:/tmp/a.sock' }], false, undefined);
  assert.doesNotMatch(silent.outputs[0]!.options.join(' '), /0:a|aac/);
  assert.equal(silent.outputs.length, 1);
});

test('ffmpeg ladder args with H.264 passthrough: the top rendition is copied, the others keyframe where the source does', () => {
  const ladder = parseLadder('720,480,240');
  const args = buildLadderArgs(
    ladder.map((rendition) => ({ rendition, url: `unix:/tmp/x/${rendition.name}.sock` })),
    true,
    '/tmp/thumb.jpg',
    { passthroughTop: true },
  );
  // Two encoded renditions + the poster; no fps filter (it could drop the keyframe-flagged frame).
  assert.match(args.complexFilter, /^\[0:v:0\]split=3\[s0\]\[s1\]\[s2\];/);
  assert.match(args.complexFilter, /min\(480,ih\)/);
  assert.doesNotMatch(args.complexFilter, /min\(720,ih\)/);
  assert.equal(args.outputs.length, 4);
  const top = args.outputs[0]!;
  assert.equal(top.url, 'unix:/tmp/x/720p.sock');
  assert.match(top.options.join(' '), /^-map 0:v:0 -map 0:a:0 -c:v copy -c:a aac /);
  assert.doesNotMatch(top.options.join(' '), /libx264/);
  for (const output of args.outputs.slice(1, 3)) {
    const o = output.options.join(' ');
    assert.match(o, /-c:v libx264 /);
    assert.match(o, /-force_key_frames source_no_drop /);
    // A fixed output rate: ffmpeg's own guess from RTP can be the 90 kHz clock.
    assert.match(o, /-r 30 /);
    assert.doesNotMatch(o, /-keyint_min 30/);
  }
  assert.deepEqual(
    args.outputs.slice(1, 3).map((o) => o.url),
    ['unix:/tmp/x/480p.sock', 'unix:/tmp/x/240p.sock'],
  );
  // A one-rendition ladder without a poster needs no filter graph at all.
  const single = buildLadderArgs([{ rendition: ladder[0]!, url: 'unix:/tmp/a.sock' }], true, undefined, { passthroughTop: true });
  assert.equal(single.complexFilter, '');
  assert.equal(single.outputs.length, 1);
});
