/** Number formatting for the dashboard: short, unit-bearing, '–' for unknown. */

export const DASH = '–';

export function formatBitrate(bps: number | null | undefined): string {
  if (bps === null || bps === undefined || !Number.isFinite(bps)) return DASH;
  if (bps >= 1e9) return `${(bps / 1e9).toFixed(2)} Gbit/s`;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(bps >= 1e8 ? 0 : bps >= 1e7 ? 1 : 2)} Mbit/s`;
  if (bps >= 1e3) return `${Math.round(bps / 1e3)} kbit/s`;
  return `${Math.round(bps)} bit/s`;
}

export function formatPercent(value: number | null | undefined, digits = 1): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return `${value.toFixed(value !== 0 && Math.abs(value) < 0.1 ? 2 : digits)} %`;
}

export function formatMs(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return value >= 10_000 ? `${(value / 1000).toFixed(1)} s` : `${Math.round(value)} ms`;
}

export function formatNumber(value: number | null | undefined, digits = 0): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return DASH;
  return value.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return DASH;
  if (bytes >= 1024 ** 3) return `${(bytes / 1024 ** 3).toFixed(2)} GiB`;
  if (bytes >= 1024 ** 2) return `${Math.round(bytes / 1024 ** 2)} MiB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KiB`;
  return `${bytes} B`;
}

/** "45 s", "3 min 05 s", "2 h 04 min". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return DASH;
  const s = Math.floor(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** ms epoch of an ISO time from the server (null when absent or unreadable). */
export function epochMs(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms : null;
}

/** Seconds from an ISO time until now (null when absent). */
export function secondsSince(iso: string | null | undefined, now = Date.now()): number | null {
  const at = epochMs(iso);
  return at === null ? null : Math.max(0, (now - at) / 1000);
}

/** "12 s ago" from an ISO time. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  const seconds = secondsSince(iso, now);
  return seconds === null ? DASH : `${formatDuration(seconds)} ago`;
}

/** The local clock time of an ISO time. */
export function formatClock(iso: string | null | undefined): string {
  const at = epochMs(iso);
  return at === null ? DASH : new Date(at).toLocaleTimeString();
}

/** "1280×720 @ 30 fps · VP8" from what is known. */
export function formatVideo(video: { width: number | null; height: number | null; fps: number | null; codec: string | null }): string {
  const parts: string[] = [];
  if (video.width && video.height) parts.push(`${video.width}×${video.height}`);
  if (video.fps !== null) parts.push(`${Math.round(video.fps)} fps`);
  const text = parts.join(' @ ');
  const codec = video.codec ? video.codec.replace(/^video\//i, '').toUpperCase() : null;
  return [text, codec].filter(Boolean).join(' · ') || DASH;
}
