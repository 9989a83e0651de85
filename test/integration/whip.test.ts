/**
 * WHIP ingest against a real server (real mediasoup worker): a libdatachannel
 * client (node-datachannel, the library inside OBS's WHIP output) sends OBS's
 * offer shape — Opus mid 0, H.264 42e01f mid 1, a=ssrc, no MID extension — and
 * ffmpeg's H.264/Opus RTP; a werift viewer of the room receives the frames.
 * Then the bad-input table: each refusal has its status and problem+json,
 * and allocates nothing (transports, rooms, sessions counted before/after).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nodeDataChannel from 'node-datachannel';
import type { FloodlightServer } from '../../server/app.js';
import { TokenService } from '../../server/auth/tokens.js';
import { startTestServer, TEST_AUTH_SECRET } from '../helpers/testServer.js';
import { HeadlessViewer } from '../helpers/headlessViewer.js';
import { WhipEncoder as ObsLikeClient } from '../helpers/whipEncoder.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'whip-obs';
const fixtures = path.join(import.meta.dirname, '../fixtures/whip');
const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), 'floodlight-whip-keys-'));
const tokens = new TokenService(TEST_AUTH_SECRET);

let server: FloodlightServer;
let adminToken: string;

const whipUrl = (room: string): string => `${server.url}/whip/${room}`;

async function createKey(room: string, slot: 'primary' | 'backup'): Promise<{ id: string; key: string }> {
  const response = await fetch(`${server.url}/api/rooms/${room}/keys`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${adminToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ slot }),
  });
  assert.equal(response.status, 201);
  return ((await response.json()) as { key: { id: string; key: string } }).key;
}

/** What a refused request must not have changed. */
function footprint(): string {
  const { transports, producers } = server.pool.counts();
  return JSON.stringify({ transports, producers, rooms: server.rooms.size, sessions: server.whip.size });
}

async function expectProblem(response: Response, status: number, detail?: RegExp): Promise<void> {
  const body = await response.text();
  assert.equal(response.status, status, body);
  assert.match(response.headers.get('content-type') ?? '', /^application\/problem\+json/);
  const problem = JSON.parse(body) as { status: number; title: string; detail: string };
  assert.equal(problem.status, status);
  if (detail) assert.match(problem.detail, detail);
}

before(async () => {
  server = await startTestServer({
    STREAM_KEYS_DIR: keysDir,
    HLS_ENABLED: 'false',
    WHIP_MAX_PENDING_SESSIONS: '2',
    // Offered to clients only (Link headers); nothing here contacts them.
    WHIP_ICE_SERVERS: 'stun:stun.example.invalid:3478,turn:turn.example.invalid:3478?transport=udp|obs|secret',
  });
  adminToken = await tokens.issue({ room: '*', role: 'admin' }, 600);
});

after(async () => {
  await server?.close();
  fs.rmSync(keysDir, { recursive: true, force: true });
});

