/**
 * POST and PATCH floods on WHIP and WHEP from one address (127.0.0.1):
 * past the per-address burst every request gets 429 + Retry-After as
 * problem+json, and the node-wide pending cap answers 503 + Retry-After;
 * the server stays up, a legitimate encoder on another address (127.0.0.2)
 * publishes meanwhile and a viewer receives it, and once the flood's
 * never-connected sessions time out nothing of it is left (transports,
 * producers, rooms, sessions).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import nodeDataChannel from 'node-datachannel';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import { DEFAULT_REQUEST_RATE_LIMIT, PATCH_ALLOWANCE } from '../../server/webrtc/addressRateLimit.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { WhipEncoder } from '../helpers/whipEncoder.js';
import { waitFor } from '../helpers/wait.js';

const fixtures = path.join(import.meta.dirname, '../fixtures/whip');
const tokens = new TokenService(TEST_AUTH_SECRET);
const FLOOD = 50;
const { burst } = DEFAULT_REQUEST_RATE_LIMIT;
/** Above the burst, so the legitimate encoder is not shed by the flood's pending sessions. */
const WHIP_PENDING_CAP = burst + 5;
/** Below the burst, so the WHEP flood also meets the node-wide cap (503). */
const WHEP_PENDING_CAP = 2;

let server: FloodlightServer;

before(async () => {
  server = await startTestServer({
    HLS_ENABLED: 'false',
    WHIP_MAX_PENDING_SESSIONS: String(WHIP_PENDING_CAP),
    WHEP_MAX_PENDING_SESSIONS: String(WHEP_PENDING_CAP),
  });
});

after(async () => {
  await server?.close();
});

function footprint(): string {
  const { transports, producers, consumers } = server.pool.counts();
  return JSON.stringify({ transports, producers, consumers, rooms: server.rooms.size, whip: server.whip.size, whep: server.whep.size });
}

/** Status → how many; every 429 and 503 checked: problem+json with a Retry-After of at least 1 s. */
async function tally(responses: Response[]): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  for (const response of responses) {
    counts.set(response.status, (counts.get(response.status) ?? 0) + 1);
    const body = await response.text();
    if (response.status !== 429 && response.status !== 503) continue;
    assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
    assert.equal((JSON.parse(body) as { status: number }).status, response.status);
    assert.ok(Number(response.headers.get('retry-after')) >= 1, `Retry-After: ${response.headers.get('retry-after')}`);
  }
  return counts;
}

test('WHIP and WHEP floods from one address get 429/503; another address publishes and is watched; nothing is left', async () => {
  const baseline = footprint();
  const obsOffer = fs.readFileSync(path.join(fixtures, 'obs-libdatachannel.sdp'), 'utf8');

  // A WHIP POST flood of valid offers, each for its own room (no slot conflict): the burst is served, the rest refused.
  const whipFlood = await Promise.all(
    Array.from({ length: FLOOD }, async (_, i) => {
      const room = `flood-${i}`;
      return fetch(`${server.url}/whip/${room}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${await tokens.issue({ room, role: 'publisher' }, 600)}` },
        body: obsOffer,
      });
    }),
  );
  const whipCounts = await tally(whipFlood);
  assert.deepEqual(Object.fromEntries(whipCounts), { 201: burst, 429: FLOOD - burst }, 'WHIP flood statuses');
  assert.equal(server.whip.size, burst);

  // A legitimate encoder on another address publishes while the flood's sessions are pending, and is watched.
  const room = 'flood-legit';
  const encoder = new WhipEncoder({ localAddress: '127.0.0.2', name: 'legit' });
  const viewer = new HeadlessViewer({ url: server.url, room, name: 'legit-viewer' });
  try {
    const published = await encoder.publish(`${server.url}/whip/${room}`, await tokens.issue({ room, role: 'publisher' }, 600));
    assert.equal(published.status, 201, await published.clone().text());
    await encoder.startMedia();
    await viewer.join();
    await waitFor(() => viewer.stats().video.frames >= 30, {
      description: 'the viewer to receive 30 frames from the encoder on 127.0.0.2',
      timeoutMs: 30_000,
      progress: () => JSON.stringify(viewer.stats().video),
    });

    // A WHEP POST flood on the live room: the pending cap (503) inside the burst, 429 past it.
    const whepOffer = fs.readFileSync(path.join(fixtures, 'chromium.sdp'), 'utf8').replaceAll('a=sendonly', 'a=recvonly');
    const whepFlood = await Promise.all(
      Array.from({ length: FLOOD }, () =>
        fetch(`${server.url}/whep/${room}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: whepOffer }),
      ),
    );
    const whepCounts = await tally(whepFlood);
    const served = (whepCounts.get(201) ?? 0) + (whepCounts.get(406) ?? 0);
    assert.equal(served, WHEP_PENDING_CAP, `WHEP sessions opened: ${JSON.stringify(Object.fromEntries(whepCounts))}`);
    assert.equal(whepCounts.get(503), burst - WHEP_PENDING_CAP, 'the pending cap shed the rest of the burst');
    assert.equal(whepCounts.get(429), FLOOD - burst, 'the rest was rate limited');

    // A PATCH flood on one of the flood's sessions: its allowance is larger (trickle), then 429.
    const session = new URL(whepFlood.find((r) => r.status === 201 || r.status === 406)!.headers.get('location')!, server.url).href;
    const patchFlood: Response[] = [];
    for (let i = 0; i < burst * PATCH_ALLOWANCE + 60; i++) {
      patchFlood.push(
        await fetch(session, { method: 'PATCH', headers: { 'Content-Type': 'application/trickle-ice-sdpfrag' }, body: 'a=end-of-candidates\r\n' }),
      );
    }
    const patchCounts = await tally(patchFlood);
    assert.deepEqual([...patchCounts.keys()].sort(), [428, 429], 'refused for its missing If-Match until rate limited');
    assert.ok((patchCounts.get(429) ?? 0) >= 20, `PATCHes rate limited: ${JSON.stringify(Object.fromEntries(patchCounts))}`);

    // The server is up and the legitimate stream still flows.
    assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    const frames = viewer.stats().video.frames;
    await waitFor(() => viewer.stats().video.frames >= frames + 30, { description: 'the legitimate stream to keep flowing after the floods' });
    assert.equal(await encoder.unpublish(), 200);
  } finally {
    await viewer.close();
    await encoder.close();
    nodeDataChannel.cleanup();
  }

  // The flood's sessions never connect: they are closed after the connect deadline (15 s), and with them everything.
  await waitFor(() => footprint() === baseline, {
    description: 'every session, transport, producer and room of the floods and the legitimate client to be gone',
    timeoutMs: 40_000,
    progress: () => `${footprint()} (baseline ${baseline})`,
  });
});
