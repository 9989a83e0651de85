/**
 * Counters of every ffmpeg the server supervises (recorders today, ingests
 * next), shared by their supervisors and read by the metrics registry.
 */
import type { FfmpegExitKind } from './ffmpegSupervisor.js';

export class FfmpegStats {
  /** Processes started (first starts and restarts). */
  starts = 0;
  /** Restarts after an unexpected exit. */
  restarts = 0;
  /** ffmpegs running now. */
  running = 0;
  /** Unexpected exits by kind: nonzero exit code, signal, spawn/other error, clean end. */
  readonly exits: Record<FfmpegExitKind, number> = { code: 0, signal: 0, error: 0, ended: 0 };
}
