import { Viewer, type Quality, type ViewerState } from '../sdk/viewer';
import { TypedEmitter } from '../sdk/typedEmitter';
import type { Playback, PlaybackEvents, PlaybackStatus } from './playback';

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

  constructor(
    private readonly video: HTMLVideoElement,
    options: { room: string; token?: string; quality?: Quality },
  ) {
    super();
    this.viewer = new Viewer({
      room: options.room,
      ...(options.token ? { token: options.token } : {}),
      videoElement: video,
      quality: options.quality ?? 'auto',
    });
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

  close(): void {
    this.viewer.close();
    this.attach(null);
  }

  debugHandle(): Record<string, unknown> {
    return { viewer: this.viewer };
  }

  private attach(stream: MediaStream | null): void {
    if (this.video.srcObject === stream) return;
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
