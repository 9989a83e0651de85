/**
 * WHIP from Debian's simple-whip-client (GStreamer webrtcbin), a WHIP client
 * we did not write: it POSTs its offer with a bearer token, trickles its ICE
 * candidates with PATCH, and DELETEs its resource when stopped. A WebRTC
 * viewer of the room receives whole frames from it (key frames included);
 * after the client's exit nothing of it is left on the server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { GstreamerWhipClient } from '../helpers/gstreamerWhipClient.js';
import { stopAllTracked } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-whip-gst-keys-'));
const tokens = new TokenService(TEST_AUTH_SECRET);
let server: FloodlightServer;

before(async () => {
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, HLS_ENABLED: 'false' });
});

after(async () => {
  await stopAllTracked();
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

async function createKey(room: string): Promise<string> {
  const admin = await tokens.issue({ room: '*', role: 'admin' }, 600);
  const response = await fetch(`${server.url}/api/rooms/${room}/keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${admin}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ slot: 'primary' }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { key: { key: string } }).key.key;
}

for (const { video, credential } of [
  { video: 'vp8', credential: 'stream key' },
  { video: 'h264', credential: 'publisher JWT' },
] as const) {
  test(`simple-whip-client (GStreamer, ${video}, trickle, ${credential}) reaches a WebRTC viewer; its DELETE frees everything`, async (t) => {
    // Watch what the client asks of the sessions (the real methods still run).
    const patches = t.mock.method(server.whip, 'patch');
    const deletes = t.mock.method(server.whip, 'end');
    const room = `whip-gst-${video}`;
    const token = credential === 'stream key' ? await createKey(room) : await tokens.issue({ room, role: 'publisher' }, 600);
    const baseline = server.pool.counts();
    const client = new GstreamerWhipClient({ url: `${server.url}/whip/${room}`, token, video, echo: process.env['WHIP_CLIENT_ECHO'] === '1' });
    const viewer = new HeadlessViewer({ url: server.url, room, name: `gst-${video}-viewer` });
    try {
      await waitFor(() => server.rooms.get(room)?.sources().length === 1, {
        description: 'the GStreamer client to publish into the room',
        timeoutMs: 20_000,
        progress: () => client.output().split('\n').slice(-3).join(' | '),
      });
      const source = server.rooms.get(room)!.sources()[0]!;
      assert.equal(source.protocol, 'whip');
      await viewer.join();
      await waitFor(() => viewer.stats().video.completeFrames >= 30 && viewer.stats().video.keyframes >= 1 && viewer.stats().audio.packets >= 50, {
        description: `the viewer to receive 30 whole ${video} frames (a key frame among them) and 50 Opus packets`,
        timeoutMs: 30_000,
        progress: () => `video ${JSON.stringify(viewer.stats().video)}, audio packets ${viewer.stats().audio.packets}`,
      });
      const videoConsumer = viewer.stats().consumers.find((c) => c.kind === 'video');
      assert.equal(videoConsumer?.mimeType.toLowerCase(), `video/${video}`);
      // It trickled its candidates (PATCH after the 201) and each was taken (204), not refused.
      assert.ok(patches.mock.callCount() >= 1, `whip-client sent no PATCH:\n${client.output()}`);
      for (const call of patches.mock.calls) assert.deepEqual(await call.result, { kind: 'trickle' });

      const exit = await client.stop();
      assert.equal(exit.signal, null, `whip-client exited by itself after its DELETE:\n${client.output()}`);
      assert.equal(deletes.mock.callCount(), 1, 'whip-client DELETEd its resource');
      assert.equal(deletes.mock.calls[0]?.arguments[0], room);
      await waitFor(() => server.whip.size === 0 && (server.rooms.get(room)?.sources().length ?? 0) === 0, {
        description: 'the DELETE to end the WHIP session and its source',
      });
    } finally {
      await viewer.close();
      await client.stop();
    }
    await waitFor(() => server.pool.counts().transports === baseline.transports && server.pool.counts().producers === baseline.producers, {
      description: 'every transport and producer of the client and the viewer to be freed',
      timeoutMs: 15_000,
      progress: () => JSON.stringify(server.pool.counts()),
    });
  });
}
