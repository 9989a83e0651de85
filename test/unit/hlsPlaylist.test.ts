/** LL-HLS playlist text: tags, ordering and the numeric rules of RFC 8216bis. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  advancePartLimit,
  buildMasterPlaylist,
  buildMediaPlaylist,
  ceilMs,
  formatDecimal,
  targetDurationFor,
  type MediaPlaylistInput,
  type PlaylistPart,
  type PlaylistSegment,
} from '../../server/hls/llHlsPlaylist.js';

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5, 600);

function parts(msn: number, count: number, duration = 0.26667): PlaylistPart[] {
  return Array.from({ length: count }, (_, i) => ({
    uri: `part-${msn}-${i}.m4s`,
    duration: i === count - 1 ? 1 - duration * (count - 1) : duration,
    independent: i === 0,
  }));
}

function segments(first: number, count: number, mapUri = 'init-0.mp4'): PlaylistSegment[] {
  return Array.from({ length: count }, (_, i) => ({
    uri: `seg-${first + i}.m4s`,
    duration: 1,
    mapUri,
    programDateTime: T0 + (first + i) * 1000,
    parts: parts(first + i, 4),
  }));
}

function live(overrides: Partial<MediaPlaylistInput> = {}): MediaPlaylistInput {
  return {
    targetDuration: 1,
    partTarget: 0.267,
    mediaSequence: 10,
    segments: segments(10, 6),
    inProgress: { mapUri: 'init-0.mp4', programDateTime: T0 + 16_000, parts: parts(16, 4).slice(0, 2) },
    preloadHintUri: 'part-16-2.m4s',
    ...overrides,
  };
}

const attr = (line: string, name: string): string | undefined => {
  const match = new RegExp(`(?:^|[:,])${name}=("[^"]*"|[^,]*)`).exec(line);
  return match?.[1]?.replace(/^"|"$/g, '');
};

/**
 * Checks the rules a playlist from this packager must always satisfy, and
 * returns the parsed bits the tests look at.
 */
