/**
 * Key frame cache with a real browser publisher (VP8, three simulcast
 * layers, so the viewers' consumers are mediasoup SimulcastConsumers).
 *
 * Viewer A joins and makes the SFU ask the publisher for a key frame. Viewer
 * B joins right after A has it, while that key frame is well under
 * KEYFRAME_CACHE_MS old: B's first key frame must come from the cache, i.e.
 *   - no keyframe request reaches the publisher while B joins, and
 *   - the SFU sends B its first key frame at a moment when no key frame is
 *     arriving from the publisher (a forwarded live key frame goes out in the
 *     same worker tick it arrives in; a cached one when B's DTLS connects).
 * Then B's stream goes on without a gap. Times are the worker's own clock
 * (trace event timestamps), so the comparison does not depend on load.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as mediasoup from 'mediasoup';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { launchChromium, type LaunchedChromium } from '../helpers/chromium.js';
import { HeadlessViewer, waitFor } from '../helpers/headlessPeer.js';

const ROOM = 'kfc-simulcast';
/** The cache limit the test runs with; A must join when the cached key frames are older. */
const KEYFRAME_CACHE_MS = 500;
/** Worker-clock times (ms) of key frames from the publisher and of requests to it. */
const keyframesIn: number[] = [];
/** performance.now() when the latest key frame from the publisher was traced. */
let lastKeyframeInAt: number | undefined;
const requestsOut: number[] = [];
/** Per consumer id: the worker-clock time of its first key frame sent, and its type. */
const firstKeyframeOut = new Map<string, number>();
const consumerTypes = new Map<string, string>();

function trace(worker: mediasoup.types.Worker): void {
  worker.observer.on('newrouter', (router) =>
    router.observer.on('newtransport', (transport) => {
      transport.observer.on('newproducer', (producer) => {
        if (producer.kind !== 'video' || transport.type !== 'webrtc') return;
        void producer.enableTraceEvent(['keyframe', 'pli', 'fir']);
        producer.on('trace', (event) => {
          if (event.type === 'keyframe' && event.direction === 'in') {
            keyframesIn.push(event.timestamp);
            lastKeyframeInAt = performance.now();
          }
          if ((event.type === 'pli' || event.type === 'fir') && event.direction === 'out') requestsOut.push(event.timestamp);
        });
      });
      transport.observer.on('newconsumer', (consumer) => {
        if (consumer.kind !== 'video') return;
        consumerTypes.set(consumer.id, consumer.type);
        void consumer.enableTraceEvent(['keyframe']);
        consumer.on('trace', (event) => {
          if (event.type === 'keyframe' && event.direction === 'out' && !firstKeyframeOut.has(consumer.id)) {
            firstKeyframeOut.set(consumer.id, event.timestamp);
          }
        });
      });
    }),
  );
}

let server: FloodlightServer;
let chromium: LaunchedChromium;
const viewers: HeadlessViewer[] = [];

before(async () => {
  mediasoup.observer.on('newworker', trace);
  server = await startTestServer({ HLS_ENABLED: 'false', NUM_WORKERS: '1', KEYFRAME_CACHE_MS: String(KEYFRAME_CACHE_MS) });
  chromium = await launchChromium();
});

after(async () => {
  mediasoup.observer.off('newworker', trace);
  await Promise.all(viewers.map((v) => v.close()));
  // Each is undefined when before() failed before making it.
  await (chromium as LaunchedChromium | undefined)?.close();
  await (server as FloodlightServer | undefined)?.close();
});

async function joinViewer(name: string): Promise<{ viewer: HeadlessViewer; consumerId: string }> {
  const viewer = new HeadlessViewer({ url: server.url, room: ROOM, name });
  viewers.push(viewer);
  await viewer.join();
  await waitFor(() => viewer.stats().timeToFirstKeyframeMs !== undefined, {
    timeoutMs: 15_000,
    description: `${name} receives a key frame`,
    progress: () => viewer.summary(),
  });
  const consumerId = viewer.stats().consumers.find((c) => c.kind === 'video')!.consumerId;
  await waitFor(() => firstKeyframeOut.has(consumerId), { timeoutMs: 2_000, description: `the trace of ${name}'s first key frame` });
  return { viewer, consumerId };
}

test('a viewer joining right after another starts from the cached key frame of a browser simulcast stream', { timeout: 120_000 }, async () => {
  const token = await server.tokens.issue({ room: ROOM, role: 'publisher' }, 600);
  const broadcast = await chromium.context.newPage();
  await broadcast.goto(`${server.url}/broadcast?room=${ROOM}&token=${token}&autostart=1`);
  console.log('# waiting for the broadcast page to go live');
  await broadcast.waitForSelector('main[data-state="live"]', { timeout: 30_000 });
  const nearest = (t: number) => Math.min(...keyframesIn.map((k) => Math.abs(k - t)));
  // A must make the SFU ask: its first key frame is then the publisher's fresh
  // one, forwarded at once. On a loaded machine Chromium now and then makes a
  // key frame unasked (a layer coming back) just before A joins, and A starts
  // from the cache instead; that pair proves nothing, so a new A tries again.
  let a: { viewer: HeadlessViewer; consumerId: string } | undefined;
  for (let attempt = 1; !a; attempt++) {
    // Let the key frames so far (one per layer as they come up) age past the cache limit: A has to ask.
    // Chromium makes no more key frames unasked, so a quiet second after the last one is enough.
    await waitFor(() => lastKeyframeInAt !== undefined && performance.now() - lastKeyframeInAt >= 2 * KEYFRAME_CACHE_MS, {
      timeoutMs: 20_000,
      description: `no key frame from the publisher for ${2 * KEYFRAME_CACHE_MS} ms`,
      progress: () =>
        `${keyframesIn.length} key frames in, the latest ${lastKeyframeInAt === undefined ? 'never' : `${Math.round(performance.now() - lastKeyframeInAt)} ms ago`}`,
    });
    const candidate = await joinViewer(`kfc-a${attempt}`);
    const fromArriving = nearest(firstKeyframeOut.get(candidate.consumerId)!);
    if (fromArriving <= 2) a = candidate;
    else {
      console.log(
        `# attempt ${attempt}: A's first key frame went out ${fromArriving} ms from an arriving one (a key frame came unasked while A joined); a new A`,
      );
      assert.ok(
        attempt < 3,
        `A's first key frame went out ${fromArriving} ms from an arriving one in ${attempt} attempts: the publisher's fresh key frame should be forwarded at once`,
      );
    }
  }

  const requestsBeforeB = requestsOut.length;
  const b = await joinViewer('kfc-b');

  const sentA = firstKeyframeOut.get(a.consumerId)!;
  const sentB = firstKeyframeOut.get(b.consumerId)!;
  const requestsDuringB = requestsOut.slice(requestsBeforeB).filter((t) => t <= sentB).length;
  console.log(
    `# A's first key frame went out ${nearest(sentA)} ms from a key frame arriving; B's ${nearest(sentB)} ms ` +
      `(${Math.round(sentB - sentA)} ms after A's); requests to the publisher while B joined: ${requestsDuringB}`,
  );
  assert.equal(consumerTypes.get(b.consumerId), 'simulcast', 'B has a SimulcastConsumer');
  assert.equal(requestsDuringB, 0, 'no keyframe request reached the publisher while B joined');
  assert.ok(nearest(sentB) >= 20, `B's first key frame went out ${nearest(sentB)} ms from any arriving key frame: it came from the cache`);

  const afterJoin = await b.viewer.waitForNewFrames(30);
  assert.equal(afterJoin.video.lost, 0, 'no sequence gap between the cached and the live packets');
});
