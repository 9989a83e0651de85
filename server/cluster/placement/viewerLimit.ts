/**
 * MAX_WEBRTC_VIEWERS as a runtime setting: rooms read their limit from one
 * shared options object at each admission, so the running node applies a
 * change by updating that object (cleared → back to the configured value).
 * Placement reads the same effective value as its per-node room capacity.
 */
import type { RuntimeSettings } from '../runtimeSettings.js';

/** Keeps `target.maxWebRtcViewers` equal to the runtime setting, or `configured` when unset. Returns the unsubscribe. */
export function followViewerLimit(settings: RuntimeSettings, target: { maxWebRtcViewers: number }, configured: number): () => void {
  target.maxWebRtcViewers = settings.snapshot().maxWebRtcViewers ?? configured;
  return settings.onChange((change) => {
    if (change.setting === 'maxWebRtcViewers') target.maxWebRtcViewers = change.value ?? configured;
  });
}
