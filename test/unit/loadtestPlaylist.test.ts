/** The load tool's playlist parsing (scripts/loadtest/llHlsPlaylist.ts): a takeover's EXT-X-DISCONTINUITY with a new EXT-X-MAP. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMediaPlaylist } from '../../scripts/loadtest/llHlsPlaylist.js';

test('an EXT-X-DISCONTINUITY marks the first entry of the new timeline, which needs its own init section', () => {
  const playlist = parseMediaPlaylist(
    [
      '#EXTM3U',
      '#EXT-X-TARGETDURATION:1',
      '#EXT-X-PART-INF:PART-TARGET=0.5',
      '#EXT-X-MEDIA-SEQUENCE:10',
      '#EXT-X-MAP:URI="a-init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z',
      '#EXTINF:1.0,',
      'a-10.m4s',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-MAP:URI="b-init.mp4"',
      '#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:01.100Z',
      '#EXT-X-PART:DURATION=0.5,URI="b-11-0.m4s",INDEPENDENT=YES',
      '#EXT-X-PART:DURATION=0.5,URI="b-11-1.m4s"',
      '#EXTINF:1.0,',
      'b-11.m4s',
      '#EXT-X-PART:DURATION=0.5,URI="b-12-0.m4s",INDEPENDENT=YES',
      '',
    ].join('\n'),
  );
  assert.deepEqual(
    playlist.entries.map((e) => [e.uri, e.msn, e.map, e.discontinuity, e.programDateMs! - Date.parse('2026-01-01T00:00:00.000Z')]),
    [
      ['a-10.m4s', 10, 'a-init.mp4', false, 0],
      ['b-11-0.m4s', 11, 'b-init.mp4', true, 1100],
      ['b-11-1.m4s', 11, 'b-init.mp4', false, 1600],
      ['b-12-0.m4s', 12, 'b-init.mp4', false, 2100],
    ],
  );
});
