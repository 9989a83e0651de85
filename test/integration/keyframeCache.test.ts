/**
 * Key frame cache (our mediasoup worker patch, KEYFRAME_CACHE_MS): a viewer
 * starting out is handed the latest key frame the SFU already has, and the
 * frames since, instead of waiting for the publisher to make a new one.
 *
 * The publisher is ffmpeg, which cannot act on keyframe requests and makes a
 * key frame every 4 s. A viewer joins 1 s (30 frames) after one of them, so:
 *   - with the cache, its first key frame arrives long before the publisher's
 *     next one, and no keyframe request reaches the publisher;
 *   - without the cache (0), or when the cached key frame is older than the
 *     limit (500 ms here), it has to wait for the publisher's next key frame;
 *   - so it has when a packet since the key frame is missing for good: the
 *     cache never hands out frames the viewer could not decode.
 * The real worker (patched), real ffmpeg, a real werift viewer.
 */
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import * as mediasoup from 'mediasoup';
import type { FloodlightServer } from '../../server/app.js';
import { startTestServer } from '../helpers/testServer.js';
import { HeadlessPublisher, HeadlessViewer, waitFor } from '../helpers/headlessPeer.js';

const GOP_SECONDS = 4;
const FPS = 30;
const JOIN_AFTER_KEYFRAME_MS = 1_000;
/** The frames the cache holds when the viewer joins: 1 s of video after the key frame. */
const JOIN_AFTER_KEYFRAME_FRAMES = (FPS * JOIN_AFTER_KEYFRAME_MS) / 1000;

/** What the publisher's video producer received, seen from the worker's trace events. */
interface IngestTrace {
  /** performance.now() of every key frame. */
  keyframes: number[];
  /** Frames (distinct RTP timestamps) received after the latest key frame. */
  framesSinceKeyframe: number;
}

interface Run {
  server: FloodlightServer;
  publisher: HeadlessPublisher;
  viewer?: HeadlessViewer;
  stopTracing: () => void;
}

let current: Run | undefined;

afterEach(async () => {
  const run = current;
  current = undefined;
  if (!run) return;
  run.stopTracing();
  await run.viewer?.close();
  await run.publisher.close();
  await run.server.close();
});

/** The RTP timestamp of a traced packet (undefined for retransmissions: they start no frame). */
function tracedRtpTimestamp(info: Record<string, unknown>): number | undefined {
  if (info['isRtx'] === true) return undefined;
  const packet = info['rtpPacket'] as { timestamp?: unknown } | null | undefined;
  return typeof packet?.timestamp === 'number' ? packet.timestamp : undefined;
}

/**
 * Follows the key frames and frames the publisher's video producer receives
 * (trace events: a key frame's first packet is a 'keyframe' event, every other
 * packet an 'rtp' one).
 */
function traceIngest(ingest: IngestTrace): () => void {
  let keyframeTimestamp: number | undefined;
  let frameTimestamp: number | undefined;
  const onWorker = (worker: mediasoup.types.Worker): void => {
    worker.observer.on('newrouter', (router) =>
      router.observer.on('newtransport', (transport) =>
        transport.observer.on('newproducer', (producer) => {
          if (producer.kind !== 'video' || transport.type !== 'webrtc') return;
          void producer.enableTraceEvent(['keyframe', 'rtp']);
          producer.on('trace', (event) => {
            if (event.direction !== 'in') return;
            const timestamp = tracedRtpTimestamp(event.info);
            if (timestamp === undefined) return;
            if (event.type === 'keyframe' && timestamp !== keyframeTimestamp) {
              ingest.keyframes.push(performance.now());
              ingest.framesSinceKeyframe = 0;
              keyframeTimestamp = frameTimestamp = timestamp;
            } else if (event.type === 'rtp' && timestamp !== frameTimestamp && keyframeTimestamp !== undefined) {
              ingest.framesSinceKeyframe += 1;
              frameTimestamp = timestamp;
            }
          });
        }),
      ),
    );
  };
  mediasoup.observer.on('newworker', onWorker);
  return () => mediasoup.observer.off('newworker', onWorker);
}

