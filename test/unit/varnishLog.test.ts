/**
 * parseVarnishLog: varnishncsa's client and backend lines (VARNISH_LOG_FORMAT)
 * folded into the edge entries the collapse figures count. The lines are
 * written here in the format's field order; hlsEdgeVarnish.test.ts reads the
 * real varnishncsa's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LOG_MARK_PATH, parseVarnishLog, VARNISH_LOG_FORMAT } from '../../scripts/edge/varnishLog.js';

const ORIGINS = ['127.0.0.1:3001', '127.0.0.1:3002'];

interface LineFields {
  side: 'c' | 'b';
  vxid: number;
  link?: number;
  at?: number;
  us?: number;
  uri: string;
  status?: number;
  handling?: string;
  cache?: string;
  key?: string;
  upstreams?: string;
  ustatus?: string;
}

const line = (f: LineFields): string =>
  [
    f.side,
    f.vxid,
    f.link ?? '-',
    (f.at ?? 1000).toFixed(3),
    f.us ?? 2000,
    'GET',
    f.uri,
    f.status ?? 200,
    1234,
    f.handling ?? (f.side === 'c' ? 'miss' : 'fetch'),
    f.cache ?? '-',
    f.key ?? '',
    f.upstreams ?? '-',
    f.ustatus ?? '-',
  ].join('\t');

test('the format has the 14 fields the parser reads', () => {
  assert.equal(VARNISH_LOG_FORMAT.split('\\t').length, 14);
});

test('a miss is folded with its fetch; backend names become origin addresses', () => {
  const text = [
    line({ side: 'b', vxid: 1002, uri: '/hls/r/720p/part-a-3.m4s', key: '/hls/r/720p/part-a-3.m4s', upstreams: 'origin_1', ustatus: '200' }),
    line({ side: 'c', vxid: 1001, link: 1002, uri: '/hls/r/720p/part-a-3.m4s', cache: 'MISS', us: 25_000 }),
  ].join('\n');
  const [entry, ...rest] = parseVarnishLog(text, ORIGINS);
  assert.equal(rest.length, 0, 'one client request, one entry');
  assert.equal(entry!.cache, 'MISS');
  assert.deepEqual(entry!.upstreams, ['127.0.0.1:3002']);
  assert.deepEqual(entry!.upstreamStatuses, ['200']);
  assert.equal(entry!.requestSeconds, 0.025);
  assert.equal(entry!.key, '/hls/r/720p/part-a-3.m4s');
});

test('a retried fetch: its last transaction names every origin tried, "-" for one that did not answer', () => {
  const text = [
    line({ side: 'c', vxid: 2001, link: 2002, uri: '/hls/r/index.m3u8', cache: 'MISS' }),
    line({ side: 'b', vxid: 2002, link: 2003, uri: '/hls/r/index.m3u8', upstreams: 'origin_0', ustatus: '-' }),
    line({ side: 'b', vxid: 2003, uri: '/hls/r/index.m3u8', upstreams: 'origin_0 origin_1_unprobed', ustatus: '- 200' }),
  ].join('\n');
  const entries = parseVarnishLog(text, ORIGINS);
  assert.equal(entries.length, 1, 'the retry is not a second origin request of its own');
  assert.deepEqual(entries[0]!.upstreams, ORIGINS);
  assert.deepEqual(entries[0]!.upstreamStatuses, ['-', '200']);
});

test('a hit has no origin; synth answers show their handling; the log mark is not an entry', () => {
  const text = [
    line({ side: 'c', vxid: 3001, uri: '/hls/r/720p/seg-a-1.m4s', cache: 'HIT', handling: 'hit' }),
    line({ side: 'c', vxid: 3002, uri: '/hls/r/720p/seg-a-9.m4s', status: 503, handling: 'synth' }),
    line({ side: 'c', vxid: 3003, uri: `${LOG_MARK_PATH}42`, handling: 'synth' }),
  ].join('\n');
  const entries = parseVarnishLog(text, ORIGINS);
  assert.deepEqual(
    entries.map((e) => [e.uri, e.cache, e.upstreams.length]),
    [
      ['/hls/r/720p/seg-a-1.m4s', 'HIT', 0],
      ['/hls/r/720p/seg-a-9.m4s', 'SYNTH', 0],
    ],
  );
});

test('a fetch no client line names (a background refresh) still counts as an origin request', () => {
  const text = [
    line({ side: 'c', vxid: 4001, uri: '/hls/r/720p/index.m3u8', cache: 'STALE', handling: 'hit' }),
    line({ side: 'b', vxid: 4005, uri: '/hls/r/720p/index.m3u8', key: 'k', upstreams: 'origin_0', ustatus: '200' }),
  ].join('\n');
  const entries = parseVarnishLog(text, ORIGINS);
  assert.equal(entries.length, 2);
  assert.deepEqual(entries[1]!.upstreams, ['127.0.0.1:3001']);
  assert.equal(entries[1]!.key, 'k');
});

test('lines that are not the format (a header, a half-written line, garbage) are skipped', () => {
  const good = line({ side: 'c', vxid: 5001, uri: '/hls/r/index.m3u8', cache: 'HIT', handling: 'hit' });
  const text = ['varnishncsa starting', good.slice(0, 20), 'x\t'.repeat(13) + 'x', good.replace('1000.000', 'soon'), good, ''].join('\n');
  assert.deepEqual(
    parseVarnishLog(text, ORIGINS).map((e) => e.uri),
    ['/hls/r/index.m3u8'],
  );
});
