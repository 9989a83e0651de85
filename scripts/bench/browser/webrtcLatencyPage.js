// @ts-check
/**
 * Page side of the WebRTC glass-to-glass latency benchmark, bundled into an
 * IIFE and injected with page.addInitScript (see scripts/bench/webrtc-latency.ts).
 * Everything is on `window.__bench`:
 *
 *   source.start({ codec })   broadcast page: 1280x720 canvas with the frame
 *                             timestamp code + moving content at 30 fps, an
 *                             oscillator for audio, published through the
 *                             page's own SDK Publisher (window.floodlight.publisher),
 *                             or over WHIP with `whip: { url, key }` (any page)
 *   sink.start()              watch page: decodes the timestamp of every frame
 *                             the <video> presents (requestVideoFrameCallback)
 *   sink.setRecording(bool)   only recorded frames become samples
 *   stats.snapshot()          cumulative getStats() counters of the page's peer connections
 *
 * Timestamps are `performance.timeOrigin + performance.now()` on both pages:
 * same browser, same clock.
 */
import * as FrameCodec from './frameCodec.js';
import { snapshot, trackPeerConnections } from './rtcStats.js';
import { publishWhip } from './whipPublish.js';

const config = /** @type {{ stubGetUserMedia?: boolean }} */ (/** @type {any} */ (window).__benchConfig ?? {});

trackPeerConnections();

if (config.stubGetUserMedia && navigator.mediaDevices) {
  // The broadcast page opens the (fake) camera on load for its preview; we publish our
  // own canvas instead, so hand it an empty stream rather than burn CPU on capture.
  navigator.mediaDevices.getUserMedia = async () => new MediaStream();
}

const clock = () => performance.timeOrigin + performance.now();

// ------------------------------------------------------------------ source

/**
 * content: 'camera' (default) is a still background with moving objects over about a
 * third of the frame, like a person in front of a camera; 'busy' also shifts the hue of
 * the whole background every frame, which is much harder on the encoders.
 * whip: publish over WHIP to `url` with the stream `key` instead of through the SDK.
 * @typedef {{
 *   codec: 'vp8' | 'h264', width?: number, height?: number, fps?: number, content?: 'camera' | 'busy',
 *   whip?: { url: string, key: string }
 * }} SourceOptions
 */

