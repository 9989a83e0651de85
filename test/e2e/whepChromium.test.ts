/**
 * End to end in real Chromium: a page plays a live room over WHEP itself —
 * RTCPeerConnection with two recvonly transceivers and `fetch` — the way
 * browser WHEP players do. Chromium offers its own payload types (VP8 96,
 * Opus 111) and MID id, which are not the router's, so the server answers
 * 406 with its counter-offer; the page takes it (implicit rollback of its own
 * offer), PATCHes its answer and decodes the video (framesDecoded, and the
 * frames a <video> element presented: getVideoPlaybackQuality). DELETE
 * ends the session and frees its transport.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import type { HeadlessPublisher } from '../helpers/headlessPublisher.js';
import { publishForPlayers } from '../helpers/whepPlayer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'whep-chromium';
let server: FloodlightServer;
let chromium: LaunchedChromium;
let publisher: HeadlessPublisher | undefined;

before(async () => {
  server = await startTestServer({ HLS_ENABLED: 'false' });
  chromium = await launchChromium();
});

after(async () => {
  await publisher?.close();
  await (chromium as LaunchedChromium | undefined)?.close();
  await (server as FloodlightServer | undefined)?.close();
});

interface PlayerWindow {
  whep: { pc: RTCPeerConnection };
}

test('a Chromium page plays a live room over WHEP and decodes its video; DELETE frees it', { timeout: 90_000 }, async () => {
  publisher = await publishForPlayers(server.url, ROOM, await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600));
  await waitFor(() => server.rooms.get(ROOM)?.program.tracks().length === 2, { description: 'the room to be live' });
  const transportsBefore = server.pool.counts().transports;

  const page = await chromium.context.newPage();
  page.on('pageerror', (error) => console.log(`[whep page error] ${error.message}`));
  // Any page of the server: the player is same-origin and in a secure context (127.0.0.1).
  await page.goto(`${server.url}/healthz`);
  const played = await page.evaluate(async (room) => {
    const pc = new RTCPeerConnection();
    pc.addTransceiver('audio', { direction: 'recvonly' });
    pc.addTransceiver('video', { direction: 'recvonly' });
    (window as unknown as PlayerWindow).whep = { pc };
    pc.addEventListener('track', (event) => {
      if (event.track.kind !== 'video') return;
      const video = document.createElement('video');
      video.muted = true;
      video.autoplay = true;
      video.srcObject = new MediaStream([event.track]);
      document.body.append(video);
      void video.play().catch(() => undefined);
    });
    await pc.setLocalDescription();
    await new Promise<void>((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve();
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve());
    });
    const response = await fetch(`/whep/${room}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    const sdp = await response.text();
    const location = response.headers.get('location');
    if (response.status === 201) {
      await pc.setRemoteDescription({ type: 'answer', sdp });
      return { status: 201, location, patched: null, sdp };
    }
    if (response.status !== 406 || !location) return { status: response.status, location, patched: null, sdp };
    // The server's counter-offer replaces ours (implicit rollback); our answer goes back by PATCH.
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription();
    const patch = await fetch(location, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription!.sdp });
    return { status: 406, location, patched: patch.status, sdp };
  }, ROOM);
  assert.ok(played.status === 201 || played.status === 406, `${played.status}: ${played.sdp}`);
  if (played.status === 406) assert.equal(played.patched, 204, 'the PATCHed answer is taken');
  assert.ok(played.location);

  const decoded = (): Promise<{ framesDecoded: number; painted: number; state: string }> =>
    page.evaluate(async () => {
      const { pc } = (window as unknown as PlayerWindow).whep;
      const painted = document.querySelector('video')?.getVideoPlaybackQuality().totalVideoFrames ?? 0;
      let framesDecoded = 0;
      (await pc.getStats()).forEach((report: { type: string; kind?: string; framesDecoded?: number }) => {
        if (report.type === 'inbound-rtp' && report.kind === 'video') framesDecoded = report.framesDecoded ?? 0;
      });
      return { framesDecoded, painted, state: pc.connectionState };
    });
  let last = { framesDecoded: 0, painted: 0, state: 'new' };
  await waitFor(
    async () => {
      last = await decoded();
      return last.framesDecoded >= 60 && last.painted >= 30;
    },
    { description: 'the WHEP page to decode 60 frames and present 30', timeoutMs: 30_000, progress: () => JSON.stringify(last) },
  );
  assert.equal(server.rooms.get(ROOM)?.viewerCount, 1, 'the page is a viewer of the room');

  const status = await page.evaluate(async (location) => (await fetch(location, { method: 'DELETE' })).status, played.location);
  assert.equal(status, 200);
  await waitFor(() => server.whep.size === 0 && server.pool.counts().transports === transportsBefore, {
    description: 'the WHEP session to end and its transport to be freed',
    progress: () => JSON.stringify(server.pool.counts()),
  });
});