test('OBS-shaped WHIP publish reaches a WebRTC viewer; DELETE frees everything', async () => {
  const { key } = await createKey(ROOM, 'primary');
  const before = server.pool.counts().transports;
  const client = new ObsLikeClient();
  const viewer = new HeadlessViewer({ url: server.url, room: ROOM, name: 'whip-viewer' });
  try {
    const response = await client.publish(whipUrl(ROOM), key);
    const answer = await response.text();
    assert.equal(response.status, 201, answer);
    assert.equal(response.headers.get('content-type'), 'application/sdp');
    assert.match(response.headers.get('etag') ?? '', /^"[^"]+"$/, 'a strong ETag');
    assert.equal(response.headers.get('accept-patch'), 'application/trickle-ice-sdpfrag');
    assert.match(client.location ?? '', new RegExp(`/whip/${ROOM}/[0-9a-f-]{36}$`));
    assert.equal(
      response.headers.get('link'),
      '<stun:stun.example.invalid:3478>; rel="ice-server", <turn:turn.example.invalid:3478?transport=udp>; rel="ice-server"; username="obs"; credential="secret"; credential-type="password"',
    );
    assert.match(answer, /a=ice-lite/);
    assert.match(answer, /a=setup:passive/);

    await client.startMedia();
    await viewer.join();
    await waitFor(() => viewer.stats().video.frames >= 30 && viewer.stats().audio.packets >= 50, {
      description: 'the viewer to receive 30 H.264 frames and 50 Opus packets from the WHIP source',
      timeoutMs: 30_000,
      progress: () =>
        `sent ${client.sent} (${client.sendError ?? 'no error'}), video ${JSON.stringify(viewer.stats().video)}, audio packets ${viewer.stats().audio.packets}`,
    });
    assert.ok(viewer.stats().video.keyframes >= 1, 'a key frame arrived');
    const source = server.rooms.get(ROOM)!.sources()[0]!;
    assert.equal(source.protocol, 'whip');
    assert.equal(source.slot, 'primary');
    await waitFor(() => source.health().lastVideoPacketAt !== null, { description: 'the source health to see video' });

    // The slot is taken: a second encoder with the same key gets 409 and allocates nothing.
    const busyBefore = footprint();
    const busy = await fetch(whipUrl(ROOM), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${key}` },
      body: fs.readFileSync(path.join(fixtures, 'obs-libdatachannel.sdp'), 'utf8'),
    });
    await expectProblem(busy, 409, /primary slot/);
    assert.equal(footprint(), busyBefore);

    const deleted = await fetch(client.location!, { method: 'DELETE', headers: { Authorization: `Bearer ${key}` } });
    assert.equal(deleted.status, 200);
    await waitFor(() => server.rooms.get(ROOM)?.sources().length === 0 && server.whip.size === 0, { description: 'the WHIP source to leave the room' });
    // Only the viewer's transport remains.
    await waitFor(() => server.pool.counts().transports === before + 1, {
      description: 'the WHIP transport to be freed',
      progress: () => JSON.stringify(server.pool.counts()),
    });
    assert.equal((await fetch(client.location!, { method: 'DELETE' })).status, 404, 'the session is gone');
  } finally {
    await viewer.close();
    await client.close();
    // The only libdatachannel peer of this file is closed: release libdatachannel now, while
    // nothing else runs. Its threads outliving the server's close or racing process exit have
    // aborted the process after every test passed (SIGABRT, once in CI).
    nodeDataChannel.cleanup();
  }
});

test('golden offers (Chromium, simulcast, GStreamer) are taken by a real router; PATCH, ICE restart, overload, and a session that never connects is closed', async () => {
  const publisher = async (room: string) => tokens.issue({ room, role: 'publisher' }, 600);
  const post = async (room: string, fixture: string, credential?: string) =>
    fetch(whipUrl(room), {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${credential ?? (await publisher(room))}` },
      body: fs.readFileSync(path.join(fixtures, fixture), 'utf8'),
    });
  const baseline = server.pool.counts().transports;
  const chromium = await post('golden-chromium', 'chromium.sdp');
  assert.equal(chromium.status, 201, await chromium.clone().text());
  // A backup key publishes into the backup slot (the program follows it while there is no primary).
  const backupKey = await createKey('golden-gstreamer', 'backup');
  const gstreamer = await post('golden-gstreamer', 'gstreamer-webrtcbin.sdp', backupKey.key);
  assert.equal(gstreamer.status, 201, await gstreamer.clone().text());
  const backupSource = server.rooms.get('golden-gstreamer')?.sources()[0];
  assert.equal(backupSource?.slot, 'backup');
  assert.equal(backupSource.tracks().length, 2);
  assert.equal(server.rooms.get('golden-gstreamer')?.program.source, backupSource);
  // Single-encoding ingests are relayed: the relays' transport and producers appear just after; count after them.
  await waitFor(() => ['golden-chromium', 'golden-gstreamer'].every((room) => server.rooms.get(room)?.program.tracks().length === 2), {
    description: 'the program relays of both rooms',
  });

  // Two sessions are connecting (WHIP_MAX_PENDING_SESSIONS=2): the next is shed.
  const before503 = footprint();
  const shed = await post('golden-simulcast', 'chromium-simulcast.sdp');
  await expectProblem(shed, 503);
  assert.equal(shed.headers.get('retry-after'), '1');
  assert.equal(footprint(), before503);

  const chromiumSession = new URL(chromium.headers.get('location')!, server.url).href;
  const etag = chromium.headers.get('etag')!;
  const patch = (headers: Record<string, string>, body: string) => fetch(chromiumSession, { method: 'PATCH', headers, body });
  const candidate =
    'a=ice-ufrag:EkGm\r\na=ice-pwd:x\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=candidate:1 1 udp 2122260223 127.0.0.1 50000 typ host\r\n';
  await expectProblem(await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag' }, candidate), 428);
  await expectProblem(await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '"stale"' }, candidate), 412);
  await expectProblem(await patch({ 'Content-Type': 'application/sdp', 'If-Match': etag }, candidate), 415);
  const offeredUfrag = /a=ice-ufrag:(\S+)/.exec(fs.readFileSync(path.join(fixtures, 'chromium.sdp'), 'utf8'))![1]!;
  const trickle = await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }, candidate.replace('EkGm', offeredUfrag));
  assert.equal(trickle.status, 204);
  const restart = await patch(
    { 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': '*' },
    'a=ice-ufrag:newufrag\r\na=ice-pwd:newpasswordnewpassword\r\n',
  );
  const fragment = await restart.text();
  assert.equal(restart.status, 200, fragment);
  assert.notEqual(restart.headers.get('etag'), etag, 'a new ETag after an ICE restart');
  assert.match(fragment, /a=ice-ufrag:/);
  await expectProblem(await patch({ 'Content-Type': 'application/trickle-ice-sdpfrag', 'If-Match': etag }, candidate), 412);

  assert.equal((await fetch(chromiumSession, { method: 'DELETE' })).status, 200);
  const simulcast = await post('golden-simulcast', 'chromium-simulcast.sdp');
  assert.equal(simulcast.status, 201, await simulcast.clone().text());
  const simulcastVideo = server.rooms
    .get('golden-simulcast')!
    .sources()[0]!
    .tracks()
    .find((t) => t.kind === 'video')!;
  assert.deepEqual(
    simulcastVideo.producer.rtpParameters.encodings?.map((e) => e.rid),
    ['q', 'h', 'f'],
  );
  assert.equal((await fetch(new URL(simulcast.headers.get('location')!, server.url), { method: 'DELETE' })).status, 200);

  // GStreamer's session never does ICE: it is closed after the connect deadline (15 s).
  await waitFor(() => server.whip.size === 0 && server.pool.counts().transports === baseline, {
    description: 'the never-connected session to be closed and its transport freed',
    timeoutMs: 30_000,
    progress: () => footprint(),
  });
});

