/**
 * RenditionPackager / HlsRoomPackager on real fMP4 from ffmpeg: files on disk,
 * playlist evolution, preload hints, blocking waits, restarts, the sliding
 * window, atomic writes and disk errors.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BoxReader, Mp4ParseError } from '../../server/hls/mp4Boxes.js';
import { HlsDiskError, type PackagerFs } from '../../server/hls/packagerFiles.js';
import { RenditionPackager } from '../../server/hls/renditionPackager.js';
import { declaredBandwidth, HlsRoomPackager } from '../../server/hls/roomPackager.js';
import { waitFor } from '../helpers/wait.js';
import { generateFmp4, killFmp4Generators } from '../helpers/fmp4Fixture.js';

let tmpRoot: string;
let dirCounter = 0;

/** The stream cut into feedable units: init (ftyp+moov), then one unit per fragment. */
interface Units {
  init: Buffer;
  fragments: Buffer[];
  all: Buffer;
}

function cut(data: Buffer): Units {
  const boxes = new BoxReader().push(data);
  const init = Buffer.concat(boxes.filter((b) => b.type === 'ftyp' || b.type === 'moov').map((b) => b.data));
  const fragments: Buffer[] = [];
  let current: Buffer[] = [];
  for (const box of boxes) {
    if (box.type === 'moof') current = [box.data];
    else if (box.type === 'mdat') fragments.push(Buffer.concat([...current, box.data]));
  }
  return { init, fragments, all: data };
}

/**
 * Lets every callback already due run (timers at 0, I/O, promise jobs). The
 * packager resolves its waiters synchronously when it publishes, so a waiter
 * that has not resolved after this will not resolve without a new publication.
 */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function newDir(): string {
  return path.join(tmpRoot, `r${++dirCounter}`);
}

async function feed(packager: RenditionPackager, chunks: Buffer[]): Promise<void> {
  for (const chunk of chunks) packager.write(chunk);
  await packager.idle();
}

