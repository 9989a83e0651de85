/**
 * WHEP playback against a real server (real mediasoup worker): a headless
 * publisher makes a room live; werift players (recvonly) play it over WHEP.
 *   - a player offering the router's numbers gets a 201 answer and receives
 *     VP8 frames (a key frame first) and Opus; it counts as a viewer; DELETE
 *     frees its transport and consumers;
 *   - a player offering its own payload types / MID id gets 406 with the
 *     server's counter-offer, PATCHes its answer, then receives media; one
 *     that never answers is closed after the connect deadline (15 s);
 *   - 409 + Retry-After for a room that is not live; 503 + Retry-After at
 *     MAX_WEBRTC_VIEWERS; a new publisher ends the session (WHEP cannot
 *     renegotiate);
 *   - the bad-input table: status and problem+json, and nothing allocated.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import type { HeadlessPublisher } from '../helpers/headlessPublisher.js';
import { publishForPlayers, WhepPlayer } from '../helpers/whepPlayer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'whep-live';
const tokens = new TokenService(TEST_AUTH_SECRET);

let server: FloodlightServer;
let publisher: HeadlessPublisher | undefined;

const whepUrl = (room: string): string => `${server.url}/whep/${room}`;

/** What a refused request must not have changed. */
function footprint(): string {
  const { transports, consumers } = server.pool.counts();
  return JSON.stringify({ transports, consumers, rooms: server.rooms.size, sessions: server.whep.size, viewers: server.rooms.get(ROOM)?.viewerCount });
}

async function expectProblem(response: Response, status: number, detail?: RegExp): Promise<void> {
  const body = await response.text();
  assert.equal(response.status, status, body);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = JSON.parse(body) as { status: number; detail: string };
  assert.equal(problem.status, status);
  if (detail) assert.match(problem.detail, detail);
}

async function startPublisher(): Promise<HeadlessPublisher> {
  const peer = await publishForPlayers(server.url, ROOM, await tokens.issue({ room: ROOM, role: 'publisher' }, 600));
  await waitFor(() => server.rooms.get(ROOM)?.program.tracks().length === 2, { description: 'the room to be live with audio and video' });
  return peer;
}

const player = (numbering: 'router' | 'own', kinds?: ('audio' | 'video')[]): WhepPlayer =>
  new WhepPlayer({ routerCapabilities: server.pool.routerRtpCapabilities, numbering, ...(kinds ? { kinds } : {}) });

async function receivesMedia(p: WhepPlayer, what: string): Promise<void> {
  await waitFor(() => p.stats().video.frames >= 30 && p.stats().video.keyframes >= 1 && p.stats().audio.packets >= 50, {
    description: `${what} to receive 30 VP8 frames (a key frame among them) and 50 Opus packets`,
    timeoutMs: 30_000,
    progress: () => `${p.connectionState}, video ${JSON.stringify(p.stats().video)}, audio packets ${p.stats().audio.packets}`,
  });
}

before(async () => {
  server = await startTestServer({ HLS_ENABLED: 'false', WHEP_MAX_PENDING_SESSIONS: '4' });
});

after(async () => {
  await publisher?.close();
  await server?.close();
});

test('a room that is not live answers 409 + Retry-After and opens nothing', async () => {
  const before = footprint();
  const p = player('router');
  try {
    const response = await p.play(whepUrl('whep-not-live'));
    await expectProblem(response, 409, /not live/);
    assert.equal(response.headers.get('retry-after'), '2');
  } finally {
    await p.close(false);
  }
  assert.equal(footprint(), before);
  assert.equal(server.rooms.get('whep-not-live'), undefined);
});

