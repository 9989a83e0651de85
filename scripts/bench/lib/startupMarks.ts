/**
 * Where a watch page's start-up time goes, read from the page itself: the
 * video element's events (captured at the document, before the page's own
 * listeners), the first frame presented once playing, and the Resource Timing
 * entries of what the player fetched (/api/rooms, master, media playlists,
 * init sections, parts). Times are wall-clock ms (performance.timeOrigin +
 * now), comparable with the broadcast page's in the same browser.
 */
import type { Page } from 'playwright-core';

export interface StartupMarks {
  /** Navigation start of the page. */
  openedAt: number;
  canplayAt: number | null;
  playingAt: number | null;
  /** First frame presented after 'playing' (requestVideoFrameCallback): the picture moves. */
  firstFrameAt: number | null;
  framesDecoded: number;
  /** First response end of each kind (status 200 for the HLS ones), wall-clock ms. */
  roomsApiAt: number | null;
  masterRequestedAt: number | null;
  masterOkAt: number | null;
  /** Status codes of the master requests before its first 200, "503" → count. */
  masterStatuses: Record<string, number>;
  mediaPlaylistOkAt: number | null;
  initOkAt: number | null;
  firstPartOkAt: number | null;
  /** The page's transport attribute when sampled (must be 'hls'). */
  transport: string | null;
  /** Every /api and /hls request so far (the waterfall, for the JSON result). */
  requests: Array<{ path: string; start: number; end: number; status: number }>;
}

/**
 * tsx compiles this file with esbuild's keepNames: functions handed to the
 * page call a `__name` helper that only exists in Node. Give pages a no-op one.
 */
export async function allowNodeFunctions(page: Page): Promise<void> {
  await page.addInitScript({ content: 'globalThis.__name ??= (fn) => fn;' });
}

/** Registers the event capture; call before navigating. */
export async function instrumentPlayerPage(page: Page): Promise<void> {
  await allowNodeFunctions(page);
  await page.addInitScript(() => {
    const now = () => performance.timeOrigin + performance.now();
    const marks = { canplayAt: null as number | null, playingAt: null as number | null, firstFrameAt: null as number | null };
    (window as unknown as { __startup: typeof marks }).__startup = marks;
    document.addEventListener(
      'canplay',
      (event) => {
        if (event.target instanceof HTMLVideoElement) marks.canplayAt ??= now();
      },
      true,
    );
    document.addEventListener(
      'playing',
      (event) => {
        const video = event.target;
        if (!(video instanceof HTMLVideoElement) || marks.playingAt !== null) return;
        marks.playingAt = now();
        video.requestVideoFrameCallback((at) => (marks.firstFrameAt ??= performance.timeOrigin + at));
      },
      true,
    );
  });
}

/** The marks so far (null fields: not reached yet). */
export async function readStartupMarks(page: Page): Promise<StartupMarks> {
  return page.evaluate(() => {
    const events = (window as unknown as { __startup?: { canplayAt: number | null; playingAt: number | null; firstFrameAt: number | null } }).__startup;
    const video = document.querySelector('video');
    const origin = performance.timeOrigin;
    const entries = (performance.getEntriesByType('resource') as PerformanceResourceTiming[]).map((e) => ({
      path: new URL(e.name).pathname,
      start: origin + e.startTime,
      end: origin + e.responseEnd,
      // Chromium ≥ 109; 0 when unknown.
      status: (e as PerformanceResourceTiming & { responseStatus?: number }).responseStatus ?? 0,
    }));
    const firstEnd = (match: (path: string) => boolean, ok = true) => {
      const hits = entries.filter((e) => match(e.path) && (!ok || e.status === 200 || e.status === 0)).map((e) => e.end);
      return hits.length ? Math.min(...hits) : null;
    };
    const isMaster = (p: string) => /^\/hls\/[^/]+\/index\.m3u8$/.test(p);
    const masterRequests = entries.filter((e) => isMaster(e.path)).sort((a, b) => a.start - b.start);
    const masterStatuses: Record<string, number> = {};
    for (const request of masterRequests) {
      if (request.status === 200) break;
      masterStatuses[String(request.status)] = (masterStatuses[String(request.status)] ?? 0) + 1;
    }
    return {
      openedAt: origin,
      canplayAt: events?.canplayAt ?? null,
      playingAt: events?.playingAt ?? null,
      firstFrameAt: events?.firstFrameAt ?? null,
      framesDecoded: video ? video.getVideoPlaybackQuality().totalVideoFrames : 0,
      roomsApiAt: firstEnd((p) => p === '/api/rooms', false),
      masterRequestedAt: masterRequests[0]?.start ?? null,
      masterOkAt: firstEnd(isMaster),
      masterStatuses,
      mediaPlaylistOkAt: firstEnd((p) => /^\/hls\/[^/]+\/[^/]+\/index\.m3u8$/.test(p)),
      initOkAt: firstEnd((p) => /\/init-[^/]+\.mp4$/.test(p)),
      firstPartOkAt: firstEnd((p) => /\/(?:part|seg)-[^/]+\.m4s$/.test(p)),
      transport: video?.dataset['transport'] ?? null,
      requests: entries.filter((e) => /^\/(?:api|hls)\//.test(e.path)),
    };
  });
}
