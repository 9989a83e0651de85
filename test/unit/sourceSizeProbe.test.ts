/**
 * The recorder's source-size probe: the framecrc reader on its own, and the
 * real ffmpeg running the probe branch over a VP8 stream that changes size
 * mid-way (which ffmpeg's renditions would not follow by themselves).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { parseLadder } from '../../server/recorder/recorderLadder.js';
import { buildLadderArgs } from '../../server/recorder/recorderFfmpegArgs.js';
import { SourceSizeReader, type FrameSize } from '../../server/recorder/sourceSizeProbe.js';

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
