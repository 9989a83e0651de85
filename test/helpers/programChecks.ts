/**
 * What the backup-ingest tests check on a room's program, whatever the
 * encoders' protocols: the frame rate a viewer gets (the encoders differ in
 * it, so it tells which one is on air), that viewers kept their one consumer
 * per kind with continuous RTP through switches, and the room's HLS media
 * playlist.
 */
import assert from 'node:assert/strict';
import type { ProgramSlot, ProgramStatus } from '../../server/contracts/programApi.js';
import type { HeadlessViewer } from './headlessViewer.js';
import { waitFor } from './wait.js';

/** Video frames per second a viewer receives, over `ms`. */
export async function frameRate(viewer: HeadlessViewer, ms = 2000): Promise<number> {
  const start = viewer.stats().video.frames;
  const t0 = Date.now();
  await waitFor(() => Date.now() - t0 >= ms, { description: 'the measurement window', timeoutMs: ms + 1000, intervalMs: 50 });
  return ((viewer.stats().video.frames - start) * 1000) / (Date.now() - t0);
}

/**
 * The frame rate a viewer gets while `slot` stays on air for the whole window. On a loaded machine
 * an encoder can stall past INGEST_STALL_MS and the program switches away for a while: the rate of
 * such a window says nothing about the slot, so it is measured again once the slot is back on air.
 */
export async function frameRateOnAir(
  viewer: HeadlessViewer,
  program: () => ProgramStatus,
  slot: ProgramSlot,
  { ms = 2000, timeoutMs = 30_000 } = {},
): Promise<number> {
  return waitFor(
    async () => {
      const before = program();
      if (before.active !== slot) return undefined;
      const rate = await frameRate(viewer, ms);
      const after = program();
      return after.active === slot && after.switches === before.switches ? rate : undefined;
    },
    { description: `a ${ms} ms window with the ${slot} on air throughout`, timeoutMs, progress: () => JSON.stringify(program().slots) },
  );
}

/** Every viewer still has exactly its first audio and video consumer, open, from its first join, with no RTP lost. */
export function assertOneConsumerEach(viewers: readonly HeadlessViewer[]): void {
  for (const viewer of viewers) {
    const stats = viewer.stats();
    assert.equal(stats.joins, 1, `${viewer.name} never rejoined`);
    assert.deepEqual(
      stats.consumers.map((c) => `${c.kind}:${c.closed ? 'closed' : 'open'}`).sort(),
      ['audio:open', 'video:open'],
      `${viewer.name} kept one consumer per kind`,
    );
    assert.equal(stats.video.lost, 0, `${viewer.name}: video RTP sequence continuous`);
    assert.equal(stats.audio.lost, 0, `${viewer.name}: audio RTP sequence continuous`);
  }
}

/** The URL of the room's (first) HLS media playlist, once its master playlist exists. */
export async function mediaPlaylistUrl(serverUrl: string, room: string): Promise<string> {
  const master = await waitFor(
    async () => {
      const response = await fetch(`${serverUrl}/hls/${room}/index.m3u8`);
      return response.status === 200 ? response.text() : undefined;
    },
    { description: 'the master playlist', timeoutMs: 30_000 },
  );
  const uri = master.split('\n').find((line) => line && !line.startsWith('#'));
  assert.ok(uri, 'the master lists a media playlist');
  return `${serverUrl}/hls/${room}/${uri.trim()}`;
}
