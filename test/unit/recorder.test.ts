import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { buildRecorderSdp } from '../../server/recorder/recorderSdp.js';
import { parseLadder } from '../../server/recorder/recorderLadder.js';
import { buildLadderArgs } from '../../server/recorder/recorderFfmpegArgs.js';
import { SourceSizeReader, type FrameSize } from '../../server/recorder/sourceSizeProbe.js';
import { hasTopLevelBox, RenditionSwitch } from '../../server/recorder/renditionSwitch.js';

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

const run = promisify(execFile);

test('framecrc lines (any chunking) become frame sizes, width and height paired by pts', () => {
  const text = [
    '#software: Lavf59.27.100',
    '#dimensions 0: 640x1',
    '0,          0,          0,        1,      640, 0x607b2997',
    '1,          0,          0,        1,      360, 0x99b5a74d',
    '1,          1,          1,        1,      720, 0x99b5a74d',
    '0,          1,          1,        1,     1280, 0xc2ba542c',
    'garbage',
    '',
  ].join('\n');
  const reader = new SourceSizeReader();
  const sizes: FrameSize[] = [];
  // One byte at a time: lines split anywhere.
  for (const byte of Buffer.from(text)) sizes.push(...reader.push(Buffer.from([byte])));
  assert.deepEqual(sizes, [
    { width: 640, height: 360 },
    { width: 1280, height: 720 },
  ]);
});

test('the probe output goes with any ladder, passthrough or not, as one more branch of the split', () => {
  const ladder = parseLadder('720,240');
  for (const passthroughTop of [false, true]) {
    const args = buildLadderArgs(
      ladder.map((rendition) => ({ rendition, url: `unix:/tmp/x/${rendition.name}.sock` })),
      true,
      '/tmp/thumb.jpg',
      { passthroughTop, sizeProbeUrl: 'unix:/tmp/x/probe.sock' },
    );
    const branches = (passthroughTop ? 1 : 2) + 2;
    assert.match(args.complexFilter, new RegExp(`split=${branches}`));
    assert.match(args.complexFilter, new RegExp(`\\[s${branches - 1}\\]fps=2,split=2`));
    const probe = args.outputs.at(-1)!;
    assert.equal(probe.url, 'unix:/tmp/x/probe.sock');
    assert.match(probe.options.join(' '), /-map \[probew\] -map \[probeh\] -autoscale 0 -c:v rawvideo -f framecrc/);
  }
});

test('real ffmpeg: the probe reports the size the source changes to, while a rendition keeps its first size', { timeout: 60_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fl-size-probe-'));
  try {
    // 1 s at 320x180, then 1 s at 640x360, in one VP8 stream.
    for (const [name, size] of [
      ['a', '320x180'],
      ['b', '640x360'],
    ] as const) {
      await run('ffmpeg', ['-v', 'error', '-f', 'lavfi', '-i', `testsrc=s=${size}:r=30:d=1`, '-c:v', 'libvpx', '-b:v', '300k', path.join(dir, `${name}.ivf`)]);
    }
    fs.writeFileSync(path.join(dir, 'list.txt'), 'file a.ivf\nfile b.ivf\n');
    await run('ffmpeg', ['-v', 'error', '-f', 'concat', '-i', path.join(dir, 'list.txt'), '-c', 'copy', path.join(dir, 'ab.ivf')]);

    const [rendition] = parseLadder('720');
    const rendered = path.join(dir, 'rendition.mp4');
    const probed = path.join(dir, 'probe.txt');
    const args = buildLadderArgs([{ rendition: rendition!, url: rendered }], false, undefined, { sizeProbeUrl: probed });
    await run('ffmpeg', [
      ...['-v', 'error', '-y', '-i', path.join(dir, 'ab.ivf'), '-filter_complex', args.complexFilter],
      ...args.outputs.flatMap((o) => [...o.options, o.url]),
    ]);
    const sizes = new SourceSizeReader().push(fs.readFileSync(probed)).map((s) => `${s.width}x${s.height}`);
    assert.deepEqual([...new Set(sizes)], ['320x180', '640x360'], sizes.join(' '));
    const { stdout } = await run('ffprobe', ['-v', 'error', '-show_entries', 'stream=width,height', '-of', 'csv=p=0:s=x', rendered]);
    assert.equal(stdout.trim(), '320x180', 'ffmpeg keeps a rendition at its first size: hence the probe');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

/** An fMP4 top-level box of `type` with `payload` bytes. */
const box = (type: string, payload = 4): Buffer => {
  const buffer = Buffer.alloc(8 + payload);
  buffer.writeUInt32BE(8 + payload, 0);
  buffer.write(type, 4, 'latin1');
  return buffer;
};

test('rendition switch: the new ffmpeg takes over at its first fragment, with one restart, and the old one is cut off', () => {
  const calls: string[] = [];
  const sink = { write: (chunk: Buffer) => calls.push(`write ${chunk.length}`), restart: () => calls.push('restart') };
  const renditionSwitch = new RenditionSwitch(sink);
  // The first ffmpeg: no restart before its first bytes, which wait for a fragment.
  assert.equal(renditionSwitch.write(0, Buffer.concat([box('ftyp'), box('moov')]), 0), false);
  assert.deepEqual(calls, []);
  assert.equal(renditionSwitch.write(0, box('moof', 8), 0), true);
  assert.deepEqual(calls, ['write 40']);
  renditionSwitch.write(0, box('mdat', 100), 0);
  // A re-plan: generation 1 starts; generation 0 goes on feeding until 1 has a fragment.
  assert.equal(renditionSwitch.write(1, Buffer.concat([box('ftyp'), box('moov')]), 1), false);
  renditionSwitch.write(0, box('moof'), 1);
  // The fragment's header split across writes still counts once complete.
  const moof = box('moof', 8);
  assert.equal(renditionSwitch.write(1, moof.subarray(0, 5), 1), false);
  assert.equal(renditionSwitch.write(1, moof.subarray(5), 1), true);
  renditionSwitch.write(0, box('mdat'), 1);
  assert.deepEqual(calls, ['write 40', 'write 108', 'write 12', 'restart', 'write 40']);
  assert.equal(renditionSwitch.liveGeneration, 1);
  // ffmpeg 1 dies and is restarted by its supervisor: a restart, then its bytes straight through.
  renditionSwitch.restart(1);
  renditionSwitch.write(1, box('ftyp'), 1);
  assert.deepEqual(calls.slice(-2), ['restart', 'write 12']);
  assert.equal(hasTopLevelBox(Buffer.from([0, 0, 0, 0, 0x6d, 0x6f, 0x6f, 0x66]), 'moov'), false, 'size 0 ends the walk');
});