const files = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const partUris = (text: string): string[] => [...text.matchAll(/#EXT-X-PART:[^\n]*URI="([^"]+)"/g)].map((m) => m[1]!);
const hintUri = (text: string): string | undefined => /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/.exec(text)?.[1];
const segmentUris = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('seg-'));

let units: Units;

before(async () => {
  tmpRoot = await fsp.mkdtemp(path.join(os.tmpdir(), 'hls-packager-'));
  units = cut(await generateFmp4(4));
  assert.ok(units.fragments.length >= 14);
});

after(async () => {
  killFmp4Generators();
  await fsp.rm(tmpRoot, { recursive: true, force: true });
});

describe('RenditionPackager', () => {
  test('writes init, parts, segments and the playlist; segments are their parts concatenated', async () => {
    const dir = newDir();
    const packager = new RenditionPackager({ dir, sessionId: 'abc' });
    await feed(packager, [units.init, ...units.fragments]);
    const live = packager.playlist!;
    assert.ok(live);
    assert.equal(fs.readFileSync(path.join(dir, 'index.m3u8'), 'utf8'), live);
    assert.match(live, /#EXT-X-MAP:URI="init-abc-0\.mp4"/);
    assert.match(live, /#EXT-X-PART-INF:PART-TARGET=0\.267/, 'auto part target: longest part of the first segment');
    assert.ok(fs.readFileSync(path.join(dir, 'init-abc-0.mp4')).equals(units.init));
    assert.deepEqual(segmentUris(live), ['seg-abc-0.m4s', 'seg-abc-1.m4s', 'seg-abc-2.m4s']);
    assert.ok(hintUri(live));

    await packager.end();
    const ended = packager.playlist;
    assert.ok(ended.endsWith('#EXT-X-ENDLIST\n'));
    assert.equal(hintUri(ended), undefined);
    assert.deepEqual(segmentUris(ended), ['seg-abc-0.m4s', 'seg-abc-1.m4s', 'seg-abc-2.m4s', 'seg-abc-3.m4s']);

    // Every part file, in order, is exactly the stream's fragments; each segment file is its parts.
    const allParts = files(dir)
      .filter((f) => f.startsWith('part-'))
      .sort((a, b) => Number(/(\d+)\.m4s/.exec(a)![1]) - Number(/(\d+)\.m4s/.exec(b)![1]));
    assert.equal(allParts.length, units.fragments.length);
    assert.ok(Buffer.concat(allParts.map((f) => fs.readFileSync(path.join(dir, f)))).equals(Buffer.concat(units.fragments)));
    const segs = Buffer.concat(segmentUris(ended).map((f) => fs.readFileSync(path.join(dir, f))));
    assert.ok(segs.equals(Buffer.concat(units.fragments)));
    // The parts listed under each EXTINF belong to it.
    const blocks = ended.split(/#EXTINF:[^\n]*\n(seg-[^\n]+)\n/);
    for (let i = 1; i < blocks.length; i += 2) {
      const listed = partUris(blocks[i - 1]!);
      if (listed.length === 0) continue;
      const concat = Buffer.concat(listed.map((f) => fs.readFileSync(path.join(dir, f))));
      assert.ok(concat.equals(fs.readFileSync(path.join(dir, blocks[i]!))), `${blocks[i]} = its parts`);
    }
    const info = packager.info()!;
    assert.deepEqual(
      info.codecs.map((c) => c.split('.')[0]),
      ['avc1', 'mp4a'],
    );
    assert.equal(info.width, 640);
    assert.equal(info.height, 360);
    assert.equal(info.frameRate, 30);
    assert.ok(info.averageBandwidth !== undefined && info.bandwidth >= info.averageBandwidth && info.averageBandwidth > 100_000);
    await packager.close();
    assert.equal(files(dir).filter((f) => f.endsWith('.tmp')).length, 0, 'no temp files left');
  });

  test('first playlist when the first segment is complete; the preload hint is always the next part', async () => {
    const dir = newDir();
    const packager = new RenditionPackager({ dir });
    const published: string[] = [];
    packager.on('published', () => published.push(packager.playlist!));
    await feed(packager, [units.init]);
    let previous: string | undefined;
    for (const [i, fragment] of units.fragments.entries()) {
      await feed(packager, [fragment]);
      const text = packager.playlist;
      if (i < 4) {
        // Parts of the first segment: the part target is not known yet.
        assert.equal(text, undefined, `nothing published after fragment ${i}`);
        assert.ok(!files(dir).includes('index.m3u8'));
        continue;
      }
      assert.ok(text);
      const status = packager.status();
      assert.equal(status.ready, true);
      if (previous) {
        const hinted = hintUri(previous)!;
        assert.ok(partUris(text).includes(hinted), `hinted ${hinted} is published next`);
        assert.ok(!partUris(previous).includes(hinted));
        assert.equal(partUris(text).at(-1), hinted, 'and it is the last part now');
        assert.ok(fs.existsSync(path.join(dir, hinted)), 'files exist before the playlist names them');
      }
      assert.equal(hintUri(text), `part-${packager.sessionId}-${i + 1}.m4s`);
      previous = text;
    }
    assert.equal(published.length, units.fragments.length - 4);
    await packager.close();
  });

  test('waitFor resolves when the part appears and not before; times out otherwise', async () => {
    const packager = new RenditionPackager({ dir: newDir(), partTargetSec: 0.267 });
    await feed(packager, [units.init, ...units.fragments.slice(0, 6)]);
    const { lastMsn, lastPart } = packager.status();
    assert.deepEqual([lastMsn, lastPart], [1, 1], 'fragments 4 and 5 are parts 0 and 1 of segment 1');

    assert.equal(await packager.waitFor(lastMsn, lastPart, 1000), true, 'already there');
    assert.equal(await packager.waitFor(0, undefined, 1000), true, 'segment 0 is complete');

    /** When each wait below ended (performance.now()). */
    const endedAt = new Map<'next' | 'segment' | 'pastEnd', number>();
    const track = (name: 'next' | 'segment' | 'pastEnd', wait: Promise<boolean>) => wait.then((ok) => (endedAt.set(name, performance.now()), ok));
    const next = track('next', packager.waitFor(lastMsn, lastPart + 1, 5000));
    const segment = track('segment', packager.waitFor(1, undefined, 5000));
    // Part index past the end of segment 1 = part 0 of segment 2.
    const pastEnd = track('pastEnd', packager.waitFor(1, 9, 5000));
    await settle();
    assert.equal(endedAt.has('next'), false, 'not before the part exists');

    packager.write(units.fragments[6]!);
    await packager.idle();
    const publishedAt = performance.now();
    assert.equal(await next, true);
    const nextAt = endedAt.get('next');
    assert.ok(nextAt !== undefined && nextAt <= publishedAt);
    assert.ok(partUris(packager.playlist!).includes(`part-${packager.sessionId}-6.m4s`), 'the playlist has it when the wait ends');
    await settle();
    assert.equal(endedAt.has('segment'), false, 'segment 1 is still open');
    assert.equal(endedAt.has('pastEnd'), false);

    await feed(packager, [units.fragments[7]!, units.fragments[8]!]);
    assert.equal(await segment, true);
    assert.equal(await pastEnd, true);
    assert.deepEqual([packager.status().lastMsn, packager.status().lastPart], [2, 0]);

    const started = performance.now();
    assert.equal(await packager.waitFor(9, 0, 150), false, 'timeout');
    assert.ok(performance.now() - started >= 140);

    // A request for the hinted part waits for it, one far ahead does not.
    const hinted = hintUri(packager.playlist!)!;
    const fileWait = packager.waitForFile(hinted, 5000);
    assert.equal(await packager.waitForFile(`part-${packager.sessionId}-99.m4s`, 5000), false);
    assert.equal(await packager.waitForFile('part-othersid-9.m4s', 5000), false);
    await feed(packager, [units.fragments[9]!]);
    assert.equal(await fileWait, true);
    assert.ok(fs.existsSync(path.join(packager.dir, hinted)));

    // Close ends pending waits with false; after end() they succeed at once.
    const pending = packager.waitFor(50, 0, 10_000);
    await packager.close();
    assert.equal(await pending, false);
  });

  test('waits end with true when the stream ends', async () => {
    const packager = new RenditionPackager({ dir: newDir(), partTargetSec: 0.267 });
    await feed(packager, [units.init, ...units.fragments.slice(0, 5)]);
    const pending = packager.waitFor(3, 0, 10_000);
    await packager.end();
    assert.equal(await pending, true);
    assert.equal(await packager.waitFor(40, 0, 10), true, 'directives are moot after ENDLIST');
    packager.write(units.fragments[5]!);
    await packager.idle();
    assert.ok(packager.playlist!.endsWith('#EXT-X-ENDLIST\n'), 'writes after end() are ignored');
    await packager.close();
    await packager.close();
  });

  test('restart: discontinuity, new init, same playlist, numbering continues', async () => {
    const dir = newDir();
    const packager = new RenditionPackager({ dir, sessionId: 'rs', liveWindowSegments: 6, retainSegments: 1 });
    // Half a fragment in flight when the producer dies: dropped.
    await feed(packager, [units.init, ...units.fragments.slice(0, 10), units.fragments[10]!.subarray(0, 100)]);
    const before = packager.status();
    packager.restart();
    await feed(packager, [units.all.subarray(0, 5000), units.all.subarray(5000)]);
    const text = packager.playlist!;
    const lines = text.split('\n');
    const disc = lines.indexOf('#EXT-X-DISCONTINUITY');
    assert.ok(disc > 0, text);
    assert.equal(lines[disc + 1], '#EXT-X-MAP:URI="init-rs-1.mp4"');
    assert.ok(fs.readFileSync(path.join(dir, 'init-rs-1.mp4')).equals(units.init));
    assert.equal(lines.filter((l) => l.startsWith('#EXT-X-MAP')).length, 2);
    // Segment 2 was cut short by the restart; the new stream starts with segment 3.
    assert.equal(lines[disc - 1], 'seg-rs-2.m4s');
    assert.match(lines[disc + 3]!, /^#EXT-X-PART:.*URI="part-rs-10\.m4s",INDEPENDENT=YES$/);
    assert.equal(before.lastMsn, 2);
    assert.match(text, /^#EXT-X-DISCONTINUITY-SEQUENCE:0$/m);

    // Once the discontinuity slides out of the window, the sequence number counts it.
    packager.restart();
    await feed(packager, [units.all]);
    packager.restart();
    await feed(packager, [units.all]);
    const later = packager.playlist!;
    assert.match(later, /^#EXT-X-DISCONTINUITY-SEQUENCE:2$/m, later);
    assert.equal(later.split('\n').filter((l) => l === '#EXT-X-DISCONTINUITY').length, 1);
    await packager.close();
  });

  test('sliding window: old segments, parts and inits are deleted behind the playlist', async () => {
    const dir = newDir();
    const packager = new RenditionPackager({ dir, sessionId: 'win', liveWindowSegments: 3, retainSegments: 1 });
    await feed(packager, [units.all]);
    for (let i = 0; i < 3; i++) {
      packager.restart();
      await feed(packager, [units.all]);
    }
    // 16 segments so far (4 per stream), 15 complete.
    const text = packager.playlist!;
    assert.deepEqual(segmentUris(text), ['seg-win-12.m4s', 'seg-win-13.m4s', 'seg-win-14.m4s']);
    assert.match(text, /^#EXT-X-MEDIA-SEQUENCE:12$/m);
    const onDisk = files(dir);
    assert.deepEqual(
      onDisk.filter((f) => f.startsWith('seg-')),
      ['seg-win-11.m4s', 'seg-win-12.m4s', 'seg-win-13.m4s', 'seg-win-14.m4s'],
      'window + 1 retained',
    );
    assert.deepEqual(
      onDisk.filter((f) => f.startsWith('init-')),
      ['init-win-2.mp4', 'init-win-3.mp4'],
      'inits nobody needs are gone (retained segment 11 still needs init 2)',
    );
    // Part files are kept for the part window (3 target durations) and as long again.
    const partNumbers = onDisk.filter((f) => f.startsWith('part-')).map((f) => Number(/(\d+)\.m4s$/.exec(f)![1]));
    const listed = partUris(text).map((f) => Number(/(\d+)\.m4s$/.exec(f)![1]));
    assert.ok(Math.min(...partNumbers) <= Math.min(...listed), 'listed parts exist');
    assert.ok(Math.min(...partNumbers) > 0, 'early parts deleted');
    for (const f of partUris(text)) assert.ok(onDisk.includes(f), `${f} exists`);
    await packager.end();
    await packager.close({ removeFiles: true });
    assert.equal(fs.existsSync(dir), false, 'close({ removeFiles }) removes everything');
  });

  test('DVR window keeps seconds of segments; an infinite one makes an EVENT playlist', async () => {
    const dvr = new RenditionPackager({ dir: newDir(), dvrWindowSec: 7, liveWindowSegments: 3 });
    const event = new RenditionPackager({ dir: newDir(), dvrWindowSec: Infinity, liveWindowSegments: 3 });
    for (const p of [dvr, event]) {
      await feed(p, [units.all]);
      p.restart();
      await feed(p, [units.all]);
      p.restart();
      await feed(p, [units.all]);
    }
    const dvrSegments = segmentUris(dvr.playlist!);
    assert.equal(dvrSegments.length, 7, '7 s of 1 s segments');
    assert.ok(!dvr.playlist!.includes('PLAYLIST-TYPE'));
    assert.equal(segmentUris(event.playlist!).length, 11);
    assert.match(event.playlist!, /^#EXT-X-PLAYLIST-TYPE:EVENT$/m);
    assert.match(event.playlist!, /^#EXT-X-MEDIA-SEQUENCE:0$/m);
    await dvr.close();
    await event.close();
  });

  test('EXT-X-TARGETDURATION is raised, never lowered, when segments need it', async () => {
    const packager = new RenditionPackager({ dir: newDir(), segmentTargetSec: 2, targetDuration: 1 });
    const warnings: string[] = [];
    packager.on('warning', (w) => warnings.push(w));
    await feed(packager, [units.all]);
    await packager.end();
    assert.match(packager.playlist!, /^#EXT-X-TARGETDURATION:2$/m);
    assert.ok(warnings.some((w) => /raising EXT-X-TARGETDURATION from 1 to 2/.test(w)));
    await packager.close();
  });

  test('a first segment made long by bunched start-up key frames is left out; the target duration stays', async () => {
    // Key frames at 0, 0.2 and 0.6 s, then none until 1.6 s (a browser that swallowed a
    // request right after going live), then every second.
    const bunched = cut(await generateFmp4(5, { videoOptions: ['-force_key_frames', '0,0.2,0.6', '-g', '30', '-keyint_min', '1'] }));
    const dir = newDir();
    const packager = new RenditionPackager({ dir, sessionId: 'st' });
    const warnings: string[] = [];
    packager.on('warning', (w) => warnings.push(w));
    await feed(packager, [bunched.init, ...bunched.fragments]);
    const text = packager.playlist!;
    assert.match(text, /^#EXT-X-TARGETDURATION:1$/m, text);
    assert.match(text, /^#EXT-X-MEDIA-SEQUENCE:1$/m, 'the long first segment is not listed');
    assert.ok(
      warnings.some((w) => /first segment 0 lasts 1\.\d+ s although key frames came sooner/.test(w)),
      warnings.join('\n'),
    );
    const durations = [...text.matchAll(/#EXTINF:([\d.]+)/g)].map((m) => Number(m[1]));
    assert.ok(durations.length >= 2 && durations.every((d) => d < 1.5), `listed: ${durations.join(' ')}`);
    assert.ok(!files(dir).includes('seg-st-0.m4s'), 'its files are gone');
    assert.ok(!files(dir).some((f) => f === 'part-st-0.m4s'), 'its parts too');
    await packager.end();
    assert.match(packager.playlist!, /#EXT-X-ENDLIST/);
    assert.match(packager.playlist!, /^#EXT-X-TARGETDURATION:1$/m);
    await packager.close();
  });

  test('an encoder whose GOP is longer than the target still raises it from the first segment', async () => {
    const longGop = cut(await generateFmp4(5, { videoOptions: ['-g', '60', '-keyint_min', '60'] }));
    const packager = new RenditionPackager({ dir: newDir(), sessionId: 'lg' });
    await feed(packager, [longGop.init, ...longGop.fragments]);
    assert.match(packager.playlist!, /^#EXT-X-TARGETDURATION:2$/m);
    assert.match(packager.playlist!, /^#EXT-X-MEDIA-SEQUENCE:0$/m, 'its first segment is listed');
    await packager.close();
  });

  test('a gap in the input raises PART-TARGET only while its long part is listed', async () => {
    // 1.2 s without video frames after 1.5 s (a frozen encoder, a backup switch): one long part.
    const gap = cut(await generateFmp4(16, { videoOptions: ['-vf', "setpts='if(gte(T,1.5),PTS+1.2/TB,PTS)'", '-fps_mode', 'passthrough'] }));
    const packager = new RenditionPackager({ dir: newDir(), partTargetSec: 0.267, liveWindowSegments: 3 });
    const warnings: string[] = [];
    packager.on('warning', (w) => warnings.push(w));
    const partTargets = new Set<string>();
    for (const fragment of [gap.init, ...gap.fragments]) {
      await feed(packager, [fragment]);
      const target = /PART-TARGET=([\d.]+)/.exec(packager.playlist ?? '')?.[1];
      if (target) partTargets.add(target);
    }
    assert.ok(
      warnings.some((w) => /raising it to 1\.\d+ while that part is listed/.test(w)),
      warnings.join('\n'),
    );
    assert.ok(
      [...partTargets].some((t) => Number(t) > 1),
      `raised while listed: ${[...partTargets].join(', ')}`,
    );
    assert.match(packager.playlist!, /PART-TARGET=0\.267\b/, 'back to the configured target once the long part left the playlist');
    assert.match(packager.playlist!, /PART-HOLD-BACK=0\.801\b/);
    await packager.close();
  });

  test('files of an earlier packager in the directory are removed at start', async () => {
    const dir = newDir();
    await fsp.mkdir(dir, { recursive: true });
    for (const f of ['index.m3u8', 'seg-old-1.m4s', 'part-old-3.m4s', 'init-old-0.mp4', '.index.m3u8.1.2.tmp', 'keep.txt']) {
      await fsp.writeFile(path.join(dir, f), 'x');
    }
    const packager = new RenditionPackager({ dir });
    await packager.idle();
    assert.deepEqual(files(dir), ['keep.txt']);
    await packager.close();
  });

  test('writes are atomic: temp file in the same directory, then rename', async () => {
    const dir = newDir();
    const ops: string[] = [];
    const recording: Partial<PackagerFs> = {
      writeFile: async (file, data) => {
        ops.push(`write ${path.relative(dir, file)}`);
        await fsp.writeFile(file, data);
      },
      rename: async (from, to) => {
        ops.push(`rename ${path.relative(dir, from)} ${path.relative(dir, to)}`);
        await fsp.rename(from, to);
      },
    };
    const packager = new RenditionPackager({ dir, fs: recording });
    // A reader polling the playlist while it is rewritten only ever sees whole playlists.
    let reads = 0;
    const stopReading = new AbortController();
    const reader = (async () => {
      while (!stopReading.signal.aborted) {
        try {
          const text = await fsp.readFile(path.join(dir, 'index.m3u8'), 'utf8');
          reads += 1;
          assert.ok(text.startsWith('#EXTM3U\n') && /(#EXT-X-PRELOAD-HINT[^\n]*|#EXT-X-ENDLIST)\n$/.test(text), 'a whole playlist');
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        }
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 3; i++) {
      for (let at = 0; at < units.all.length; at += 8192) {
        packager.write(units.all.subarray(at, at + 8192));
        // The stimulus, not a wait: chunks arrive spread out in time, as from a pipe, while the reader polls.
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      packager.restart();
    }
    await packager.end();
    stopReading.abort();
    await reader;
    assert.ok(reads > 20, `${reads} reads`);
    for (const op of ops) {
      const [kind, from, to] = op.split(' ');
      assert.match(from!, /^\.[^/]+\.tmp$/, `${op}: only temp files are written, in the same directory`);
      if (kind === 'rename') assert.match(to!, /^[^/.][^/]*$/);
    }
    const renamed = ops.filter((o) => o.startsWith('rename')).map((o) => o.split(' ')[2]!);
    assert.ok(renamed.includes('index.m3u8') && renamed.some((f) => f.startsWith('seg-')) && renamed.some((f) => f.startsWith('part-')));
    await packager.close();
  });

  test('disk errors become error events, never exceptions; lost parts are published as gaps', async () => {
    const dir = newDir();
    let failParts = false;
    const packager = new RenditionPackager({
      dir,
      partTargetSec: 0.267,
      fs: {
        writeFile: async (file, data) => {
          if (failParts && /\.part-[^/]*\.tmp$/.test(file)) {
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          }
          await fsp.writeFile(file, data);
        },
      },
    });
    const errors: Error[] = [];
    packager.on('error', (e) => errors.push(e));
    await feed(packager, [units.init, ...units.fragments.slice(0, 6)]);
    failParts = true;
    assert.doesNotThrow(() => {
      for (const f of units.fragments.slice(6, 9)) packager.write(f);
    });
    await packager.idle();
    failParts = false;
    await feed(packager, units.fragments.slice(9, 11));
    assert.equal(errors.length, 1, 'identical errors are throttled');
    const error = errors[0]!;
    assert.ok(error instanceof HlsDiskError);
    assert.equal(error.code, 'ENOSPC');
    assert.match(error.message, /could not write .*part-.*ENOSPC/);
    assert.equal(packager.stats().diskErrors, 3);
    const text = packager.playlist!;
    assert.equal((text.match(/,GAP=YES/g) ?? []).length, 3, text);
    assert.match(text, /URI="part-[a-z0-9]+-10\.m4s"(?!,GAP)/, 'later parts are fine again');
    await packager.close();
  });

  test('an unusable directory is reported, not thrown', async () => {
    const file = path.join(tmpRoot, 'not-a-dir');
    await fsp.writeFile(file, 'x');
    const packager = new RenditionPackager({ dir: path.join(file, 'hls') });
    const errors: Error[] = [];
    packager.on('error', (e) => errors.push(e));
    await feed(packager, [units.all]);
    assert.ok(errors.length >= 1);
    assert.ok(errors.every((e) => e instanceof HlsDiskError));
    assert.match(errors[0]!.message, /ENOTDIR|EEXIST/);
    assert.equal(packager.playlist, undefined);
    await packager.close();
  });

  test('a corrupt byte stream is reported once; restart() recovers', async () => {
    const packager = new RenditionPackager({ dir: newDir() });
    const errors: Error[] = [];
    packager.on('error', (e) => errors.push(e));
    packager.write(Buffer.from('this is not an mp4 stream at all'));
    packager.write(units.all);
    await packager.idle();
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof Mp4ParseError);
    assert.equal(packager.playlist, undefined);
    packager.restart();
    await feed(packager, [units.all]);
    assert.ok(packager.playlist);
    await packager.close();
  });

  test('createWritable(): pipe the stream in', async () => {
    const packager = new RenditionPackager({ dir: newDir() });
    const chunks = Array.from({ length: Math.ceil(units.all.length / 3000) }, (_, i) => units.all.subarray(i * 3000, (i + 1) * 3000));
    await pipeline(Readable.from(chunks), packager.createWritable());
    await packager.idle();
    assert.equal(packager.status().lastMsn, 3);
    await packager.close();
  });
});

describe('HlsRoomPackager', () => {
  test('declared bandwidth: explicit, or from the ladder bitrates', () => {
    assert.equal(declaredBandwidth({ name: 'a', bandwidth: 5 }), 5);
    assert.equal(declaredBandwidth({ name: '720p', videoBitrate: 2_500_000, audioBitrate: 128_000 }), Math.round((2_750_000 + 128_000) * 1.05));
    assert.equal(declaredBandwidth({ name: 'x' }), undefined);
  });

  test('a rendition with a declared bandwidth is in the master from its first part', async () => {
    const root = path.join(tmpRoot, 'early-master');
    // A fixed part target (as the server sets it): playlists are published from the first part on.
    const room = new HlsRoomPackager({
      root,
      room: 'early',
      partTargetSec: 0.267,
      renditions: [{ name: 'hi', videoBitrate: 2_500_000, audioBitrate: 128_000 }],
    });
    const { hi } = room.renditions;
    await feed(hi!, [units.init]);
    assert.equal(room.masterPlaylist(), undefined, 'init alone is not playable');
    await feed(hi!, [units.fragments[0]!]);
    assert.equal(hi!.status().lastCompleteMsn, -1, 'no complete segment yet');
    const master = room.masterPlaylist();
    assert.ok(master, 'master as soon as the first part is published');
    const declared = declaredBandwidth({ name: 'hi', videoBitrate: 2_500_000, audioBitrate: 128_000 })!;
    assert.match(master, new RegExp(`^#EXT-X-STREAM-INF:BANDWIDTH=${declared},RESOLUTION=640x360,`, 'm'), 'declared peak, no average yet');
    // Written in the background, right after that first publication.
    await waitFor(() => fs.existsSync(path.join(root, 'early', 'index.m3u8')), { description: 'the master playlist written to disk', timeoutMs: 5_000 });
    await room.close({ removeFiles: true });
  });

  test('a rendition that starts a keyframe later takes the media sequence numbers of the others', async () => {
    const root = path.join(tmpRoot, 'aligned');
    const room = new HlsRoomPackager({ root, room: 'aligned', renditions: [{ name: 'copy' }, { name: 'enc' }] });
    const { copy, enc } = room.renditions;
    // The copied rendition starts at the first keyframe; the encoded one only at the
    // second (its decoder could not use the first), as seen with H.264 passthrough.
    await feed(copy!, [units.init, ...units.fragments.slice(0, 9)]);
    await feed(enc!, [units.init, ...units.fragments.slice(4, 9)]);
    const sequence = (text: string) => Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)![1]);
    assert.equal(sequence(copy!.playlist!), 0);
    assert.equal(sequence(enc!.playlist!), 1, 'same start time, same number');
    assert.equal(copy!.status().lastCompleteMsn, 1);
    assert.equal(enc!.status().lastCompleteMsn, 1, 'segment 1 is the same media in both');
    await room.close({ removeFiles: true });
  });

  test('renditions report each other; the master lists them all', async () => {
    const root = path.join(tmpRoot, 'rooms');
    const room = new HlsRoomPackager({
      root,
      room: 'room_1',
      renditions: [{ name: 'low', bandwidth: 100_000_000 }, { name: 'high' }],
    });
    assert.throws(() => new HlsRoomPackager({ root, room: '../x', renditions: [{ name: 'a' }] }), RangeError);
    assert.throws(() => new HlsRoomPackager({ root, room: 'r', renditions: [{ name: 'A/b' }] }), RangeError);
    assert.equal(room.masterPlaylist(), undefined, 'nothing ready yet');
    const { low, high } = room.renditions;
    await feed(low!, [units.init, ...units.fragments.slice(0, 8)]);
    await feed(high!, [units.init, ...units.fragments.slice(0, 6)]);
    await feed(low!, [units.fragments[8]!]);
    assert.match(low!.playlist!, /^#EXT-X-RENDITION-REPORT:URI="\.\.\/high\/index\.m3u8",LAST-MSN=1,LAST-PART=1$/m);
    await feed(high!, [units.fragments[6]!]);
    assert.match(high!.playlist!, /^#EXT-X-RENDITION-REPORT:URI="\.\.\/low\/index\.m3u8",LAST-MSN=2,LAST-PART=0$/m);
    assert.ok(!/RENDITION-REPORT:URI="\.\.\/high/.test(high!.playlist!), 'not itself');

    const master = room.masterPlaylist()!;
    assert.ok(master);
    // Both renditions came out 640x360 (as when the source is smaller than the
    // ladder's top): only the higher one is offered.
    const inf = master.split('\n').filter((l) => l.startsWith('#EXT-X-STREAM-INF'));
    assert.equal(inf.length, 1, master);
    assert.match(
      master,
      /^#EXT-X-STREAM-INF:BANDWIDTH=100000000,AVERAGE-BANDWIDTH=\d+,RESOLUTION=640x360,CODECS="avc1\.[0-9a-f]{6},mp4a\.40\.2",FRAME-RATE=30\.000\nlow\/index\.m3u8$/m,
    );
    // Written once (in the background), when every rendition became ready (measured bitrates move on since).
    const masterFile = path.join(root, 'room_1', 'index.m3u8');
    await waitFor(() => fs.existsSync(masterFile), { description: 'the master playlist written to disk', timeoutMs: 5_000 });
    const onDisk = fs.readFileSync(masterFile, 'utf8');
    const shape = (text: string) => text.replace(/BANDWIDTH=\d+/g, 'BANDWIDTH=n');
    assert.equal(shape(onDisk), shape(master), 'master written to disk');

    room.restart();
    await room.end();
    assert.ok(low!.playlist!.endsWith('#EXT-X-ENDLIST\n') && high!.playlist!.endsWith('#EXT-X-ENDLIST\n'));
    await room.close({ removeFiles: true });
    await room.close();
    assert.equal(fs.existsSync(path.join(root, 'room_1')), false);
  });
});

describe('symbolic links in the HLS folder', () => {
  test('a rendition folder that is a link is never written into', async () => {
    const root = newDir();
    const outside = newDir();
    await fsp.mkdir(path.join(root, 'room1'), { recursive: true });
    await fsp.mkdir(outside, { recursive: true });
    await fsp.symlink(outside, path.join(root, 'room1', '720p'));
    const packager = new RenditionPackager({ dir: path.join(root, 'room1', '720p'), root });
    const errors: Error[] = [];
    packager.on('error', (e) => errors.push(e));
    await feed(packager, [units.all]);
    assert.deepEqual(files(outside), [], 'nothing written through the link');
    assert.equal(packager.playlist, undefined);
    assert.ok(errors.some((e) => e instanceof HlsDiskError && e.code === 'ELINK' && /symbolic link/.test(e.message)));
    await packager.close({ removeFiles: true });
    assert.ok(fs.lstatSync(path.join(root, 'room1', '720p')).isSymbolicLink(), 'not removed through either');
  });

  test('a room folder that is a link stops the room packager writing there', async () => {
    const root = newDir();
    const outside = newDir();
    await fsp.mkdir(root, { recursive: true });
    await fsp.mkdir(outside, { recursive: true });
    await fsp.symlink(outside, path.join(root, 'room2'));
    const room = new HlsRoomPackager({ root, room: 'room2', renditions: [{ name: '360p' }] });
    room.renditions['360p']!.on('error', () => undefined);
    await feed(room.renditions['360p']!, [units.all]);
    await room.close({ removeFiles: true });
    assert.deepEqual(files(outside), []);
  });

  test('links planted at file names are replaced or removed, never written or deleted through', async () => {
    const dir = newDir();
    const outside = newDir();
    await fsp.mkdir(dir, { recursive: true });
    await fsp.mkdir(outside, { recursive: true });
    const victim = path.join(outside, 'victim.txt');
    await fsp.writeFile(victim, 'precious');
    // Planted before start (cleaned up as stale files) and as the next temp file names.
    await fsp.symlink(victim, path.join(dir, 'index.m3u8'));
    await fsp.symlink(victim, path.join(dir, 'seg-old-1.m4s'));
    const packager = new RenditionPackager({ dir, sessionId: 'abc' });
    await packager.idle();
    for (let n = 1; n <= 40; n++) await fsp.symlink(victim, path.join(dir, `.part-abc-0.m4s.${process.pid}.${n}.tmp`)).catch(() => undefined);
    packager.on('error', () => undefined);
    await feed(packager, [units.all]);
    await packager.end();
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
    assert.ok(packager.playlist?.includes('#EXT-X-ENDLIST'));
    assert.equal(fs.lstatSync(path.join(dir, 'index.m3u8')).isFile(), true, 'the playlist replaced the link');
    await packager.close({ removeFiles: true });
    assert.equal(fs.readFileSync(victim, 'utf8'), 'precious');
  });
});