const source = {
  drawn: 0,
  /** 'raf' while requestAnimationFrame runs in this page, else 'timer'. */
  mode: /** @type {'raf' | 'timer'} */ ('raf'),
  intervals: /** @type {number[]} */ ([]),
  lastDrawAt: 0,
  stream: /** @type {MediaStream | null} */ (null),
  audioContext: /** @type {AudioContext | null} */ (null),
  /** The WHIP session's peer connection (whip mode). */
  whipPc: /** @type {RTCPeerConnection | null} */ (null),

  /** @param {SourceOptions} options */
  async start(options) {
    const width = options.width ?? 1280;
    const height = options.height ?? 720;
    const fps = options.fps ?? 30;
    const canvas = document.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.id = 'bench-source';
    canvas.style.cssText = 'position:fixed;right:0;bottom:0;width:320px;height:180px;z-index:9999;border:1px solid red';
    document.body.append(canvas);
    const ctx = canvas.getContext('2d', { alpha: false });
    if (!ctx) throw new Error('no 2D context');

    const bandBottom = Math.ceil(FrameCodec.LAYOUT.bandHeight * height);
    const background = options.content === 'busy' ? null : stillBackground(width, height, bandBottom);
    const draw = () => {
      const ts = clock();
      const n = source.drawn++;
      if (source.lastDrawAt) source.intervals.push(ts - source.lastDrawAt);
      if (source.intervals.length > 2000) source.intervals.splice(0, 1000);
      source.lastDrawAt = ts;
      drawContent(ctx, width, height, bandBottom, n, ts, background);
      FrameCodec.encode(ctx, width, height, ts);
    };

    // Draw inside requestAnimationFrame (right before the canvas is captured), every
    // 1000/fps ms; fall back to a timer if this page gets no animation frames.
    const interval = 1000 / fps;
    let next = performance.now();
    let lastRaf = performance.now();
    const onRaf = () => {
      lastRaf = performance.now();
      if (source.mode === 'raf' && lastRaf >= next - 4) {
        draw();
        next += interval;
        if (lastRaf - next > interval) next = lastRaf + interval; // fell behind: don't burst
      }
      requestAnimationFrame(onRaf);
    };
    requestAnimationFrame(onRaf);
    setInterval(() => {
      const now = performance.now();
      if (source.mode === 'raf' && now - lastRaf > 250) source.mode = 'timer';
      else if (source.mode === 'timer' && now - lastRaf < 50) source.mode = 'raf';
      if (source.mode === 'timer' && now >= next - 4) {
        draw();
        next += interval;
        if (now - next > interval) next = now + interval;
      }
    }, 5);
    draw();

    const audioContext = new AudioContext();
    source.audioContext = audioContext;
    const oscillator = audioContext.createOscillator();
    oscillator.frequency.value = 440;
    const gain = audioContext.createGain();
    gain.gain.value = 0.2;
    const destination = audioContext.createMediaStreamDestination();
    oscillator.connect(gain).connect(destination);
    oscillator.start();
    await audioContext.resume();

    const videoTrack = canvas.captureStream(fps).getVideoTracks()[0];
    if (!videoTrack) throw new Error('canvas.captureStream gave no video track');
    const stream = new MediaStream([videoTrack, ...destination.stream.getAudioTracks()]);
    source.stream = stream;

    if (options.whip) {
      const publishStartedAt = clock();
      const { pc, location } = await publishWhip(stream, { ...options.whip, codec: options.codec });
      source.whipPc = pc;
      return {
        state: pc.connectionState,
        audioContextState: audioContext.state,
        trackSettings: videoTrack.getSettings(),
        publishStartedAt,
        publishedAt: clock(),
        location,
      };
    }
    const publisher = /** @type {any} */ (window).floodlight?.publisher;
    if (!publisher) throw new Error('window.floodlight.publisher is missing (is this the /broadcast page?)');
    // When publish() was called and when it resolved (the producers exist on the server):
    // the HLS benchmark times "going live" from these.
    const publishStartedAt = clock();
    await publisher.publish(stream, { source: 'camera', videoCodec: options.codec });
    const publishedAt = clock();
    return { state: publisher.state, audioContextState: audioContext.state, trackSettings: videoTrack.getSettings(), publishStartedAt, publishedAt };
  },

  progress() {
    const intervals = source.intervals.slice(-300);
    const mean = intervals.length ? intervals.reduce((a, b) => a + b, 0) / intervals.length : 0;
    return {
      drawn: source.drawn,
      mode: source.mode,
      meanIntervalMs: mean,
      maxIntervalMs: intervals.length ? Math.max(...intervals) : 0,
      publisherState: source.whipPc?.connectionState ?? /** @type {any} */ (window).floodlight?.publisher?.state ?? null,
    };
  },
};

/**
 * A fixed, textured background (drawn once): gradient plus a few hundred soft tiles.
 * @param {number} width
 * @param {number} height
 * @param {number} top
 */
function stillBackground(width, height, top) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2D context');
  const gradient = ctx.createLinearGradient(0, top, width, height);
  gradient.addColorStop(0, 'hsl(210 35% 24%)');
  gradient.addColorStop(1, 'hsl(30 35% 34%)');
  ctx.fillStyle = gradient;
  ctx.fillRect(0, top, width, height - top);
  for (let i = 0; i < 300; i++) {
    ctx.fillStyle = `hsl(${(i * 47) % 360} 30% ${25 + (i % 7) * 5}% / 0.5)`;
    ctx.fillRect((i * 211) % width, top + ((i * 97) % (height - top)), 40 + (i % 5) * 12, 30 + (i % 3) * 10);
  }
  return canvas;
}

/**
 * Moving content below the code band, so the encoder has real work to do.
 * @param {CanvasRenderingContext2D} ctx
 * @param {number} width
 * @param {number} height
 * @param {number} top
 * @param {number} n frame number
 * @param {number} ts
 * @param {HTMLCanvasElement | null} background still background, or null for a full-frame change every frame
 */
