/**
 * Webhook signatures (sign/verify, tolerance, malformed headers) and the
 * dispatcher against real local HTTP servers: retries with backoff and the
 * same event id, giving up, timeouts, the bounded queue, non-blocking send,
 * and close().
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHmac } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { signWebhook, verifyWebhookSignature } from '../../server/alerts/webhookSignature.js';
import { redactUrl, WebhookDispatcher } from '../../server/alerts/webhookDispatcher.js';
import { waitFor } from '../helpers/wait.js';

const SECRET = 'unit-test-secret-0123456789';
const logger = pino({ level: 'silent' });
const servers: http.Server[] = [];
const dispatchers: WebhookDispatcher[] = [];

after(async () => {
  for (const d of dispatchers) d.close();
  await Promise.all(
    servers.map(
      (s) =>
        new Promise<void>((resolve) => {
          s.closeAllConnections();
          s.close(() => resolve());
        }),
    ),
  );
});

interface Received {
  raw: string;
  headers: http.IncomingHttpHeaders;
}

/** A local endpoint answering with `respond(n)` for the n-th request (status, or 'hang'). */
async function endpoint(respond: (n: number) => number | 'hang'): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = [];
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ raw: Buffer.concat(chunks).toString('utf8'), headers: req.headers });
      const answer = respond(received.length);
      if (answer !== 'hang') res.writeHead(answer).end('ignored body');
    });
  });
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}/hook`, received };
}

function dispatcher(urls: string[], options: Partial<ConstructorParameters<typeof WebhookDispatcher>[0]> = {}): WebhookDispatcher {
  const d = new WebhookDispatcher({ urls, secret: SECRET, logger, backoffMs: [20, 40, 80], timeoutMs: 500, ...options });
  dispatchers.push(d);
  return d;
}

test('signatures: HMAC-SHA256 over "<t>.<raw body>", checked in constant time with a tolerance', () => {
  const body = '{"type":"alert.fired","alert":{"id":"x"}}';
  const t = 1_900_000_000;
  const header = signWebhook(SECRET, body, t);
  const expected = createHmac('sha256', SECRET).update(`${t}.${body}`).digest('hex');
  assert.equal(header, `t=${t},v1=${expected}`);
  assert.equal(verifyWebhookSignature(SECRET, header, body, 300, t + 10), true);
  assert.equal(verifyWebhookSignature(SECRET, header, Buffer.from(body), 300, t - 10), true, 'Buffer bodies too');
  assert.equal(verifyWebhookSignature(SECRET, header, body, 300, t + 301), false, 'too old');
  assert.equal(verifyWebhookSignature(SECRET, header, body, 300, t - 301), false, 'from the future');
  assert.equal(verifyWebhookSignature(SECRET, header, `${body} `, 300, t), false, 'body changed');
  assert.equal(verifyWebhookSignature('another-secret-0123456789', header, body, 300, t), false, 'other secret');
  assert.equal(verifyWebhookSignature(SECRET, `t=${t + 1},v1=${expected}`, body, 300, t), false, 'timestamp changed');
  assert.equal(verifyWebhookSignature(SECRET, `t=${t},v1=${'0'.repeat(64)},v1=${expected}`, body, 300, t), true, 'any v1 may match (rotation)');
  for (const bad of [undefined, null, '', 'garbage', `v1=${expected}`, `t=${t}`, `t=abc,v1=${expected}`, `t=${t},v1=${expected.slice(2)}`, 'x'.repeat(5000)]) {
    assert.equal(verifyWebhookSignature(SECRET, bad, body, 300, t), false, String(bad).slice(0, 40));
  }
});

test('delivery: signed POST with the event id; failures retried with backoff under the same id', async () => {
  const { url, received } = await endpoint((n) => (n <= 2 ? 503 : 204));
  const d = dispatcher([url]);
  d.send('alert.fired', { alert: { id: 'a1', rule: 'stream_stalled' } });
  // send() only queues (a clock here would measure the machine's load, not send()).
  assert.equal(received.length, 0, 'send() returns at once, before the endpoint saw anything');
  await waitFor(() => d.endpoints()[0]!.delivered === 1, { description: 'delivered after two failures', timeoutMs: 5000 });
  assert.equal(received.length, 3);
  const ids = new Set(received.map((r) => r.headers['x-floodlight-event-id']));
  assert.equal(ids.size, 1, 'same event id on every attempt');
  for (const r of received) {
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(verifyWebhookSignature(SECRET, r.headers['x-floodlight-signature'] as string, r.raw), true);
    const body = JSON.parse(r.raw) as { type: string; alert: { id: string }; sentAt: string };
    assert.equal(body.type, 'alert.fired');
    assert.equal(body.alert.id, 'a1');
    assert.ok(!Number.isNaN(Date.parse(body.sentAt)));
  }
  assert.deepEqual(d.endpoints()[0], { url, ok: true, lastError: null, delivered: 1, failed: 2 });
});

test('an endpoint that keeps failing: retries per the backoff, then the event is given up', async () => {
  const { url, received } = await endpoint(() => 500);
  const d = dispatcher([url]);
  d.send('alert.fired', { alert: { id: 'doomed' } });
  await waitFor(() => d.counters()[0]!.gaveUp === 1, { description: 'event given up', timeoutMs: 5000 });
  assert.equal(received.length, 4, 'first attempt + 3 retries');
  const status = d.endpoints()[0]!;
  assert.equal(status.ok, false);
  assert.equal(status.lastError, 'HTTP 500');
  assert.equal(status.failed, 4);
  assert.equal(status.delivered, 0);
  assert.equal(d.counters()[0]!.queued, 0);
});

test('the default backoff is 1, 2, 4, 8, 16 s', async () => {
  const { DEFAULT_BACKOFF_MS } = await import('../../server/alerts/webhookDispatcher.js');
  assert.deepEqual([...DEFAULT_BACKOFF_MS], [1000, 2000, 4000, 8000, 16000]);
});

test('a hanging endpoint times out; other endpoints are served independently', async () => {
  const slow = await endpoint(() => 'hang');
  const fast = await endpoint(() => 200);
  const d = dispatcher([slow.url, fast.url], { timeoutMs: 150, backoffMs: [] });
  d.send('alert.fired', { alert: { id: 'x' } });
  await waitFor(() => d.endpoints()[1]!.delivered === 1, { description: 'fast endpoint served', timeoutMs: 2000 });
  assert.equal(d.endpoints()[0]!.delivered, 0, 'the slow one is still waiting');
  await waitFor(() => d.endpoints()[0]!.failed === 1, { description: 'timeout counted', timeoutMs: 2000 });
  assert.equal(d.endpoints()[0]!.lastError, 'timed out');
});

test('the queue is bounded: the oldest pending events are dropped and counted', async () => {
  const { url, received } = await endpoint((n) => (n === 1 || n === 5 ? 'hang' : 204));
  const d = dispatcher([url], { queueSize: 3, timeoutMs: 300, backoffMs: [10] });
  for (let i = 0; i < 6; i++) d.send('alert.fired', { alert: { id: `e${i}` } });
  // Six events into a queue of three: e0, e1, e2 are dropped.
  assert.equal(d.counters()[0]!.dropped, 3);
  assert.equal(d.counters()[0]!.queued, 3);
  await waitFor(() => d.endpoints()[0]!.delivered === 3, { description: 'the kept events delivered', timeoutMs: 5000 });
  const ids = received.map((r) => (JSON.parse(r.raw) as { alert: { id: string } }).alert.id);
  assert.deepEqual(ids, ['e3', 'e3', 'e4', 'e5'], 'in order; e3 retried after its timeout');
  // The event being delivered is never dropped: only pending ones are.
  d.send('alert.fired', { alert: { id: 'e6' } });
  await waitFor(() => received.length === 5, { description: 'e6 in flight', timeoutMs: 2000 });
  for (let i = 7; i < 12; i++) d.send('alert.fired', { alert: { id: `e${i}` } });
  assert.equal(d.counters()[0]!.dropped, 5);
  assert.equal(d.counters()[0]!.queued, 4);
  await waitFor(() => d.endpoints()[0]!.delivered === 7, { description: 'the next batch delivered', timeoutMs: 5000 });
  const later = received.slice(4).map((r) => (JSON.parse(r.raw) as { alert: { id: string } }).alert.id);
  assert.deepEqual(later, ['e6', 'e6', 'e9', 'e10', 'e11']);
  assert.equal(d.counters()[0]!.queued, 0);
});

test('close() aborts in-flight requests, drops the queue and is idempotent', async () => {
  const { url, received } = await endpoint(() => 'hang');
  const d = dispatcher([url], { timeoutMs: 10_000 });
  d.send('alert.fired', { alert: { id: 'x' } });
  d.send('alert.fired', { alert: { id: 'y' } });
  await waitFor(() => received.length === 1, { description: 'x in flight', timeoutMs: 5000 });
  assert.equal(d.counters()[0]!.queued, 2, 'x in flight, y waiting behind it');
  d.close();
  d.close();
  assert.equal(d.counters()[0]!.queued, 0);
  d.send('alert.fired', { alert: { id: 'z' } });
  assert.equal(d.counters()[0]!.queued, 0, 'nothing queued after close');
});

test('URLs are redacted for logs and the overview', () => {
  assert.equal(redactUrl('https://user:pw@hooks.example.com:8443/p/a?token=abc'), 'https://hooks.example.com:8443/p/a?…');
  assert.equal(redactUrl('http://127.0.0.1:9/hook'), 'http://127.0.0.1:9/hook');
});
