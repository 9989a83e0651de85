/**
 * End to end in real Chromium, the operators' dashboard and the watch page's
 * QoE reports:
 *   (a) a live room (HeadlessPublisher) and a WebRTC watch page: the page's
 *       QoE reporter POSTs reach the server (room stats qoe.sessions ≥ 1);
 *   (b) /dashboard?token=<admin>: the token leaves the address bar, the page
 *       is fed live over the /admin socket, the graphs get points and draw
 *       their lines (series-coloured pixels on the canvases), the room is in
 *       the table and its drill-down loads; no CSP violation; a screenshot
 *       goes to test-artifacts/dashboard.png; a worker_died alert shows up
 *       live; with WebSockets refused the page falls back to polling;
 *   (c) a viewer token: the API answers 403 FORBIDDEN and the page shows the
 *       error state with the token form; a malformed token gets 401.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import type { FloodlightServer } from '../../server/app.js';
import type { StreamKeyListResponse } from '../../server/contracts/streamKeys.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { HeadlessPublisher } from '../helpers/headlessPeer.js';
import { waitFor } from '../helpers/wait.js';

const ROOM = 'dash';
const ARTIFACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../test-artifacts');

let server: FloodlightServer;
let chromium: LaunchedChromium;
let publisher: HeadlessPublisher | undefined;
const pages: Page[] = [];

before(async () => {
  server = await startTestServer();
  chromium = await launchChromium();
});

after(async () => {
  for (const page of pages) await page.close().catch(() => undefined);
  // Each is undefined when before() failed before making it.
  await (chromium as LaunchedChromium | undefined)?.close();
  await publisher?.close();
  await (server as FloodlightServer | undefined)?.close();
});

/** Opens a page; returns it and the CSP violations / page errors it reports. */
async function openPage(label: string, url: string): Promise<{ page: Page; problems: string[] }> {
  const page = await chromium.context.newPage();
  pages.push(page);
  const problems: string[] = [];
  page.on('pageerror', (error) => {
    problems.push(`page error: ${error.message}`);
    console.log(`[${label} page error] ${error.message}`);
  });
  page.on('console', (message) => {
    const text = message.text();
    if (/Content Security Policy|Refused to/i.test(text)) problems.push(`CSP: ${text}`);
    if (message.type() === 'error' || message.type() === 'warning') console.log(`[${label} ${message.type()}] ${text}`);
  });
  await page.goto(url);
  return { page, problems };
}

interface RoomStatsBody {
  live: boolean;
  qoe: { sessions: number; firstFrameMsP50: number | null; freezesPerMinute: number | null };
}

async function roomStats(): Promise<RoomStatsBody> {
  const response = await fetch(`${server.url}/api/rooms/${ROOM}/stats`);
  assert.equal(response.status, 200, `GET /api/rooms/${ROOM}/stats answered ${response.status}`);
  return (await response.json()) as RoomStatsBody;
}

/** Resolves once the page has painted twice more (what was drawn before is on screen). */
async function painted(page: Page): Promise<void> {
  await page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
}

/** Pixels of a chart's canvas close to an RGB colour (the series' stroke). */
async function colouredPixels(page: Page, chartId: string, rgb: [number, number, number]): Promise<number> {
  return page.evaluate(
    ({ chartId, rgb }) => {
      const canvas = document.querySelector<HTMLCanvasElement>(`#${chartId} canvas`);
      const context = canvas?.getContext('2d');
      if (!canvas || !context || canvas.width === 0 || canvas.height === 0) return 0;
      const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
      let count = 0;
      for (let i = 0; i < data.length; i += 4) {
        const close = Math.abs(data[i]! - rgb[0]) < 40 && Math.abs(data[i + 1]! - rgb[1]) < 40 && Math.abs(data[i + 2]! - rgb[2]) < 40;
        if (close && data[i + 3]! > 150) count++;
      }
      return count;
    },
    { chartId, rgb },
  );
}