function drawContent(ctx, width, height, top, n, ts, background) {
  if (background) {
    ctx.drawImage(background, 0, top, width, height - top, 0, top, width, height - top);
  } else {
    const gradient = ctx.createLinearGradient(0, top, width, height);
    gradient.addColorStop(0, `hsl(${(n * 2) % 360} 45% 22%)`);
    gradient.addColorStop(1, `hsl(${(n * 2 + 140) % 360} 45% 32%)`);
    ctx.fillStyle = gradient;
    ctx.fillRect(0, top, width, height - top);
  }
  for (let i = 0; i < 8; i++) {
    ctx.fillStyle = `hsl(${(i * 45 + n * 3) % 360} 70% 55%)`;
    const x = ((n * (4 + i) + i * 170) % (width + 240)) - 240;
    ctx.fillRect(x, top + 30 + i * 62, 240, 44);
  }
  const cx = width / 2 + Math.cos(n / 20) * width * 0.3;
  const cy = (top + height) / 2 + Math.sin(n / 13) * (height - top) * 0.3;
  ctx.beginPath();
  ctx.fillStyle = '#f4f4f4';
  ctx.arc(cx, cy, 60, 0, Math.PI * 2);
  ctx.fill();
  ctx.save();
  ctx.translate(width * 0.8, height * 0.62);
  ctx.rotate(n / 15);
  ctx.fillStyle = '#ffd23f';
  ctx.fillRect(-150, -12, 300, 24);
  ctx.restore();
  ctx.fillStyle = '#ffffff';
  ctx.font = 'bold 44px monospace';
  ctx.fillText(`#${n}  ${new Date(ts).toISOString().slice(11, 23)}`, 40, height - 40);
}

// ------------------------------------------------------------------ sink

/** The /watch page shows the layer the server forwards as a badge: low / medium / high. */
function qualityBadge() {
  return document.querySelector('#quality-badge')?.textContent || null;
}

/**
 * @typedef {{
 *   ts: number, at: number, display: number, receive: number | null, capture: number | null,
 *   processingMs: number | null, width: number, height: number, presented: number, mediaTime: number
 * }} Sample
 */

