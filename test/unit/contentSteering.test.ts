/** Content steering (server/hls/contentSteering*.ts): HLS_PATHWAYS, the steered master, the manifest and its order by recorder health. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import express from 'express';
import { parsePathwaysSetting, recorderPriority, steeredMaster, steeringManifest } from '../../server/hls/contentSteering.js';
import { ContentSteering } from '../../server/hls/contentSteeringRouter.js';
import { buildMasterPlaylist } from '../../server/hls/llHlsPlaylist.js';
import { createLogger } from '../../server/observability/logger.js';
import type { NodeRecord } from '../../server/cluster/nodeRegistry.js';
import { waitFor } from '../helpers/wait.js';

const logger = createLogger('silent');
const MASTER = buildMasterPlaylist({
  variants: [
    { uri: '720/index.m3u8', name: '720', bandwidth: 2_000_000, codecs: ['avc1.64001f'], width: 1280, height: 720 },
    { uri: '240/index.m3u8', name: '240', bandwidth: 400_000, codecs: ['avc1.42c015'], width: 426, height: 240 },
  ],
});

describe('HLS_PATHWAYS', () => {
  test('off, recorders, or id=url pairs', () => {
    assert.deepEqual(parsePathwaysSetting(''), { kind: 'off' });
    assert.deepEqual(parsePathwaysSetting('recorders'), { kind: 'recorders' });
    assert.deepEqual(parsePathwaysSetting('cdn-a=https://a.example.com/, cdn-b=http://b.example:8080/live'), {
      kind: 'configured',
      pathways: [
        { id: 'cdn-a', base: 'https://a.example.com' },
        { id: 'cdn-b', base: 'http://b.example:8080/live' },
      ],
    });
  });

  test('bad values are refused with a clear error', () => {
    for (const [value, message] of [
      ['cdn-a=https://a.example', /at least two pathways/],
      ['cdn-a=https://a.example,cdn-a=https://b.example', /must differ/],
      ['cdn a=https://a.example,b=https://b.example', /is not id=url/],
      ['https://a.example,b=https://b.example', /is not id=url/],
      ['a=ftp://a.example,b=https://b.example', /only http\(s\)/],
      ['a=https://a.example/?x=1,b=https://b.example', /no query/],
      ['a=nonsense,b=https://b.example', /is not a URL/],
    ] as const) {
      assert.throws(() => parsePathwaysSetting(value), message, value);
    }
  });
});

test('the steered master lists every variant once per pathway, absolute, with the steering tag', () => {
  const text = steeredMaster(MASTER, 'show', [
    { id: 'cdn-a', base: 'https://a.example' },
    { id: 'cdn-b', base: 'https://b.example/edge' },
  ]);
  const lines = text.trim().split('\n');
  assert.equal(lines[0], '#EXTM3U');
  assert.ok(lines.includes('#EXT-X-CONTENT-STEERING:SERVER-URI="steering.json",PATHWAY-ID="cdn-a"'), text);
  const uris = lines.filter((l) => !l.startsWith('#'));
  assert.deepEqual(uris, [
    'https://a.example/hls/show/720/index.m3u8',
    'https://a.example/hls/show/240/index.m3u8',
    'https://b.example/edge/hls/show/720/index.m3u8',
    'https://b.example/edge/hls/show/240/index.m3u8',
  ]);
  const infs = lines.filter((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  assert.equal(infs.length, 4);
  assert.ok(infs.slice(0, 2).every((l) => l.endsWith(',PATHWAY-ID="cdn-a"')) && infs.slice(2).every((l) => l.endsWith(',PATHWAY-ID="cdn-b"')), text);
  assert.equal(steeredMaster(MASTER, 'show', []), MASTER, 'no pathways: unchanged');
});

test('recorders: serving first in recorder order, then draining, then gone', () => {
  assert.deepEqual(
    recorderPriority([
      { nodeId: 'node-b', announced: false, draining: false },
      { nodeId: 'node-c', announced: true, draining: true },
      { nodeId: 'node:d', announced: true, draining: false },
    ]),
    ['node_d', 'node-c', 'node-b'],
  );
  assert.deepEqual(steeringManifest(['a', 'b']), { VERSION: 1, TTL: 5, 'PATHWAY-PRIORITY': ['a', 'b'] });
});

describe('the steering router in a cluster', () => {
  const nodeRecord = (id: string, state: 'serving' | 'draining'): NodeRecord =>
    ({ id, publicUrl: `http://${id}.example:3000`, state }) as unknown as NodeRecord;

  async function serve(steering: ContentSteering): Promise<{ url: string; close: () => Promise<void> }> {
    const app = express();
    app.use('/hls', steering.router);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
  }

  test('the manifest orders the recorders by health; the master points at the announced ones', async () => {
    let announced = [nodeRecord('node-b', 'serving'), nodeRecord('node-c', 'serving')];
    const steering = new ContentSteering({
      setting: { kind: 'recorders' },
      cluster: {
        bus: {
          request: (node, method, payload) =>
            Promise.resolve(
              node === 'node-a' && method === 'hls.recorders' && (payload as { room: string }).room === 'show'
                ? { nodes: ['node-b', 'node-c'] }
                : { nodes: [] },
            ),
        },
        directory: { originOf: (room) => Promise.resolve(room === 'show' ? ({ node: 'node-a' } as never) : undefined) },
        nodes: { nodes: () => Promise.resolve(announced) },
      },
      logger,
    });
    const server = await serve(steering);
    try {
      const first = await fetch(`${server.url}/hls/show/steering.json?_HLS_pathway=node-b`);
      assert.equal(first.status, 200);
      assert.equal(first.headers.get('content-type')?.split(';')[0], 'application/json');
      assert.equal(first.headers.get('access-control-allow-origin'), '*');
      assert.deepEqual(await first.json(), { VERSION: 1, TTL: 5, 'PATHWAY-PRIORITY': ['node-b', 'node-c'] });
      const master = await steering.master('show', MASTER);
      assert.match(master, /PATHWAY-ID="node-b"\nhttp:\/\/node-b\.example:3000\/hls\/show\/720\/index\.m3u8/);

      // node-b dies (leaves the registry): it goes last, once the 1 s cache has passed.
      announced = [nodeRecord('node-c', 'serving')];
      const priority = async (): Promise<string> =>
        ((await (await fetch(`${server.url}/hls/show/steering.json`)).json()) as { 'PATHWAY-PRIORITY': string[] })['PATHWAY-PRIORITY'].join(',');
      await waitFor(async () => (await priority()) === 'node-c,node-b', { description: 'node-b last in the manifest', timeoutMs: 5_000, progress: () => '' });
      assert.doesNotMatch(await steering.master('show', MASTER), /node-b/, 'a dead recorder is not in new masters');

      const none = await fetch(`${server.url}/hls/nobody/steering.json`);
      assert.equal(none.status, 404);
      assert.equal(none.headers.get('cache-control'), 'no-store');
      assert.equal(await steering.master('nobody', MASTER), MASTER, 'nobody records it: the master as it is');
      assert.equal((await fetch(`${server.url}/hls/${encodeURIComponent('../x')}/steering.json`)).status, 400);
    } finally {
      await server.close();
    }
  });

  test('recorders need cluster mode', () => {
    assert.throws(() => new ContentSteering({ setting: { kind: 'recorders' }, logger }), /needs cluster mode/);
  });
});
