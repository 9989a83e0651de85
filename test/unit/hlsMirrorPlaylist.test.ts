/**
 * The mirror reads back what the packager's playlist builders write
 * (server/hls/mirror/playlistText.ts): every tag it needs, the files a
 * playlist names, where it ends, and a master's variants. Built playlists
 * parse and rebuild to the same text.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildMasterPlaylist, buildMediaPlaylist, type MediaPlaylistInput } from '../../server/hls/llHlsPlaylist.js';
import { filesNamed, parseMasterPlaylist, parseMediaPlaylist, playlistEdge } from '../../server/hls/mirror/playlistText.js';

const part = (n: number, extra: { independent?: boolean; gap?: boolean } = {}) => ({ uri: `part-abc-${n}.m4s`, duration: 0.26667, ...extra });

const input: MediaPlaylistInput = {
  targetDuration: 1,
  partTarget: 0.267,
  mediaSequence: 40,
  discontinuitySequence: 2,
  segments: [
    {
      uri: 'seg-abc-40.m4s',
      duration: 1.06667,
      mapUri: 'init-abc-2.mp4',
      programDateTime: Date.parse('2026-12-03T18:00:00.000Z'),
      parts: [part(1, { independent: true }), part(2), part(3), part(4)],
    },
    {
      uri: 'seg-abc-41.m4s',
      duration: 1,
      mapUri: 'init-abc-2.mp4',
      programDateTime: Date.parse('2026-12-03T18:00:01.067Z'),
      gap: true,
      parts: [part(5, { independent: true, gap: true })],
    },
    {
      uri: 'seg-abc-42.m4s',
      duration: 1.03,
      mapUri: 'init-abc-3.mp4',
      discontinuity: true,
      programDateTime: Date.parse('2026-12-03T18:00:05.000Z'),
      parts: [part(6, { independent: true })],
    },
  ],
  inProgress: { mapUri: 'init-abc-3.mp4', programDateTime: Date.parse('2026-12-03T18:00:06.030Z'), parts: [part(7, { independent: true }), part(8)] },
  preloadHintUri: 'part-abc-9.m4s',
  renditionReports: [{ uri: '../480p/index.m3u8', lastMsn: 43, lastPart: 1 }],
};

test('a media playlist parses back into what built it', () => {
  const text = buildMediaPlaylist(input);
  const parsed = parseMediaPlaylist(text);
  assert.equal(parsed.mediaSequence, 40);
  assert.equal(parsed.discontinuitySequence, 2);
  assert.equal(parsed.partTarget, 0.267);
  assert.deepEqual(
    parsed.segments.map((s) => [s.msn, s.uri, s.mapUri, s.discontinuity, s.gap]),
    [
      [40, 'seg-abc-40.m4s', 'init-abc-2.mp4', false, false],
      [41, 'seg-abc-41.m4s', 'init-abc-2.mp4', false, true],
      [42, 'seg-abc-42.m4s', 'init-abc-3.mp4', true, false],
    ],
  );
  assert.equal(parsed.inProgress?.msn, 43);
  assert.equal(parsed.preloadHint, 'part-abc-9.m4s');
  assert.deepEqual(playlistEdge(parsed), { lastMsn: 43, lastPart: 1, lastCompleteMsn: 42 });
  // Gaps are named but not fetched; the hinted part is not named yet.
  assert.deepEqual(filesNamed(parsed).sort(), [
    'init-abc-2.mp4',
    'init-abc-3.mp4',
    'part-abc-1.m4s',
    'part-abc-2.m4s',
    'part-abc-3.m4s',
    'part-abc-4.m4s',
    'part-abc-6.m4s',
    'part-abc-7.m4s',
    'part-abc-8.m4s',
    'seg-abc-40.m4s',
    'seg-abc-42.m4s',
  ]);
  // Rebuilt from what was parsed: the same text.
  const rebuilt = buildMediaPlaylist({
    targetDuration: parsed.targetDuration,
    partTarget: parsed.partTarget,
    partHoldBack: parsed.partHoldBack!,
    mediaSequence: parsed.mediaSequence,
    discontinuitySequence: parsed.discontinuitySequence,
    segments: parsed.segments,
    inProgress: parsed.inProgress,
    preloadHintUri: parsed.preloadHint,
    renditionReports: parsed.renditionReports,
  });
  assert.equal(rebuilt, text);
  const ended = parseMediaPlaylist(buildMediaPlaylist({ ...input, inProgress: undefined, ended: true }));
  assert.equal(ended.ended, true);
  assert.equal(ended.preloadHint, undefined);
});

test('text that is not a media playlist is refused with a clear error', () => {
  assert.throws(() => parseMediaPlaylist('<html>'), /not a playlist/);
  assert.throws(() => parseMediaPlaylist('#EXTM3U\n#EXTINF:1.0,\nseg.m4s\n'), /without EXTINF or EXT-X-MAP/);
  assert.throws(() => parseMediaPlaylist('#EXTM3U\n'), /TARGETDURATION/);
});

test('a master playlist gives each variant by URI', () => {
  const hd = {
    uri: '720p/index.m3u8',
    bandwidth: 2_500_000,
    averageBandwidth: 2_000_000,
    width: 1280,
    height: 720,
    codecs: ['avc1.64001f', 'mp4a.40.2'],
    frameRate: 30,
  };
  const low = { uri: '240p/index.m3u8', bandwidth: 400_000, codecs: ['avc1.42c015'] };
  const variants = parseMasterPlaylist(buildMasterPlaylist({ variants: [hd, low] }));
  assert.deepEqual(variants.get('720p/index.m3u8'), hd);
  assert.deepEqual(variants.get('240p/index.m3u8'), low);
});