test('a player offering the router numbers gets 201 and plays; it is a viewer; DELETE frees it', async () => {
  publisher = await startPublisher();
  const before = server.pool.counts();
  const p = player('router');
  try {
    const response = await p.play(whepUrl(ROOM));
    const answer = await response.text();
    assert.equal(response.status, 201, answer);
    assert.equal(response.headers.get('content-type'), 'application/sdp');
    assert.match(response.headers.get('etag') ?? '', /^"[^"]+"$/, 'a strong ETag');
    assert.match(p.location ?? '', new RegExp(`/whep/${ROOM}/[0-9a-f-]{36}$`));
    assert.match(response.headers.get('accept-patch') ?? '', /application\/trickle-ice-sdpfrag/);
    assert.match(answer, /a=ice-lite/);
    assert.equal(answer.match(/a=sendonly/g)?.length, 2, answer);
    await receivesMedia(p, 'the WHEP player');
    assert.equal(server.rooms.get(ROOM)?.viewerCount, 1, 'the WHEP player is a viewer of the room');
    assert.equal(server.whep.size, 1);
    assert.equal(server.whep.pending, 0, 'connected: no longer pending');
    assert.equal(server.pool.counts().consumers, before.consumers + 2);

    // Trickle is acknowledged (If-Match required, as in WHIP).
    const patch = (headers: Record<string, string>, body: string) => fetch(p.location!, { method: 'PATCH', headers, body });
    const candidate = 'a=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n';
    await expectProblem(await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag' }, candidate), 428);
    assert.equal((await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': p.etag! }, candidate)).status, 204);
    await expectProblem(await patch({ 'Content-Type': 'text/plain', 'If-Match': p.etag! }, candidate), 415);
    await expectProblem(await patch({ 'Content-Type': 'application/sdp' }, 'v=0\r\n'), 409, /not waiting for an answer/);
    // An ICE restart (new credentials): 200 with the server's new ones and a new ETag; the old ETag is stale.
    const restart = await patch(
      { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
      'a=ice-ufrag:newufrag\r\na=ice-pwd:newpasswordnewpassword\r\n',
    );
    const fragment = await restart.text();
    assert.equal(restart.status, 200, fragment);
    assert.notEqual(restart.headers.get('etag'), p.etag, 'a new ETag after an ICE restart');
    assert.match(fragment, /a=ice-ufrag:/);
    await expectProblem(await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': p.etag! }, candidate), 412);

    assert.equal(await p.close(), 200);
    await waitFor(
      () => server.whep.size === 0 && server.pool.counts().transports === before.transports && server.pool.counts().consumers === before.consumers,
      { description: 'the WHEP transport and consumers to be freed', progress: () => JSON.stringify(server.pool.counts()) },
    );
    assert.equal(server.rooms.get(ROOM)?.viewerCount, 0);
    assert.equal((await fetch(p.location!, { method: 'DELETE' })).status, 404, 'the session is gone');
  } finally {
    await p.close(false);
  }
});

test('a player with its own payload types and MID id gets 406 + counter-offer, PATCHes its answer, then plays', async () => {
  const p = player('own');
  try {
    const response = await p.play(whepUrl(ROOM));
    assert.equal(response.status, 406, p.serverSdp);
    assert.equal(response.headers.get('content-type'), 'application/sdp');
    assert.ok(response.headers.get('location'));
    const routerVp8 = server.pool.routerRtpCapabilities.codecs!.find((c) => c.mimeType === 'video/VP8')!.preferredPayloadType;
    assert.match(p.serverSdp ?? '', new RegExp(`a=rtpmap:${routerVp8} VP8/90000`), 'the counter-offer uses the router payload type');
    assert.match(p.serverSdp ?? '', /a=setup:actpass/);
    await receivesMedia(p, 'the counter-offered player');
  } finally {
    await p.close();
  }
  await waitFor(() => server.whep.size === 0, { description: 'the session to end' });
});

test('bad input gets the right status as problem+json and allocates nothing', async (t) => {
  const p = player('router');
  const offer = await p.offer();
  const send = (room: string, init: { type?: string; body?: string }) =>
    fetch(whepUrl(room), { method: 'POST', headers: init.type ? { 'Content-Type': init.type } : {}, body: init.body ?? offer });
  const video = offer.slice(offer.indexOf('m=video'));
  const cases: [name: string, request: () => Promise<Response>, status: number, detail?: RegExp][] = [
    ['wrong content type', () => send(ROOM, { type: 'application/json' }), 415],
    ['no content type', () => send(ROOM, {}), 415],
    ['an oversized body', () => send(ROOM, { type: 'application/sdp', body: offer + `a=x-padding:${'x'.repeat(40_000)}\r\n` }), 413],
    ['malformed SDP', () => send(ROOM, { type: 'application/sdp', body: 'hello' }), 400, /v=0/],
    ['a sendrecv offer', () => send(ROOM, { type: 'application/sdp', body: offer.replaceAll('a=recvonly', 'a=sendrecv') }), 422, /recvonly/],
    ['a sendonly offer', () => send(ROOM, { type: 'application/sdp', body: offer.replaceAll('a=recvonly', 'a=sendonly') }), 422, /recvonly/],
    ['three m-lines', () => send(ROOM, { type: 'application/sdp', body: offer + video.replace(/a=mid:\S+/, 'a=mid:2') }), 422, /at most one video/],
    ['no usable codec', () => send(ROOM, { type: 'application/sdp', body: offer.replaceAll('VP8/90000', 'VP9/90000') }), 422, /VP8/],
    ['a bad room name', () => send('bad%20room', { type: 'application/sdp' }), 400],
    [
      'PATCH of an unknown session',
      () => fetch(`${whepUrl(ROOM)}/00000000-0000-4000-8000-000000000000`, { method: 'PATCH', headers: { 'Content-Type': 'application/sdp' }, body: offer }),
      404,
    ],
    ['DELETE of an unknown session', () => fetch(`${whepUrl(ROOM)}/00000000-0000-4000-8000-000000000000`, { method: 'DELETE' }), 404],
    ['GET on the endpoint', () => fetch(whepUrl(ROOM)), 405],
    [
      'a bad viewer token',
      () => fetch(whepUrl(ROOM), { method: 'POST', headers: { 'Content-Type': 'application/sdp', Authorization: 'Bearer nope' }, body: offer }),
      401,
    ],
  ];
  const before = footprint();
  for (const [name, request, status, detail] of cases) {
    await t.test(name, async () => {
      await expectProblem(await request(), status, detail);
    });
  }
  assert.equal(footprint(), before, 'no transport, consumer, room, session or viewer was left behind');
});

test('MAX_WEBRTC_VIEWERS: a player over the limit gets 503 + Retry-After', async () => {
  const first = player('router');
  const second = player('router');
  await server.cluster.settings.set({ setting: 'maxWebRtcViewers', value: 1 });
  try {
    assert.equal((await first.play(whepUrl(ROOM))).status, 201);
    const before = footprint();
    const refused = await second.play(whepUrl(ROOM));
    await expectProblem(refused, 503, /limit/);
    assert.ok(refused.headers.get('retry-after'));
    assert.equal(footprint(), before);
  } finally {
    await server.cluster.settings.set({ setting: 'maxWebRtcViewers', value: undefined });
    await first.close();
    await second.close(false);
  }
  await waitFor(() => server.whep.size === 0, { description: 'the session to end' });
});

test('a counter-offer never answered is closed after the connect deadline; a new publisher ends a playing session', async () => {
  const silent = player('own');
  const playing = player('router');
  try {
    // Answers nothing: POST only, no PATCH.
    const offer = await silent.offer();
    const response = await fetch(whepUrl(ROOM), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer });
    assert.equal(response.status, 406);
    assert.equal((await playing.play(whepUrl(ROOM))).status, 201);
    await receivesMedia(playing, 'the player');
    assert.equal(server.whep.size, 2);
    assert.equal(server.whep.pending, 1);
    await waitFor(() => server.whep.size === 1, { description: 'the never-answered session to be closed (15 s)', timeoutMs: 30_000 });

    // The broadcaster reconnects: new tracks the session cannot add without renegotiating.
    await publisher?.close();
    publisher = await startPublisher();
    await waitFor(() => server.whep.size === 0 && server.rooms.get(ROOM)?.viewerCount === 0, {
      description: 'the playing session to end when the program has new tracks',
      progress: () => footprint(),
    });
  } finally {
    await silent.close(false);
    await playing.close(false);
  }
});

test('OPTIONS answers CORS preflights with Accept-Post and the exposed headers', async () => {
  const response = await fetch(whepUrl(ROOM), {
    method: 'OPTIONS',
    headers: { Origin: 'https://player.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get('accept-post'), 'application/sdp');
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  for (const header of ['Location', 'ETag', 'Accept-Patch']) assert.match(response.headers.get('access-control-expose-headers') ?? '', new RegExp(header));
});