/**
 * Starts a server with the given cache limit and an ffmpeg publisher, waits
 * until 1 s (30 frames) after one of its key frames, joins a viewer and waits for the
 * viewer's first key frame. Returns when that came, relative to the join and
 * to the publisher's next key frame, and how many keyframe requests the
 * publisher got while the viewer joined.
 */
async function joinMidGop(
  keyFrameCacheMs: number,
  options: { dropPacketAfterKeyframe?: boolean } = {},
): Promise<{ firstKeyframeMs: number; nextPublisherKeyframeMs: number | undefined; plis: number; viewer: HeadlessViewer }> {
  const ingest: IngestTrace = { keyframes: [], framesSinceKeyframe: 0 };
  const keyframesIn = ingest.keyframes;
  const stopTracing = traceIngest(ingest);
  const server = await startTestServer({ HLS_ENABLED: 'false', KEYFRAME_CACHE_MS: String(keyFrameCacheMs) });
  const token = await server.tokens.issue({ room: 'kfc', role: 'publisher' }, 600);
  const publisher = new HeadlessPublisher({
    url: server.url,
    room: 'kfc',
    token,
    name: `kfc-publisher-${keyFrameCacheMs}`,
    audio: false,
    video: { codec: 'VP8', width: 640, height: 360, fps: FPS, bitrateKbps: 600, keyframeIntervalSec: GOP_SECONDS },
  });
  current = { server, publisher, stopTracing };
  await publisher.publish();
  const progress = (): string => `${keyframesIn.length} key frames in, ${ingest.framesSinceKeyframe} frames since the latest; ${publisher.summary()}`;

  // Line up with the publisher's GOP: wait for a fresh key frame, then 1 s (30 frames) more.
  const seen = keyframesIn.length;
  await waitFor(() => keyframesIn.length > seen, { timeoutMs: 3 * GOP_SECONDS * 1000, description: 'a key frame from the publisher', progress });
  let keyframesAtDrop: number | undefined;
  if (options.dropPacketAfterKeyframe) {
    // Once a later frame reached the SFU the key frame was sent whole: the next packet is one since it.
    await waitFor(() => ingest.framesSinceKeyframe >= 1, { timeoutMs: 5_000, intervalMs: 5, description: 'a frame after the key frame', progress });
    publisher.dropVideoPackets(1);
    keyframesAtDrop = keyframesIn.length;
  }
  // A new key frame meanwhile (a stalled machine) starts the count again from it.
  await waitFor(() => ingest.framesSinceKeyframe >= JOIN_AFTER_KEYFRAME_FRAMES && performance.now() - keyframesIn.at(-1)! >= JOIN_AFTER_KEYFRAME_MS, {
    timeoutMs: 3 * GOP_SECONDS * 1000,
    intervalMs: 10,
    description: `${JOIN_AFTER_KEYFRAME_FRAMES} frames and ${JOIN_AFTER_KEYFRAME_MS} ms after a key frame`,
    progress,
  });
  // The cache's age limit is wall time but the publisher's GOP is counted in frames: they line up only while ffmpeg keeps real time.
  const keyframeAgeMs = performance.now() - keyframesIn.at(-1)!;
  assert.ok(
    keyframeAgeMs < JOIN_AFTER_KEYFRAME_MS + 1_000,
    `the publisher fell behind real time (machine overloaded?): ${JOIN_AFTER_KEYFRAME_FRAMES} frames took ${Math.round(keyframeAgeMs)} ms`,
  );
  if (keyframesAtDrop !== undefined) {
    assert.equal(keyframesIn.length, keyframesAtDrop, 'the packet was dropped after the latest key frame, the one the cache holds');
  }

  const plisBefore = publisher.stats().pliReceived;
  const viewer = new HeadlessViewer({ url: server.url, room: 'kfc', name: `kfc-viewer-${keyFrameCacheMs}` });
  current.viewer = viewer;
  const joinedAt = performance.now();
  await viewer.join();
  console.log(
    `# KEYFRAME_CACHE_MS=${keyFrameCacheMs}: viewer joined ${Math.round(joinedAt - keyframesIn.at(-1)!)} ms and ${ingest.framesSinceKeyframe} frames ` +
      'after a key frame; waiting for its first key frame',
  );
  await waitFor(() => viewer.stats().timeToFirstKeyframeMs !== undefined, {
    timeoutMs: 2 * GOP_SECONDS * 1000,
    description: 'the viewer receives a key frame',
    progress: () => viewer.summary(),
  });
  const firstKeyframeMs = viewer.stats().timeToFirstKeyframeMs!;
  const next = keyframesIn.find((t) => t > joinedAt);
  const result = {
    firstKeyframeMs,
    nextPublisherKeyframeMs: next === undefined ? undefined : Math.round(next - joinedAt),
    plis: publisher.stats().pliReceived - plisBefore,
    viewer,
  };
  console.log(
    `# first key frame ${result.firstKeyframeMs} ms after join; publisher's next key frame ${result.nextPublisherKeyframeMs ?? 'not yet'} ms; ` +
      `keyframe requests to the publisher ${result.plis}`,
  );
  return result;
}

