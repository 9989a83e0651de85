/**
 * End to end in real Chromium: a page speaks WHIP itself — getUserMedia (the
 * fake camera and microphone), RTCPeerConnection, `fetch` POST of the offer
 * with a stream key — the way browser WHIP clients do; a watch page of the
 * room decodes its video over WebRTC. DELETE ends the session and frees its
 * transport.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'whip-chromium';
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-whip-e2e-keys-'));
let server: FloodlightServer;
let chromium: LaunchedChromium;

before(async () => {
  server = await startTestServer({ STREAM_KEYS_DIR: keysDir, HLS_ENABLED: 'false' });
  chromium = await launchChromium();
});

after(async () => {
  await (chromium as LaunchedChromium | undefined)?.close();
  await (server as FloodlightServer | undefined)?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

test('a Chromium page publishes over WHIP; a watch page decodes its video; DELETE frees it', { timeout: 90_000 }, async () => {
  const { key } = await server.streamKeys.create(ROOM, 'primary');
  const publisher = await chromium.context.newPage();
  publisher.on('pageerror', (error) => console.log(`[whip page error] ${error.message}`));
  // Any page of the server: the WHIP client is same-origin and in a secure context (127.0.0.1).
  await publisher.goto(`${server.url}/healthz`);
  const published = await publisher.evaluate(
    async ({ room, key }) => {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 360 } });
      const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
      for (const track of stream.getTracks()) pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
      await pc.setLocalDescription();
      // No trickle: send the offer with every candidate, as most WHIP clients do.
      await new Promise<void>((resolve) => {
        if (pc.iceGatheringState === 'complete') resolve();
        pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
      });
      const response = await fetch(`/whip/${room}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
        body: pc.localDescription!.sdp,
      });
      const answer = await response.text();
      if (response.status !== 201) return { status: response.status, location: null, answer };
      await pc.setRemoteDescription({ type: 'answer', sdp: answer });
      (window as unknown as { whipPc: RTCPeerConnection }).whipPc = pc;
      return { status: response.status, location: response.headers.get('location'), answer };
    },
    { room: ROOM, key },
  );
  assert.equal(published.status, 201, published.answer);
  assert.ok(published.location);
  await waitFor(() => publisher.evaluate(() => (window as unknown as { whipPc: RTCPeerConnection }).whipPc.connectionState === 'connected'), {
    description: "the WHIP page's PeerConnection to connect",
    timeoutMs: 20_000,
  });
  const source = server.rooms.get(ROOM)?.sources()[0];
  assert.equal(source?.protocol, 'whip');

  const watch = await chromium.context.newPage();
  watch.on('pageerror', (error) => console.log(`[watch page error] ${error.message}`));
  await watch.goto(`${server.url}/watch?room=${ROOM}`);
  const framesDecoded = (): Promise<number> =>
    watch.evaluate(async () => {
      const handle = (window as unknown as { floodlight?: { viewer?: { getStats(): Promise<{ framesDecoded: number }> } } }).floodlight;
      return handle?.viewer ? (await handle.viewer.getStats()).framesDecoded : 0;
    });
  await waitFor(async () => (await framesDecoded()) >= 60, {
    description: 'the watch page to decode 60 frames of the WHIP publisher',
    timeoutMs: 30_000,
    progress: () => `source health ${JSON.stringify(source?.health())}`,
  });

  const transportsBefore = server.pool.counts().transports;
  // A single-encoding ingest goes through the program relay (its own transport), which goes off air with it.
  const freed = server.rooms.get(ROOM)?.program.relay ? 2 : 1;
  const status = await publisher.evaluate(async (location) => (await fetch(location, { method: 'DELETE' })).status, published.location);
  assert.equal(status, 200);
  await waitFor(() => server.rooms.get(ROOM)?.sources().length === 0 && server.pool.counts().transports === transportsBefore - freed, {
    description: `the WHIP session to end and its transport${freed === 2 ? ' and the relay' : ''} to be freed`,
    progress: () => JSON.stringify(server.pool.counts()),
  });
});