test('watch page QoE reports reach the server; the dashboard graphs the live room', { timeout: 120_000 }, async () => {
  const publisherToken = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  publisher = new HeadlessPublisher({
    url: server.url,
    room: ROOM,
    token: publisherToken,
    name: 'publisher',
    video: { width: 640, height: 360, bitrateKbps: 600, keyframeIntervalSec: 1 },
  });
  await publisher.publish();

  const { page: watch, problems: watchProblems } = await openPage('watch', `${server.url}/watch?room=${ROOM}`);
  await watch.waitForSelector('video[data-state="playing"][data-transport="webrtc"]', { timeout: 20_000 });

  // (a) The first report goes out 5 s after playback started.
  console.log('# waiting for a QoE report from the watch page');
  await waitFor(async () => (await roomStats()).qoe.sessions >= 1, { description: 'room stats qoe.sessions ≥ 1', timeoutMs: 20_000, intervalMs: 500 });
  const report = await watch.evaluate(() => {
    const qoe = (window as unknown as { floodlight?: { qoe?: { snapshot(): Record<string, unknown> | null; sessionId: string } } }).floodlight?.qoe;
    return qoe ? { snapshot: qoe.snapshot(), sessionId: qoe.sessionId } : null;
  });
  console.log(`# watch page QoE: ${JSON.stringify(report)}`);
  assert.ok(report?.snapshot, 'the watch page has a QoE reporter with a report');
  assert.equal(report.snapshot['transport'], 'webrtc');
  assert.ok(Number(report.snapshot['framesDecoded']) > 0, 'frames decoded are reported');
  assert.match(report.sessionId, /^[A-Za-z0-9_-]{8,64}$/);
  const stats = await roomStats();
  console.log(`# room QoE: ${JSON.stringify(stats.qoe)}`);
  assert.ok(stats.qoe.firstFrameMsP50 !== null && stats.qoe.firstFrameMsP50 > 0, 'the first-frame time arrived');

  // (b) The dashboard with an admin token.
  const adminToken = await server.tokens.issue({ room: '*', role: 'admin' }, 600);
  const { page: dashboard, problems } = await openPage('dashboard', `${server.url}/dashboard?token=${adminToken}`);
  await dashboard.setViewportSize({ width: 1400, height: 1000 });
  await dashboard.waitForSelector('main[data-state="ready"]', { timeout: 15_000 });
  assert.ok(!dashboard.url().includes('token='), `the token left the address bar (${dashboard.url()})`);
  assert.equal(await dashboard.evaluate(() => sessionStorage.getItem('floodlight.adminToken')), adminToken, 'the token is kept for the tab');

  await dashboard.waitForSelector('#conn[data-conn="socket"]', { timeout: 10_000 });
  await dashboard.waitForSelector(`tr[data-room="${ROOM}"][data-live="true"]`, { timeout: 10_000 });
  console.log('# waiting for the graphs to collect points');
  await dashboard.waitForFunction(
    () => ['chart-viewers', 'chart-bitrate', 'chart-cpu', 'chart-loss'].every((id) => Number(document.getElementById(id)?.dataset['points'] ?? 0) >= 3),
    undefined,
    { timeout: 20_000 },
  );
  // Wait until the totals show the audience and incoming media (the sampler needs a round or two).
  await dashboard.waitForFunction(
    () => document.getElementById('kpi-webrtc')?.textContent === '1' && !/^(–|0 bit)/.test(document.getElementById('kpi-in')?.textContent ?? ''),
    undefined,
    { timeout: 15_000 },
  );

  const points = await dashboard.evaluate(() => {
    const charts = (window as unknown as { floodlightDashboard: { charts: Record<string, { points: number }> } }).floodlightDashboard.charts;
    return Object.fromEntries(Object.entries(charts).map(([name, chart]) => [name, chart.points]));
  });
  console.log(`# chart points: ${JSON.stringify(points)}`);
  for (const name of ['viewers', 'bitrate', 'cpu', 'loss']) assert.ok((points[name] ?? 0) >= 3, `chart ${name} has points`);
  // The lines are really drawn: WebRTC viewers (#34d399) and bitrate in
  // (#ffb547) / out (#60a5fa). With one viewer, out ≈ in and the Out line is
  // drawn over the In line, so count both colours. A line grows a few pixels
  // per 2 s point: wait until both are long enough.
  let viewerPixels = 0;
  let bitratePixels = 0;
  await waitFor(
    async () => {
      viewerPixels = await colouredPixels(dashboard, 'chart-viewers', [0x34, 0xd3, 0x99]);
      bitratePixels =
        (await colouredPixels(dashboard, 'chart-bitrate', [0xff, 0xb5, 0x47])) + (await colouredPixels(dashboard, 'chart-bitrate', [0x60, 0xa5, 0xfa]));
      return viewerPixels > 20 && bitratePixels > 20;
    },
    {
      description: 'the viewers and bitrate lines drawn (> 20 series-coloured pixels each)',
      timeoutMs: 30_000,
      intervalMs: 500,
      progress: () => `viewers ${viewerPixels} pixels, bitrate ${bitratePixels} pixels`,
    },
  );
  console.log(`# series pixels: viewers ${viewerPixels}, bitrate ${bitratePixels}`);

  const workers = await dashboard.locator('#workers li.worker').count();
  assert.equal(workers, 2, 'both workers are listed');

  // The cluster panel: a single node without Redis lists itself, serving, with the live room as its origin.
  await dashboard.waitForSelector(`#cluster:not([hidden]) #cluster-rooms tr[data-cluster-room="${ROOM}"]`, { timeout: 10_000 });
  const cluster = await dashboard.evaluate(() => ({
    summary: document.getElementById('cluster-summary')?.textContent ?? '',
    nodes: [...document.querySelectorAll<HTMLElement>('#cluster-nodes tr')].map((tr) => ({
      id: tr.dataset['node'],
      state: tr.dataset['state'],
      cells: tr.textContent,
    })),
    room: document.querySelector('#cluster-rooms tr')?.textContent ?? '',
  }));
  console.log(`# cluster panel: ${JSON.stringify(cluster)}`);
  assert.match(cluster.summary, /Single node/);
  assert.equal(cluster.nodes.length, 1, 'one node listed');
  assert.equal(cluster.nodes[0]?.state, 'serving');
  assert.match(cluster.nodes[0]?.cells ?? '', /this node/);
  assert.match(cluster.room, /live.*epoch \d+/, 'the room shows its origin with its epoch');

  // Runtime settings show on the cluster panel: an operator's change appears within a poll or two.
  const putSetting = async (name: string, value: unknown): Promise<void> => {
    const response = await fetch(`${server.url}/api/settings/${name}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ value }),
    });
    assert.equal(response.status, 200, `PUT /api/settings/${name}`);
  };
  const settingText = (name: string): Promise<string | null> => dashboard.textContent(`#cluster-settings li[data-setting="${name}"] span`);
  assert.equal(await settingText('Max WebRTC viewers'), 'as configured');
  await putSetting('maxWebRtcViewers', 25);
  await putSetting(`hlsLadder:${ROOM}`, true);
  await dashboard.waitForFunction(
    () => document.querySelector('#cluster-settings li[data-setting="Max WebRTC viewers"] span')?.textContent === '25',
    undefined,
    {
      timeout: 10_000,
    },
  );
  assert.equal(await settingText('HLS per room'), `${ROOM}: on`);
  await putSetting('maxWebRtcViewers', null);
  await putSetting(`hlsLadder:${ROOM}`, null);
  await dashboard.waitForFunction(
    () => document.querySelector('#cluster-settings li[data-setting="Max WebRTC viewers"] span')?.textContent === 'as configured',
    undefined,
    {
      timeout: 10_000,
    },
  );

  // Drill-down: the room's stats, QoE and history graph.
  await dashboard.click(`tr[data-room="${ROOM}"]`);
  await dashboard.waitForSelector('#room-detail:not([hidden]) #detail-figures dt', { timeout: 10_000 });
  await dashboard.waitForFunction(() => Number(document.getElementById('chart-room')?.dataset['points'] ?? 0) >= 1, undefined, { timeout: 10_000 });
  const figures = await dashboard.evaluate(() =>
    Object.fromEntries([...document.querySelectorAll('#detail-figures dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent ?? ''])),
  );
  console.log(`# drill-down figures: ${JSON.stringify(figures)}`);
  assert.ok(Number(figures['QoE sessions']) >= 1, 'the drill-down shows the QoE session');
  assert.match(dashboard.url(), new RegExp(`#room=${ROOM}$`));
  // The room's history graph draws its In line (#ffb547) or the Out line over it (#60a5fa).
  let roomPixels = 0;
  await waitFor(
    async () => {
      roomPixels = (await colouredPixels(dashboard, 'chart-room', [0xff, 0xb5, 0x47])) + (await colouredPixels(dashboard, 'chart-room', [0x60, 0xa5, 0xfa]));
      return roomPixels > 20;
    },
    { description: "the drill-down's bitrate line drawn", timeoutMs: 15_000, intervalMs: 500, progress: () => `${roomPixels} pixels` },
  );

  // Stream keys of the room: create a backup key (its secret shown once), rotate it, revoke it.
  const listKeys = async (): Promise<StreamKeyListResponse> => {
    const response = await fetch(`${server.url}/api/rooms/${ROOM}/keys`, { headers: { authorization: `Bearer ${adminToken}` } });
    assert.equal(response.status, 200);
    return (await response.json()) as StreamKeyListResponse;
  };
  const keysSection = '[data-testid="stream-keys"]';
  await dashboard.waitForSelector(`${keysSection} li[data-slot="backup"] button`, { timeout: 10_000 });
  await dashboard.click(`${keysSection} li[data-slot="backup"] button`);
  const secret = await (await dashboard.waitForSelector('[data-testid="stream-key-secret"]', { timeout: 10_000 })).textContent();
  const created = (await listKeys()).keys.find((k) => k.slot === 'backup');
  assert.ok(
    created && secret?.startsWith(created.prefix.replace(/…$/, '')),
    `the shown secret ${secret?.slice(0, 16) ?? ''}… is the listed key ${created?.prefix ?? 'none'}`,
  );
  await dashboard.waitForSelector(`${keysSection} li[data-slot="backup"][data-key-id="${created.id}"]`, { timeout: 10_000 });
  await dashboard.click(`${keysSection} li[data-slot="backup"] button:has-text("Rotate")`);
  await dashboard.waitForFunction((old) => {
    const shown = document.querySelector('[data-testid="stream-key-secret"]')?.textContent;
    return !!shown && shown !== old;
  }, secret);
  const rotated = await dashboard.textContent('[data-testid="stream-key-secret"]');
  assert.ok(rotated && rotated !== secret, 'rotating shows a new secret');
  dashboard.once('dialog', (dialog) => void dialog.accept());
  await dashboard.click(`${keysSection} li[data-slot="backup"] button:has-text("Revoke")`);
  await waitFor(async () => (await listKeys()).keys.every((k) => k.slot !== 'backup'), { description: 'the backup key revoked', timeoutMs: 10_000 });
  await dashboard.waitForSelector(`${keysSection} li[data-slot="backup"]:not([data-key-id])`, { timeout: 10_000 });

  // From the top: the sticky header would otherwise be drawn mid-page in a full-page shot.
  await dashboard.evaluate(() => window.scrollTo(0, 0));
  await painted(dashboard);
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const screenshot = path.join(ARTIFACTS, 'dashboard.png');
  await dashboard.screenshot({ path: screenshot, fullPage: true });
  console.log(`# screenshot: ${screenshot}`);

  // An alert reaches the open page: SIGKILL the worker the room is not on (worker_died fires, then resolves).
  const roomWorkers = new Set(
    server.rooms
      .get(ROOM)!
      .routerLayout()
      .map((r) => r.workerIndex),
  );
  const idle = server.pool.details().find((w) => !roomWorkers.has(w.index))!;
  process.kill(idle.pid!, 'SIGKILL');
  await dashboard.waitForSelector(`li.alert[data-rule="worker_died"]`, { timeout: 10_000 });
  const alertText = await dashboard.textContent(`li.alert[data-rule="worker_died"]`);
  console.log(`# alert on the dashboard: ${alertText}`);
  assert.match(alertText ?? '', new RegExp(`worker ${idle.index}`));
  await waitFor(() => server.pool.allAlive, { description: 'the killed worker replaced', timeoutMs: 10_000 });

  // Without the socket (WebSocket refused), the page polls the overview instead.
  const { page: polled, problems: polledProblems } = await (async () => {
    const page = await chromium.context.newPage();
    pages.push(page);
    const found: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) found.push(message.text());
    });
    await page.routeWebSocket(/socket\.io/, (ws) => ws.close());
    await page.goto(`${server.url}/dashboard?token=${adminToken}`);
    return { page, problems: found };
  })();
  await polled.waitForSelector('main[data-state="ready"]', { timeout: 10_000 });
  await polled.waitForSelector('#conn[data-conn="polling"]', { timeout: 10_000 });
  await polled.waitForFunction(() => Number(document.getElementById('chart-viewers')?.dataset['points'] ?? 0) >= 3, undefined, { timeout: 15_000 });
  assert.deepEqual(polledProblems, []);

  assert.deepEqual(problems, [], 'no CSP violation or page error on the dashboard');
  assert.deepEqual(
    watchProblems.filter((p) => p.startsWith('CSP')),
    [],
    'no CSP violation on the watch page',
  );
});

test('a viewer token gets 403 and the dashboard shows the error state', { timeout: 60_000 }, async () => {
  const viewerToken = await server.tokens.issue({ room: ROOM, role: 'viewer' }, 600);
  const api = await fetch(`${server.url}/api/admin/overview`, { headers: { authorization: `Bearer ${viewerToken}` } });
  assert.equal(api.status, 403);
  assert.equal(((await api.json()) as { error: { code: string } }).error.code, 'FORBIDDEN');

  const { page } = await openPage('dashboard (viewer token)', `${server.url}/dashboard?token=${viewerToken}`);
  await page.waitForSelector('main[data-state="auth"]', { timeout: 10_000 });
  const message = await page.textContent('#dash-error');
  console.log(`# error state: ${message}`);
  assert.match(message ?? '', /not an admin token/);
  assert.match(message ?? '', /403/);
  assert.ok(await page.isVisible('#token-form'), 'the token form is offered');
  assert.ok(!(await page.isVisible('#dash-content')), 'no data is shown');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('floodlight.adminToken')), null, 'a refused token is not kept');

  // A mangled token: 401.
  await page.fill('#token-input', 'not-a-jwt');
  await page.click('#token-form button[type="submit"]');
  await page.waitForFunction(() => /401/.test(document.getElementById('dash-error')?.textContent ?? ''), undefined, { timeout: 10_000 });
  assert.equal(await page.getAttribute('main', 'data-state'), 'auth');
});