test('a joining viewer starts from the cached key frame: no wait for the publisher, no keyframe request', { timeout: 60_000 }, async () => {
  const r = await joinMidGop(5_000);
  // The publisher's next key frame is ~3 s away; only the cache can be this early.
  assert.ok(
    r.nextPublisherKeyframeMs === undefined || r.firstKeyframeMs < r.nextPublisherKeyframeMs,
    `first key frame at ${r.firstKeyframeMs} ms came no earlier than the publisher's next (${r.nextPublisherKeyframeMs} ms)`,
  );
  assert.ok(r.firstKeyframeMs < GOP_SECONDS * 1000 - JOIN_AFTER_KEYFRAME_MS - 500, `first key frame only after ${r.firstKeyframeMs} ms`);
  assert.equal(r.plis, 0, 'no keyframe request reached the publisher');
  // The frames after the cached key frame came too, and the live ones follow on.
  // About 30 frames (1 s at 30 fps) arrive together; live ones alone would give < 10 in 300 ms.
  await waitFor(() => r.viewer.stats().video.frames >= 20, {
    timeoutMs: 300,
    description: 'the frames since the cached key frame arrive with it',
    progress: () => r.viewer.summary(),
  });
  const after = await r.viewer.waitForNewFrames(30);
  assert.equal(after.video.keyframes, 1, 'one key frame so far: the stream went on from the cached one');
  assert.equal(after.video.lost, 0, 'no sequence gap between cached and live packets');
});

test("without the cache the viewer waits for the publisher's next key frame", { timeout: 60_000 }, async () => {
  const r = await joinMidGop(0);
  assert.ok(r.nextPublisherKeyframeMs !== undefined, 'the publisher made another key frame');
  assert.ok(
    r.firstKeyframeMs >= r.nextPublisherKeyframeMs - 50,
    `first key frame at ${r.firstKeyframeMs} ms, before the publisher's next (${r.nextPublisherKeyframeMs} ms)`,
  );
  assert.ok(r.plis >= 1, 'the SFU asked the publisher for a key frame');
});

test('a cached key frame older than KEYFRAME_CACHE_MS is not handed out', { timeout: 60_000 }, async () => {
  const r = await joinMidGop(500);
  assert.ok(r.nextPublisherKeyframeMs !== undefined, 'the publisher made another key frame');
  assert.ok(
    r.firstKeyframeMs >= r.nextPublisherKeyframeMs - 50,
    `first key frame at ${r.firstKeyframeMs} ms, before the publisher's next (${r.nextPublisherKeyframeMs} ms)`,
  );
  assert.ok(r.plis >= 1, 'the SFU asked the publisher for a key frame');
});

test('a cache with a packet missing since the key frame is not handed out', { timeout: 60_000 }, async () => {
  const r = await joinMidGop(5_000, { dropPacketAfterKeyframe: true });
  assert.ok(r.nextPublisherKeyframeMs !== undefined, 'the publisher made another key frame');
  assert.ok(
    r.firstKeyframeMs >= r.nextPublisherKeyframeMs - 50,
    `first key frame at ${r.firstKeyframeMs} ms, before the publisher's next (${r.nextPublisherKeyframeMs} ms)`,
  );
  assert.ok(r.plis >= 1, 'the SFU asked the publisher for a key frame');
});
