import { Viewer, type Quality, type ViewerState } from '../sdk/viewer';
import { TypedEmitter } from '../sdk/typedEmitter';
import type { Playback, PlaybackEvents, PlaybackStatus, QoeSample } from './playback';

const STATUS_FOR_VIEWER_STATE: Record<ViewerState, PlaybackStatus> = {
  connecting: 'connecting',
  playing: 'live',
  offline: 'offline',
  reconnecting: 'reconnecting',
  closed: 'offline',
};

const LAYER_LABELS = ['low', 'medium', 'high'] as const;

/** Sub-second playback through the mediasoup SFU (the SDK's Viewer). */
export class WebRtcPlayback extends TypedEmitter<PlaybackEvents> implements Playback {
  readonly transport = 'webrtc' as const;
  readonly viewer: Viewer;
  private statusValue: PlaybackStatus = 'connecting';
  private videoPausedValue = false;
  private closed = false;

  constructor(
    private readonly video: HTMLVideoElement,
    options: { room: string; token?: string; quality?: Quality; viewer?: Viewer },
  ) {
    super();
    // An already joined Viewer can be adopted (the watch page's "seat free again?" probe).
    this.viewer =
      options.viewer ??
      new Viewer({
        room: options.room,
        ...(options.token ? { token: options.token } : {}),
        videoElement: video,
        quality: options.quality ?? 'auto',
      });
    if (options.viewer) {
      this.viewer.setVideoElement(video);
      if (options.quality) this.viewer.setQuality(options.quality);
    }
    this.statusValue = STATUS_FOR_VIEWER_STATE[this.viewer.state];
    this.viewer.on('state', ({ state }) => {
      this.statusValue = STATUS_FOR_VIEWER_STATE[state];
      this.emit('status', this.statusValue);
    });
    this.viewer.on('stream', (stream) => this.attach(stream));
    this.viewer.on('error', (error) => this.emit('fatal', error));
    this.viewer.on('retry', ({ error, delayMs }) => {
      const when = delayMs === undefined ? '' : ` in ${Math.ceil(delayMs / 1000)} s`;
      this.emit('notice', `${error.code}: retrying${when}…`);
    });
    this.viewer.on('roomStatus', ({ viewers }) => this.emit('viewers', viewers));
    this.viewer.on('layers', ({ spatialLayer }) => {
      this.emit('qualityLabel', spatialLayer === null ? null : (LAYER_LABELS[spatialLayer] ?? `layer ${spatialLayer}`));
    });
    this.viewer.on('mediaPaused', ({ kind, paused }) => {
      if (kind === 'video') this.videoPausedValue = paused;
    });
    this.viewer.on('stream', (stream) => {
      // A new set of tracks: the broadcaster's pause state is announced again if it applies.
      if (!stream) this.videoPausedValue = false;
    });
  }

  /** Emits the adopted viewer's current stream (call after subscribing). */
  attachCurrentStream(): void {
    const stream = this.viewer.stream;
    if (stream) this.attach(stream);
  }

  /** The broadcaster paused their video: no frames is expected, not a failure. */
  get videoPaused(): boolean {
    return this.videoPausedValue;
  }

  get status(): PlaybackStatus {
    return this.statusValue;
  }

  start(): Promise<void> {
    return this.viewer.start();
  }

  setQuality(quality: Quality): void {
    this.viewer.setQuality(quality);
  }

  /** WebRTC is sub-second by construction; not measured. */
  latency(): number | null {
    return null;
  }

  async qoeSample(): Promise<QoeSample | null> {
    if (this.closed) return null;
    const stats = await this.viewer.getStats();
    return {
      transport: 'webrtc',
      framesDecoded: stats.framesDecoded,
      framesDropped: stats.framesDropped,
      // Chromium reports freezes itself (inbound-rtp); elsewhere the reporter watches rendered frames.
      ...(stats.freezeCount !== undefined ? { freezeCount: stats.freezeCount, freezeDurationMs: stats.totalFreezesDurationMs ?? 0 } : {}),
      bytesReceived: stats.videoBytesReceived + stats.audioBytesReceived,
      ...(stats.jitterBufferDelayMs !== undefined ? { jitterBufferDelayMs: stats.jitterBufferDelayMs } : {}),
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.removeAllListeners();
    this.viewer.close();
    this.attach(null);
  }

  debugHandle(): Record<string, unknown> {
    return { viewer: this.viewer };
  }

  private attach(stream: MediaStream | null): void {
    if (this.video.srcObject === stream) return;
    if (this.closed && stream) return;
    this.video.srcObject = stream;
    this.emit('sourceChanged', { hasVideo: (stream?.getVideoTracks().length ?? 0) > 0 });
    if (!stream) return;
    // Muted autoplay is allowed everywhere; the page offers an Unmute button.
    this.video.play().catch((error: unknown) => {
      // AbortError: a newer srcObject replaced this one before it started; harmless.
      if (error instanceof DOMException && error.name === 'AbortError') return;
      this.emit('autoplayBlocked', null);
    });
  }
}