const sink = {
  video: /** @type {HTMLVideoElement | null} */ (null),
  recording: false,
  /** Every callback, recorded or not. */
  frames: 0,
  /** @type {Sample[]} */
  samples: [],
  /** Recorded frames that did not decode, by reason. */
  failures: /** @type {Record<string, number>} */ ({}),
  /** Recorded frames whose timestamp was already seen (a repeated picture). */
  duplicates: 0,
  /** presentedFrames the callback skipped while recording (frames shown but not seen by us). */
  missedCallbacks: 0,
  /** Frame sizes seen while recording, "WxH" → count (every frame, decoded or not). */
  sizes: /** @type {Record<string, number>} */ ({}),
  seen: new Set(),
  lastPresented: /** @type {number | null} */ (null),
  last: /** @type {{ ok: boolean, latencyMs: number | null, width: number, height: number, reason: string | null }} */ ({
    ok: false,
    latencyMs: null,
    width: 0,
    height: 0,
    reason: null,
  }),
  /** Server-side simulcast layer changes reported to the SDK Viewer. */
  layers: /** @type {{ at: number, spatialLayer: number | null, temporalLayer: number | null }[]} */ ([]),
  /** The watch page's quality badge (server's layer as low/medium/high) when the sink started. */
  initialQualityBadge: /** @type {string | null} */ (null),

  /** @param {{ selector?: string }} [options] */
  start(options = {}) {
    const video = /** @type {HTMLVideoElement | null} */ (document.querySelector(options.selector ?? 'video'));
    if (!video) throw new Error('no <video> on this page');
    if (!('requestVideoFrameCallback' in video)) throw new Error('requestVideoFrameCallback is not supported');
    sink.video = video;
    sink.initialQualityBadge = qualityBadge();
    const viewer = /** @type {any} */ (window).floodlight?.viewer;
    viewer?.on?.('layers', (/** @type {{ spatialLayer: number | null, temporalLayer: number | null }} */ l) =>
      sink.layers.push({ at: clock(), spatialLayer: l.spatialLayer, temporalLayer: l.temporalLayer }),
    );
    video.requestVideoFrameCallback(sink.onFrame);
    return { hasViewer: Boolean(viewer) };
  },

  /**
   * @param {DOMHighResTimeStamp} now
   * @param {VideoFrameCallbackMetadata & { receiveTime?: number, captureTime?: number }} metadata
   */
  onFrame(now, metadata) {
    const video = sink.video;
    if (!video) return;
    video.requestVideoFrameCallback(sink.onFrame);
    const at = performance.timeOrigin + now;
    const width = video.videoWidth || metadata.width;
    const height = video.videoHeight || metadata.height;
    sink.frames++;
    const result = FrameCodec.decodeFrame(video, width, height, clock());
    const latencyMs = result.ok ? at - result.timestampMs : null;
    const plausible = latencyMs !== null && latencyMs > -50 && latencyMs < 10_000;
    sink.last = { ok: result.ok && plausible, latencyMs, width, height, reason: result.ok ? (plausible ? null : 'implausible') : result.reason };

    if (!sink.recording) {
      sink.lastPresented = metadata.presentedFrames;
      return;
    }
    if (sink.lastPresented !== null && metadata.presentedFrames > sink.lastPresented + 1) {
      sink.missedCallbacks += metadata.presentedFrames - sink.lastPresented - 1;
    }
    sink.lastPresented = metadata.presentedFrames;
    const size = `${width}x${height}`;
    sink.sizes[size] = (sink.sizes[size] ?? 0) + 1;
    if (!result.ok || !plausible) {
      const reason = result.ok ? 'implausible' : result.reason;
      sink.failures[reason] = (sink.failures[reason] ?? 0) + 1;
      return;
    }
    if (sink.seen.has(result.timestampMs)) {
      sink.duplicates++;
      return;
    }
    sink.seen.add(result.timestampMs);
    sink.samples.push({
      ts: result.timestampMs,
      at,
      display: performance.timeOrigin + metadata.expectedDisplayTime,
      receive: typeof metadata.receiveTime === 'number' ? performance.timeOrigin + metadata.receiveTime : null,
      capture: typeof metadata.captureTime === 'number' ? performance.timeOrigin + metadata.captureTime : null,
      processingMs: typeof metadata.processingDuration === 'number' ? metadata.processingDuration * 1000 : null,
      width,
      height,
      presented: metadata.presentedFrames,
      // The frame's position on the media timeline (HLS: maps it to the part/segment it came in).
      mediaTime: metadata.mediaTime,
    });
  },

  /** @param {boolean} on */
  setRecording(on) {
    if (on && !sink.recording) {
      sink.samples = [];
      sink.failures = {};
      sink.duplicates = 0;
      sink.missedCallbacks = 0;
      sink.sizes = {};
      sink.seen = new Set();
      sink.lastPresented = null;
    }
    sink.recording = on;
  },

  /** @param {number} [minWidth] count only samples at least this wide */
  progress(minWidth = 0) {
    const failures = Object.values(sink.failures).reduce((a, b) => a + b, 0);
    return {
      frames: sink.frames,
      recorded: sink.samples.filter((s) => s.width >= minWidth).length,
      recordedAll: sink.samples.length,
      failures,
      last: sink.last,
      spatialLayer: sink.layers.at(-1)?.spatialLayer ?? null,
      qualityBadge: qualityBadge(),
    };
  },

  results() {
    return {
      samples: sink.samples,
      failures: sink.failures,
      duplicates: sink.duplicates,
      missedCallbacks: sink.missedCallbacks,
      sizes: sink.sizes,
      layers: sink.layers,
      initialQualityBadge: sink.initialQualityBadge,
      finalQualityBadge: qualityBadge(),
    };
  },
};

/** @type {any} */ (window).__bench = { FrameCodec, source, sink, stats: { snapshot } };
