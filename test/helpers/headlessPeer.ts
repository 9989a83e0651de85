/**
 * Headless WebRTC test peers for Floodlight integration tests and benchmarks.
 *
 *   HeadlessPublisher  joins as publisher (JWT), produces Opus + VP8/H264 from
 *                      an ffmpeg test pattern, republishes on `reconnect`.
 *   HeadlessViewer     joins as viewer, consumes every producer, counts RTP
 *                      packets/bytes, video frames and keyframes, time to
 *                      first packet/keyframe; rejoins on `reconnect`.
 *
 * Both run on werift (Node WebRTC) with a small SDP bridge to mediasoup's
 * parameters (sdpBridge.ts), on the browser SDK's own signaling client and
 * rejoin loop (client/src/sdk/), loopback-only ICE, and never leave a child
 * process behind (processes.ts). Typical use:
 *
 *   const pub = new HeadlessPublisher({ url, room: 'r1', token });
 *   await pub.publish();
 *   const viewer = new HeadlessViewer({ url, room: 'r1' });
 *   await viewer.join();
 *   await waitFor(() => viewer.stats().video.keyframes > 0, {
 *     description: 'a keyframe at the viewer', timeoutMs: 10_000, progress: () => viewer.summary(),
 *   });
 *   await Promise.all([viewer.close(), pub.close()]);
 *
 * Set FLOODLIGHT_HEADLESS_DEBUG=1 to log every signaling/media step to stderr.
 */
export { HeadlessViewer, type HeadlessViewerOptions, type ViewerStats, type ConsumerStats } from './headlessViewer.js';
export { HeadlessPublisher, type HeadlessPublisherOptions, type PublisherStats } from './headlessPublisher.js';
export { type HeadlessPeerOptions, type PeerState } from './rejoiningPeer.js';
export { type StreamCounts } from './rtpCounters.js';
export { type FfmpegVideoOptions, type FfmpegAudioOptions, type VideoCodecName } from './ffmpegSource.js';
export { SignalingClient } from '../../client/src/sdk/signalingClient.js';
export { FloodlightError, SignalingError } from '../../client/src/sdk/errors.js';
export { waitFor, sleep, withTimeout, WaitTimeoutError } from './wait.js';
export { spawnTracked, stopAllTracked, listTracked } from './processes.js';