function validate(text: string) {
  assert.ok(text.endsWith('\n'), 'ends with a newline');
  const lines = text.trimEnd().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  const tag = (name: string) => lines.filter((l) => l.startsWith(`#${name}:`) || l === `#${name}`);
  const one = (name: string): string => {
    const found = tag(name);
    assert.equal(found.length, 1, `exactly one ${name}`);
    return found[0]!;
  };
  const version = Number(one('EXT-X-VERSION').split(':')[1]);
  assert.ok(version >= 6, 'EXT-X-MAP needs version 6');
  const targetLine = one('EXT-X-TARGETDURATION');
  assert.match(targetLine, /^#EXT-X-TARGETDURATION:\d+$/, 'decimal-integer');
  const target = Number(targetLine.split(':')[1]);
  const ended = lines.at(-1) === '#EXT-X-ENDLIST';
  const extinf = lines.filter((l) => l.startsWith('#EXTINF:')).map((l) => Number(/^#EXTINF:([\d.]+),$/.exec(l)![1]));
  for (const d of extinf) assert.ok(Math.round(d) <= target, `EXTINF ${d} rounds to <= ${target}`);
  const partLines = tag('EXT-X-PART');
  let partTarget: number | undefined;
  if (partLines.length > 0 || tag('EXT-X-PART-INF').length > 0) {
    partTarget = Number(attr(one('EXT-X-PART-INF'), 'PART-TARGET'));
    const control = one('EXT-X-SERVER-CONTROL');
    assert.equal(attr(control, 'CAN-BLOCK-RELOAD'), 'YES');
    assert.ok(Number(attr(control, 'PART-HOLD-BACK')) >= 3 * partTarget - 1e-9, 'PART-HOLD-BACK >= 3 × PART-TARGET');
    assert.ok(Number(attr(control, 'HOLD-BACK')) >= 3 * target, 'HOLD-BACK >= 3 × TARGETDURATION');
    for (const line of partLines) {
      assert.match(line, /^#EXT-X-PART:DURATION=\d+\.\d+,URI="[^"]+"(,INDEPENDENT=YES)?(,GAP=YES)?$/);
      assert.ok(Number(attr(line, 'DURATION')) <= partTarget, `${line} <= PART-TARGET`);
    }
  }
  one('EXT-X-MEDIA-SEQUENCE');
  one('EXT-X-DISCONTINUITY-SEQUENCE');
  one('EXT-X-INDEPENDENT-SEGMENTS');
  const hints = tag('EXT-X-PRELOAD-HINT');
  if (ended) assert.equal(hints.length, 0, 'no preload hint with ENDLIST');
  else if (partLines.length > 0) assert.equal(hints.length, 1);
  // Segment-level tags come before the parts of their segment; every URI line follows an EXTINF.
  let sawPartSinceUri = false;
  lines.forEach((line, i) => {
    if (line.startsWith('#EXT-X-PART:')) sawPartSinceUri = true;
    if (/^#EXT-X-(DISCONTINUITY|MAP|PROGRAM-DATE-TIME)(:|$)/.test(line)) {
      assert.equal(sawPartSinceUri, false, `${line} must precede the parts of its segment`);
    }
    if (!line.startsWith('#')) {
      assert.match(lines[i - 1]!, /^#EXTINF:/, `${line} follows an EXTINF`);
      sawPartSinceUri = false;
    }
  });
  const mapIndex = lines.findIndex((l) => l.startsWith('#EXT-X-MAP:'));
  const firstMedia = lines.findIndex((l) => l.startsWith('#EXTINF:') || l.startsWith('#EXT-X-PART:'));
  if (firstMedia >= 0) assert.ok(mapIndex >= 0 && mapIndex < firstMedia, 'EXT-X-MAP before the first media');
  return { lines, target, partTarget, ended, extinf, parts: partLines, hints, tag };
}

describe('media playlist', () => {
  test('live LL-HLS playlist: header tags, parts, preload hint', () => {
    const text = buildMediaPlaylist(live());
    const { lines, tag, hints, parts: partLines } = validate(text);
    assert.deepEqual(lines.slice(0, 9), [
      '#EXTM3U',
      '#EXT-X-VERSION:6',
      '#EXT-X-TARGETDURATION:1',
      '#EXT-X-PART-INF:PART-TARGET=0.267',
      '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.801,HOLD-BACK=3.0',
      '#EXT-X-MEDIA-SEQUENCE:10',
      '#EXT-X-DISCONTINUITY-SEQUENCE:0',
      '#EXT-X-INDEPENDENT-SEGMENTS',
      '#EXT-X-MAP:URI="init-0.mp4"',
    ]);
    assert.equal(tag('EXT-X-PLAYLIST-TYPE').length, 0, 'a sliding live playlist has no type');
    assert.equal(lines.filter((l) => l.startsWith('seg-')).length, 6);
    assert.equal(tag('EXT-X-PROGRAM-DATE-TIME').length, 7, 'one per segment, including the one in progress');
    assert.ok(lines.includes('#EXT-X-PROGRAM-DATE-TIME:2025-01-02T03:04:15.600Z'));
    // Parts only for the last segments within 3 target durations, plus the in-progress ones.
    assert.deepEqual([...new Set(partLines.map((l) => /part-(\d+)-/.exec(l)![1]))], ['13', '14', '15', '16']);
    assert.equal(partLines.filter((l) => l.endsWith(',INDEPENDENT=YES')).length, 4);
    assert.equal(hints[0], '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part-16-2.m4s"');
    const lastPart = lines.findLastIndex((l) => l.startsWith('#EXT-X-PART:'));
    assert.equal(lines[lastPart], '#EXT-X-PART:DURATION=0.26667,URI="part-16-1.m4s"');
    assert.equal(lines.indexOf(hints[0]), lastPart + 1, 'hint follows the last part');
    assert.ok(!text.includes('#EXT-X-ENDLIST'));
  });

  test('TARGETDURATION: integer >= every EXTINF rounded to the nearest integer', () => {
    assert.equal(targetDurationFor([1, 1.021, 0.98]), 1);
    assert.equal(targetDurationFor([0.3]), 1, 'at least 1');
    assert.equal(targetDurationFor([1, 1.49]), 1);
    assert.equal(targetDurationFor([1, 1.5]), 2);
    assert.equal(targetDurationFor([2.49]), 2);
    assert.equal(targetDurationFor([]), 1);
    assert.throws(() => buildMediaPlaylist(live({ targetDuration: 1.5 })), RangeError);
    const two = buildMediaPlaylist(live({ targetDuration: 2 }));
    assert.match(two, /^#EXT-X-TARGETDURATION:2$/m);
    assert.match(two, /HOLD-BACK=6\.0$/m);
    // Parts window follows the target duration: 6 s back covers every segment here.
    assert.equal(validate(two).parts.filter((l) => l.includes('INDEPENDENT')).length, 7);
  });

  test('numbers: ceilMs, formatDecimal, advance part limit', () => {
    assert.equal(ceilMs(0.2666667), 0.267);
    assert.equal(ceilMs(0.267), 0.267);
    assert.equal(ceilMs(1 / 3), 0.334);
    assert.equal(formatDecimal(3), '3.0');
    assert.equal(formatDecimal(0.801), '0.801');
    assert.equal(formatDecimal(0.26700000001), '0.267');
    assert.equal(advancePartLimit(0.25), 12);
    assert.equal(advancePartLimit(2), 3);
  });

  test('ENDLIST: no preload hint, no rendition reports, ENDLIST last', () => {
    const text = buildMediaPlaylist(
      live({
        ended: true,
        inProgress: undefined,
        renditionReports: [{ uri: '../480p/index.m3u8', lastMsn: 15, lastPart: 3 }],
      }),
    );
    const { lines, ended, hints } = validate(text);
    assert.equal(ended, true);
    assert.equal(hints.length, 0);
    assert.equal(lines.at(-1), '#EXT-X-ENDLIST');
    assert.ok(!text.includes('RENDITION-REPORT'));
  });

  test('rendition reports are listed while live', () => {
    const text = buildMediaPlaylist(
      live({
        renditionReports: [
          { uri: '../480p/index.m3u8', lastMsn: 16, lastPart: 1 },
          { uri: '../240p/index.m3u8', lastMsn: 16 },
        ],
      }),
    );
    assert.match(text, /^#EXT-X-RENDITION-REPORT:URI="\.\.\/480p\/index\.m3u8",LAST-MSN=16,LAST-PART=1$/m);
    assert.match(text, /^#EXT-X-RENDITION-REPORT:URI="\.\.\/240p\/index\.m3u8",LAST-MSN=16$/m);
  });

  test('discontinuity: EXT-X-DISCONTINUITY and a new EXT-X-MAP before the segment and its parts', () => {
    const before = segments(10, 3, 'init-0.mp4');
    const after = segments(13, 2, 'init-1.mp4');
    after[0]!.discontinuity = true;
    const text = buildMediaPlaylist(
      live({
        segments: [...before, ...after],
        inProgress: { mapUri: 'init-1.mp4', parts: parts(15, 4).slice(0, 1), programDateTime: T0 + 15_000 },
        discontinuitySequence: 3,
      }),
    );
    const { lines, tag } = validate(text);
    assert.deepEqual(tag('EXT-X-MAP'), ['#EXT-X-MAP:URI="init-0.mp4"', '#EXT-X-MAP:URI="init-1.mp4"']);
    assert.match(text, /^#EXT-X-DISCONTINUITY-SEQUENCE:3$/m);
    const disc = lines.indexOf('#EXT-X-DISCONTINUITY');
    assert.equal(lines[disc + 1], '#EXT-X-MAP:URI="init-1.mp4"');
    assert.match(lines[disc + 2]!, /^#EXT-X-PROGRAM-DATE-TIME:/);
    assert.equal(lines[disc + 3], '#EXT-X-PART:DURATION=0.26667,URI="part-13-0.m4s",INDEPENDENT=YES');
    assert.equal(lines[disc - 1], 'seg-12.m4s');
  });

  test('a discontinuity on the in-progress segment goes before its parts', () => {
    const text = buildMediaPlaylist(live({ inProgress: { mapUri: 'init-1.mp4', discontinuity: true, parts: parts(16, 4).slice(0, 1) } }));
    const { lines } = validate(text);
    const disc = lines.indexOf('#EXT-X-DISCONTINUITY');
    assert.equal(lines[disc - 1], 'seg-15.m4s');
    assert.equal(lines[disc + 1], '#EXT-X-MAP:URI="init-1.mp4"');
    assert.match(lines[disc + 2]!, /^#EXT-X-PART:.*part-16-0/);
  });

  test('first playlist: only an in-progress segment', () => {
    const text = buildMediaPlaylist(live({ segments: [], mediaSequence: 0, inProgress: { mapUri: 'init-0.mp4', parts: parts(0, 4).slice(0, 1) } }));
    const { lines } = validate(text);
    assert.ok(lines.includes('#EXT-X-MEDIA-SEQUENCE:0'));
    assert.equal(lines.filter((l) => l.startsWith('#EXTINF')).length, 0);
  });

  test('gaps, EVENT type, classic playlist without parts', () => {
    const segs = segments(0, 3);
    segs[1]!.gap = true;
    segs[2]!.parts = [{ uri: 'p.m4s', duration: 0.2, gap: true, independent: true }];
    const text = buildMediaPlaylist(live({ segments: segs, mediaSequence: 0, playlistType: 'EVENT' }));
    validate(text);
    assert.match(text, /^#EXT-X-PLAYLIST-TYPE:EVENT$/m);
    assert.match(text, /^#EXT-X-GAP\n#EXTINF:1\.00000,\nseg-1\.m4s$/m);
    assert.match(text, /URI="p\.m4s",INDEPENDENT=YES,GAP=YES$/m);

    const classic = buildMediaPlaylist({ targetDuration: 1, mediaSequence: 0, segments: segments(0, 2), preloadHintUri: 'x.m4s' });
    validate(classic);
    assert.ok(!/PART|SERVER-CONTROL|PRELOAD/.test(classic), 'no LL tags without a part target');
  });

  test('quoted-strings cannot be broken out of', () => {
    assert.throws(() => buildMediaPlaylist(live({ preloadHintUri: 'a"b' })));
    assert.throws(() => buildMediaPlaylist(live({ preloadHintUri: 'a\nb' })));
  });
});

describe('master playlist', () => {
  test('one EXT-X-STREAM-INF per rendition, highest bandwidth first', () => {
    const text = buildMasterPlaylist({
      variants: [
        {
          uri: '480p/index.m3u8',
          bandwidth: 1_400_000.4,
          averageBandwidth: 1_200_000,
          width: 854,
          height: 480,
          codecs: ['avc1.64001e', 'mp4a.40.2'],
          frameRate: 30,
        },
        { uri: '240p/index.m3u8', bandwidth: 400_000, width: 426, height: 240, codecs: ['avc1.42c015', 'mp4a.40.2'], frameRate: 29.97 },
        {
          uri: '720p/index.m3u8',
          bandwidth: 3_000_000,
          averageBandwidth: 2_600_000,
          width: 1280,
          height: 720,
          codecs: ['avc1.64001f', 'mp4a.40.2'],
          frameRate: 30,
        },
      ],
    });
    assert.equal(
      text,
      [
        '#EXTM3U',
        '#EXT-X-VERSION:6',
        '#EXT-X-INDEPENDENT-SEGMENTS',
        '#EXT-X-STREAM-INF:BANDWIDTH=3000000,AVERAGE-BANDWIDTH=2600000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2",FRAME-RATE=30.000',
        '720p/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=1400000,AVERAGE-BANDWIDTH=1200000,RESOLUTION=854x480,CODECS="avc1.64001e,mp4a.40.2",FRAME-RATE=30.000',
        '480p/index.m3u8',
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=426x240,CODECS="avc1.42c015,mp4a.40.2",FRAME-RATE=29.970',
        '240p/index.m3u8',
        '',
      ].join('\n'),
    );
  });
});