test('bad input gets the right status as problem+json and allocates nothing', async (t) => {
  const { key, id } = await createKey('whip-bad', 'primary');
  const revoked = await createKey('whip-revoked', 'primary');
  assert.equal(
    (await fetch(`${server.url}/api/rooms/whip-revoked/keys/${revoked.id}`, { method: 'DELETE', headers: { Authorization: `Bearer ${adminToken}` } })).status,
    204,
  );
  const obs = fs.readFileSync(path.join(fixtures, 'obs-libdatachannel.sdp'), 'utf8');
  const send = (room: string, init: { type?: string; auth?: string; body?: string }) =>
    fetch(whipUrl(room), {
      method: 'POST',
      headers: { ...(init.type ? { 'Content-Type': init.type } : {}), ...(init.auth ? { Authorization: `Bearer ${init.auth}` } : {}) },
      body: init.body ?? obs,
    });
  const viewerToken = await tokens.issue({ room: 'whip-bad', role: 'viewer' }, 600);
  const cases: [name: string, request: () => Promise<Response>, status: number, detail?: RegExp][] = [
    ['malformed SDP', () => send('whip-bad', { type: 'application/sdp', auth: key, body: 'hello' }), 400, /v=0/],
    [
      'hostile SDP: 20 video m-lines',
      () => send('whip-bad', { type: 'application/sdp', auth: key, body: obs + obs.slice(obs.indexOf('m=video')).repeat(20) }),
      422,
    ],
    [
      'hostile SDP: a data channel',
      () =>
        send('whip-bad', {
          type: 'application/sdp',
          auth: key,
          body: obs.replace(/m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111/, 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel'),
        }),
      422,
    ],
    [
      'no usable codec',
      () => send('whip-bad', { type: 'application/sdp', auth: key, body: obs.replace('H264/90000', 'VP9/90000') }),
      422,
      /no usable video codec/,
    ],
    ['wrong content type', () => send('whip-bad', { type: 'application/json', auth: key }), 415],
    ['no content type', () => send('whip-bad', { auth: key }), 415],
    ['no key', () => send('whip-bad', { type: 'application/sdp' }), 401],
    ['a wrong key', () => send('whip-bad', { type: 'application/sdp', auth: key.slice(0, -4) + 'AAAA' }), 403],
    ['a revoked key', () => send('whip-revoked', { type: 'application/sdp', auth: revoked.key }), 403],
    ["another room's key", () => send('whip-elsewhere', { type: 'application/sdp', auth: key }), 403, /another room/],
    ['a viewer token', () => send('whip-bad', { type: 'application/sdp', auth: viewerToken }), 403],
    ['an oversized body', () => send('whip-bad', { type: 'application/sdp', auth: key, body: obs + `a=x-padding:${'x'.repeat(40_000)}\r\n` }), 413],
    ['a bad room name', () => send('bad%20room', { type: 'application/sdp', auth: key }), 400],
    ['an unknown session', () => fetch(`${whipUrl('whip-bad')}/00000000-0000-4000-8000-000000000000`, { method: 'DELETE' }), 404],
    ['GET on the endpoint', () => fetch(whipUrl('whip-bad')), 405],
  ];
  const before = footprint();
  for (const [name, request, status, detail] of cases) {
    await t.test(name, async () => {
      await expectProblem(await request(), status, detail);
    });
  }
  assert.equal(footprint(), before, 'no transport, producer, room or session was left behind');
  assert.ok(id);
});

test('OPTIONS answers CORS preflights with Accept-Post and the exposed headers', async () => {
  const response = await fetch(whipUrl('whip-cors'), {
    method: 'OPTIONS',
    headers: { Origin: 'https://studio.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
  });
  assert.equal(response.status, 204);
  assert.equal(response.headers.get('accept-post'), 'application/sdp');
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  assert.match(response.headers.get('access-control-allow-headers') ?? '', /Authorization/);
  for (const header of ['Location', 'ETag', 'Link', 'Accept-Patch'])
    assert.match(response.headers.get('access-control-expose-headers') ?? '', new RegExp(header));
});
