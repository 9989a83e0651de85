/**
 * The HLS folder holds only what the server put there: links planted in it
 * are not served, and a root that is not the server's own refuses start.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import { pino } from 'pino';
import { HlsDirUnsafeError, prepareHlsRoot } from '../../server/hls/hlsDirSafety.js';
import { createHlsRouter } from '../../server/hls/hlsRoutes.js';
import { HlsService } from '../../server/hls/hlsService.js';
import { MemoryMessageBus } from '../../server/cluster/memoryMessageBus.js';
import type { RoomRegistry } from '../../server/rooms/roomRegistry.js';

let tmp: string;
before(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'hls-dir-safety-'));
});
after(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('/hls routes and symbolic links', () => {
  let root: string;
  let outside: string;
  let server: http.Server;
  let base: string;

  before(async () => {
    root = path.join(tmp, 'root');
    outside = path.join(tmp, 'outside');
    await fsp.mkdir(path.join(root, 'real', '720p'), { recursive: true });
    await fsp.mkdir(path.join(outside, 'secret', '720p'), { recursive: true });
    await fsp.writeFile(path.join(outside, 'secret.txt'), 'SECRET');
    for (const file of ['index.m3u8', '720p/index.m3u8', '720p/seg-abc-1.m4s']) await fsp.writeFile(path.join(outside, 'secret', file), 'SECRET');
    // Real files, for contrast.
    await fsp.writeFile(path.join(root, 'real', 'index.m3u8'), '#EXTM3U\n');
    await fsp.writeFile(path.join(root, 'real', '720p', 'seg-abc-1.m4s'), 'media');
    // Links to a file outside, at every file name the routes serve…
    await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'real', '720p', 'seg-abc-2.m4s'));
    await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'real', '720p', 'index.m3u8'));
    await fsp.mkdir(path.join(root, 'linkmaster'));
    await fsp.symlink(path.join(outside, 'secret.txt'), path.join(root, 'linkmaster', 'index.m3u8'));
    // …and links to folders outside: a room and a rendition.
    await fsp.symlink(path.join(outside, 'secret'), path.join(root, 'linkroom'));
    await fsp.symlink(path.join(outside, 'secret', '720p'), path.join(root, 'real', '480p'));

    const app = express();
    app.use('/hls', createHlsRouter({ root, lookup: () => undefined }));
    server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hls`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const get = async (url: string): Promise<{ status: number; body: string }> => {
    const res = await fetch(`${base}${url}`);
    return { status: res.status, body: await res.text() };
  };

  test('real files are served', async () => {
    assert.equal((await get('/real/index.m3u8')).status, 200);
    assert.deepEqual(await get('/real/720p/seg-abc-1.m4s'), { status: 200, body: 'media' });
  });

  for (const url of [
    '/real/720p/seg-abc-2.m4s',
    '/real/720p/index.m3u8',
    '/linkmaster/index.m3u8',
    '/linkroom/index.m3u8',
    '/linkroom/720p/index.m3u8',
    '/linkroom/720p/seg-abc-1.m4s',
    '/real/480p/index.m3u8',
    '/real/480p/seg-abc-1.m4s',
  ]) {
    test(`a link is not followed: ${url}`, async () => {
      const { status, body } = await get(url);
      assert.equal(status, 404);
      assert.ok(!body.includes('SECRET'));
    });
  }
});

describe('the HLS root', () => {
  test('a missing root is created, owned by the server, not writable by others', async () => {
    const dir = path.join(tmp, 'fresh', 'hls');
    const real = await prepareHlsRoot(dir);
    assert.equal(real, fs.realpathSync(dir));
    const stat = fs.statSync(dir);
    assert.equal(stat.uid, process.getuid!());
    assert.equal(stat.mode & 0o022, 0, `mode ${(stat.mode & 0o777).toString(8)}`);
  });

  test('an existing own root with safe permissions is accepted, also through an own link', async () => {
    const dir = path.join(tmp, 'own');
    await fsp.mkdir(dir, { mode: 0o700 });
    assert.equal(await prepareHlsRoot(dir), fs.realpathSync(dir));
    await fsp.symlink(dir, path.join(tmp, 'own-link'));
    assert.equal(await prepareHlsRoot(path.join(tmp, 'own-link')), fs.realpathSync(dir));
  });

  test('a root writable by group or others is refused', async () => {
    for (const mode of [0o777, 0o770]) {
      const dir = path.join(tmp, `open-${mode.toString(8)}`);
      await fsp.mkdir(dir);
      await fsp.chmod(dir, mode);
      await assert.rejects(prepareHlsRoot(dir), (error: unknown) => error instanceof HlsDirUnsafeError && /writable by/.test(error.message));
    }
  });

  test(
    'a root owned by another user refuses start: HlsService.create throws, one clear line',
    { skip: process.getuid?.() !== 0 && 'needs root to chown' },
    async () => {
      const dir = path.join(tmp, 'foreign');
      await fsp.mkdir(dir, { mode: 0o700 });
      await fsp.chown(dir, 65534, 65534);
      await assert.rejects(prepareHlsRoot(dir), HlsDirUnsafeError);
      // A link to it planted by that user is refused as well.
      const link = path.join(tmp, 'foreign-link');
      await fsp.symlink(path.join(tmp, 'own'), link);
      await fsp.lchown(link, 65534, 65534);
      await assert.rejects(prepareHlsRoot(link), HlsDirUnsafeError);

      const rooms = { on: () => undefined, off: () => undefined, rooms: () => [] } as unknown as RoomRegistry;
      const options = {
        rooms,
        bus: new MemoryMessageBus('test-node'),
        root: dir,
        renditions: [],
        dvrSeconds: 0,
        retainMs: 0,
        ffmpegPath: 'ffmpeg',
        rtcPortRange: { min: 40000, max: 40100 },
        logger: pino({ level: 'silent' }),
      };
      await assert.rejects(HlsService.create(options), (error: unknown) => {
        assert.ok(error instanceof HlsDirUnsafeError);
        assert.match(error.message, /^HLS_DIR .*foreign is owned by uid 65534, not by this server \(uid 0\); chown it or set HLS_DIR elsewhere$/);
        return true;
      });
      assert.deepEqual(fs.readdirSync(dir), [], 'nothing written into it');
    },
  );
});
