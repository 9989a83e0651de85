/**
 * Tells whether a <video> is actually presenting frames, not just "has a
 * source": requestVideoFrameCallback where available, otherwise the
 * 'playing'/'timeupdate' events plus videoWidth > 0.
 */
export class RenderMonitor {
  private lastFrameAt = 0;
  private sawFrameSinceReset = false;
  private expectVideo = true;
  private frameCallbackId: number | null = null;
  private readonly usesFrameCallbacks: boolean;
  private closed = false;

  constructor(
    private readonly video: HTMLVideoElement,
    private readonly onFirstFrame: () => void,
  ) {
    this.usesFrameCallbacks = typeof video.requestVideoFrameCallback === 'function';
    if (this.usesFrameCallbacks) this.watchFrames();
    for (const event of ['playing', 'timeupdate', 'resize'] as const) {
      video.addEventListener(event, this.onMediaEvent);
    }
  }

  /** A new source was attached: wait for its first frame again. */
  reset(expectVideo: boolean): void {
    this.expectVideo = expectVideo;
    this.sawFrameSinceReset = false;
    this.lastFrameAt = 0;
  }

  /** A frame (or, for audio-only, playback) was seen since the last reset. */
  get rendering(): boolean {
    return this.sawFrameSinceReset;
  }

  /** Whether a frame was presented within the last `ms` milliseconds. */
  renderedWithin(ms: number): boolean {
    return this.sawFrameSinceReset && performance.now() - this.lastFrameAt <= ms;
  }

  /** Milliseconds since the last presented frame (Infinity when none since the last reset). */
  msSinceLastFrame(): number {
    return this.sawFrameSinceReset ? performance.now() - this.lastFrameAt : Infinity;
  }

  close(): void {
    this.closed = true;
    if (this.frameCallbackId !== null) this.video.cancelVideoFrameCallback(this.frameCallbackId);
    for (const event of ['playing', 'timeupdate', 'resize'] as const) {
      this.video.removeEventListener(event, this.onMediaEvent);
    }
  }

  private watchFrames(): void {
    this.frameCallbackId = this.video.requestVideoFrameCallback(() => {
      if (this.closed) return;
      this.markFrame();
      this.watchFrames();
    });
  }

  private readonly onMediaEvent = (): void => {
    const hasPicture = this.video.videoWidth > 0 && !this.video.paused;
    // With frame callbacks, events only stand in for audio-only streams.
    if (this.usesFrameCallbacks ? !this.expectVideo && !this.video.paused : hasPicture || (!this.expectVideo && !this.video.paused)) {
      this.markFrame();
    }
  };

  private markFrame(): void {
    this.lastFrameAt = performance.now();
    if (this.sawFrameSinceReset) return;
    this.sawFrameSinceReset = true;
    this.onFirstFrame();
  }
}
