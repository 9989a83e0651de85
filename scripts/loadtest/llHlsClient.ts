/**
 * A lightweight LL-HLS client that loads what hls.js in low-latency mode
 * loads, without decoding anything:
 *
 *   master → one rendition's media playlist → init section → parts from
 *   PART-HOLD-BACK behind the live edge (on an independent part), then, in
 *   parallel, blocking playlist reloads (`_HLS_msn`/`_HLS_part` of the part
 *   after the last listed one) and each next part as soon as it is listed or
 *   hinted (EXT-X-PRELOAD-HINT: the origin holds that request until the part
 *   exists). Whole segments when the playlist has no parts.
 *
 * Playback is simulated from what arrived: it starts with the first part, the
 * playhead advances in real time, and it stalls when it reaches the end of
 * what was loaded (until one more part-target of media arrives). Latency to
 * live is now − the playhead's EXT-X-PROGRAM-DATE-TIME. Each stall's duration
 * is kept (an origin-kill drill judges stalls one by one, not their sum).
 *
 * Across origins (a redundant origin taking over, or an edge switching
 * origins): an EXT-X-DISCONTINUITY with a new EXT-X-MAP loads the new init
 * section; when the last loaded object is no longer listed, the client goes
 * on from the entry whose program-date-time follows it, as hls.js re-aligns
 * by PDT (media sequence numbers only when the playlist has no PDT).
 *
 * Every request carries `User-Agent: floodlight-loadtest/<id>` so an origin
 * can count distinct clients (floodlight_hls_origin_clients).
 */
import { liveStartIndex, parseMaster, parseMediaPlaylist, type MediaEntry, type MediaPlaylist } from './llHlsPlaylist.js';

export interface LlHlsClientOptions {
  /** Master playlist URL, e.g. http://edge:8080/hls/room/index.m3u8. */
  masterUrl: string;
  /** Which variant: its index in the master, 'first' (hls.js's start level), 'lowest' or 'highest' bandwidth. Default 'first'. */
  variant?: number | 'first' | 'lowest' | 'highest';
  /** Distinct per client (User-Agent). */
  id: string;
  /** Give up on one request after this long. Default 20 s (longer than any blocking hold). */
  requestTimeoutMs?: number;
  /**
   * How far behind the live edge to start, s. Default the playlist's
   * PART-HOLD-BACK (hls.js's default); the watch page's hls.js targets 1.2 s
   * (client/src/player/hlsPlayback.ts, liveSyncDuration).
   */
  holdBackSeconds?: number;
}

export type ClientState = 'starting' | 'playing' | 'stalled' | 'closed';

export interface LlHlsClientStats {
  id: string;
  state: ClientState;
  /** start() → first part (or segment) loaded and listed, ms. */
  joinToFirstPartMs: number | null;
  parts: number;
  segments: number;
  bytes: number;
  requests: number;
  playlistReloads: number;
  stalls: number;
  stallMs: number;
  /** Each finished stall's duration (ms), in order; a stall still going at close() is included. */
  stallDurationsMs: number[];
  /** When media last arrived (performance.now()); null before the first. */
  lastMediaAt: number | null;
  /** EXT-X-DISCONTINUITY crossed while playing. */
  discontinuities: number;
  /** Media seconds loaded. */
  mediaSeconds: number;
  /** Latency to live samples (ms), one per loaded entry once playing. */
  latencyMs: number[];
  /** Part/segment arrival after its end per EXT-X-PROGRAM-DATE-TIME (ms): how fresh objects are. */
  arrivalLagMs: number[];
  errors: Record<string, number>;
}

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(`HTTP ${status}`);
  }
}

export class LlHlsClient {
  readonly #options: LlHlsClientOptions;
  readonly #abort = new AbortController();
  #startedAt = 0;
  #playlist: MediaPlaylist | undefined;
  #mediaUrl = '';
  /** The last entry handed to the buffer. */
  #cursor: { uri: string; msn: number; part: number; endProgramDateMs: number | undefined } | undefined;
  /** Parts fetched ahead of their listing (the preload hint), by URI. */
  readonly #prefetched = new Map<string, Promise<number>>();
  #playlistChanged: (() => void) | undefined;
  #loops: Promise<unknown> | undefined;
  #maps = new Set<string>();
  // Simulated playback.
  #playStartWall: number | undefined;
  #mediaAtResume = 0;
  #resumeWall = 0;
  #bufferedMedia = 0;
  #stalledSince: number | undefined;
  /** Loaded entries' media start and PDT, for the playhead's PDT. */
  #timeline: Array<{ mediaStart: number; programDateMs: number | undefined; duration: number }> = [];
  readonly #stats: LlHlsClientStats;

  constructor(options: LlHlsClientOptions) {
    this.#options = options;
    this.#stats = {
      id: options.id,
      state: 'starting',
      joinToFirstPartMs: null,
      parts: 0,
      segments: 0,
      bytes: 0,
      requests: 0,
      playlistReloads: 0,
      stalls: 0,
      stallMs: 0,
      stallDurationsMs: [],
      lastMediaAt: null,
      discontinuities: 0,
      mediaSeconds: 0,
      latencyMs: [],
      arrivalLagMs: [],
      errors: {},
    };
  }

  /** Starts loading; returns at once (progress shows in stats()). */
  start(): void {
    if (this.#loops) return;
    this.#startedAt = performance.now();
    this.#loops = this.#run().catch((error: unknown) => {
      if (!this.#abort.signal.aborted) this.#error(`fatal: ${error instanceof Error ? error.message : String(error)}`);
    });
  }

  stats(): LlHlsClientStats {
    this.#tick(performance.now());
    return { ...this.#stats, stallDurationsMs: [...this.#stats.stallDurationsMs], errors: { ...this.#stats.errors } };
  }

  /** Stops every request. Idempotent. */
  async close(): Promise<void> {
    if (this.#stats.state !== 'closed') {
      this.#tick(performance.now());
      if (this.#stalledSince !== undefined) this.#stallEnded(performance.now());
      this.#stats.state = 'closed';
      this.#abort.abort();
      this.#playlistChanged?.();
    }
    await this.#loops;
  }

  get #closed(): boolean {
    return this.#abort.signal.aborted;
  }

  #error(kind: string): void {
    this.#stats.errors[kind] = (this.#stats.errors[kind] ?? 0) + 1;
  }

  async #get(url: string): Promise<Response> {
    this.#stats.requests++;
    // One controller per request (not AbortSignal.any): its listener on the
    // client's signal is removed when the request settles.
    const request = new AbortController();
    const abort = (): void => request.abort(this.#abort.signal.reason);
    const timer = setTimeout(() => request.abort(new DOMException('request timed out', 'TimeoutError')), this.#options.requestTimeoutMs ?? 20_000);
    this.#abort.signal.addEventListener('abort', abort, { once: true });
    let response: Response;
    try {
      response = await fetch(url, { signal: request.signal, headers: { 'User-Agent': `floodlight-loadtest/${this.#options.id}` } });
    } finally {
      clearTimeout(timer);
      this.#abort.signal.removeEventListener('abort', abort);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new HttpStatusError(response.status, Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined);
    }
    return response;
  }

  /** A request error: counted by kind; returns how long to wait before retrying. */
  #failed(what: string, error: unknown): number {
    if (this.#closed) return 0;
    if (error instanceof HttpStatusError) {
      this.#error(`${what} http ${error.status}`);
      return error.retryAfterMs ?? (error.status >= 500 ? 500 : 1000);
    }
    const name = (error as { name?: string }).name;
    const cause = (error as { cause?: { name?: string } }).cause?.name;
    this.#error(`${what} ${name === 'TimeoutError' || cause === 'TimeoutError' ? 'timeout' : 'network'}`);
    return 500;
  }

  async #run(): Promise<void> {
    const master = this.#options.masterUrl;
    let variants;
    for (;;) {
      if (this.#closed) return;
      try {
        variants = parseMaster(await (await this.#get(master)).text());
        break;
      } catch (error) {
        await sleep(this.#failed('master', error), this.#abort.signal);
      }
    }
    const choice = this.#options.variant ?? 'first';
    const sorted = [...variants].sort((a, b) => a.bandwidth - b.bandwidth);
    const variant =
      typeof choice === 'number'
        ? variants[Math.min(choice, variants.length - 1)]!
        : choice === 'lowest'
          ? sorted[0]!
          : choice === 'highest'
            ? sorted.at(-1)!
            : variants[0]!;
    this.#mediaUrl = new URL(variant.uri, master).href;
    await Promise.all([this.#playlistLoop(), this.#mediaLoop()]);
  }

  /**
   * The media playlist: a plain load first, then blocking reloads for the part
   * after the last listed one. After a failed reload, a plain load: the
   * directives may name a part of another origin's numbering (an edge that
   * moved to the other recorder answers 400 or holds it until 503), so only a
   * fresh playlist tells where this origin is.
   */
  async #playlistLoop(): Promise<void> {
    let plain = true;
    while (!this.#closed) {
      const current = this.#playlist;
      let url = this.#mediaUrl;
      if (!plain && current?.canBlockReload && current.last) {
        const { msn, part } = current.last;
        url += part >= 0 && current.partTarget ? `?_HLS_msn=${msn}&_HLS_part=${part + 1}` : `?_HLS_msn=${msn + 1}`;
      }
      try {
        const text = await (await this.#get(url)).text();
        plain = false;
        if (current) this.#stats.playlistReloads++;
        const next = parseMediaPlaylist(text);
        const advanced =
          !current ||
          !next.last ||
          !current.last ||
          next.last.msn > current.last.msn ||
          (next.last.msn === current.last.msn && next.last.part > current.last.part);
        this.#playlist = next;
        this.#playlistChanged?.();
        if (next.ended) return;
        // Not blocking (or not advanced: an origin without the live stream answered
        // from disk): poll like a classic player would, at half a part/target duration.
        if (!next.canBlockReload || !advanced) await sleep(((next.partTarget ?? next.targetDuration) * 1000) / 2, this.#abort.signal);
      } catch (error) {
        plain = true;
        await sleep(this.#failed('playlist', error), this.#abort.signal);
      }
    }
  }

  #waitForPlaylist(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#playlistChanged = done;
    });
  }

  /** What to load next: the entry after the cursor, or the hinted part right after the last listed one. */
  #next(playlist: MediaPlaylist): { entry: MediaEntry | undefined; hint: string | undefined } {
    const entries = playlist.entries;
    if (this.#cursor === undefined) {
      const hold = this.#options.holdBackSeconds ?? playlist.partHoldBack ?? 3 * (playlist.partTarget ?? playlist.targetDuration);
      const start = liveStartIndex(playlist, hold);
      return { entry: entries[start], hint: undefined };
    }
    const cursor = this.#cursor;
    const at = entries.findIndex((e) => e.uri === cursor.uri);
    if (at === -1) {
      const first = entries[0];
      if (!first) return { entry: undefined, hint: undefined };
      const end = cursor.endProgramDateMs;
      if (end !== undefined && entries.every((e) => e.programDateMs !== undefined)) {
        // Another timeline (an origin took over with its own names) or the part now
        // listed as its segment: the entry that starts where the loaded media ended
        // (within half a part: PDTs of two origins differ by milliseconds).
        const slack = ((playlist.partTarget ?? playlist.targetDuration) * 1000) / 2;
        if (end < first.programDateMs! - slack) {
          this.#error('fell behind the window');
          this.#cursor = undefined;
          return this.#next(playlist);
        }
        return { entry: entries.find((e) => e.programDateMs! >= end - slack), hint: undefined };
      }
      if (cursor.msn < first.msn) {
        // Behind the window (this client fell behind): jump back to live.
        this.#error('fell behind the window');
        this.#cursor = undefined;
        return this.#next(playlist);
      }
      // The cursor's part is now listed as its whole segment (out of the part
      // window) or the playlist is an older copy: go on from the next segment
      // if there is one, else wait for a newer playlist.
      return { entry: entries.find((e) => e.msn > cursor.msn), hint: undefined };
    }
    const entry = entries[at + 1];
    if (entry) return { entry, hint: undefined };
    return { entry: undefined, hint: playlist.preloadHint };
  }

  async #mediaLoop(): Promise<void> {
    while (!this.#closed) {
      const playlist = this.#playlist;
      if (!playlist) {
        await this.#waitForPlaylist(1000);
        continue;
      }
      const { entry, hint } = this.#next(playlist);
      if (entry) {
        await this.#loadEntry(entry);
        continue;
      }
      if (playlist.ended) return;
      if (hint && !this.#prefetched.has(hint)) this.#prefetched.set(hint, this.#fetchMedia(hint, 'part'));
      await this.#waitForPlaylist(playlist.targetDuration * 1000);
    }
  }

  async #fetchMedia(uri: string, what: string): Promise<number> {
    const url = new URL(uri, this.#mediaUrl).href;
    for (let attempt = 0; attempt < 3 && !this.#closed; attempt++) {
      try {
        const body = await (await this.#get(url)).arrayBuffer();
        this.#stats.bytes += body.byteLength;
        return body.byteLength;
      } catch (error) {
        if (this.#closed) break;
        await sleep(Math.min(this.#failed(what, error), 500), this.#abort.signal);
      }
    }
    return -1;
  }

  async #loadEntry(entry: MediaEntry): Promise<void> {
    if (entry.map && !this.#maps.has(entry.map)) {
      if ((await this.#fetchMedia(entry.map, 'init')) >= 0) this.#maps.add(entry.map);
    }
    const what = entry.part >= 0 ? 'part' : 'segment';
    const bytes = await (this.#prefetched.get(entry.uri) ?? this.#fetchMedia(entry.uri, what));
    this.#prefetched.delete(entry.uri);
    if (this.#closed) return;
    const endProgramDateMs = entry.programDateMs === undefined ? undefined : entry.programDateMs + entry.duration * 1000;
    this.#cursor = { uri: entry.uri, msn: entry.msn, part: entry.part, endProgramDateMs };
    if (entry.discontinuity && this.#playStartWall !== undefined) this.#stats.discontinuities++;
    if (bytes < 0) {
      this.#error(`${what} skipped`);
      return;
    }
    if (entry.part >= 0) this.#stats.parts++;
    else this.#stats.segments++;
    this.#buffered(entry);
  }

  /** Media arrived: extend the buffer, start or resume playback, sample latency. */
  #buffered(entry: MediaEntry): void {
    const now = performance.now();
    this.#tick(now);
    this.#timeline.push({ mediaStart: this.#bufferedMedia, programDateMs: entry.programDateMs, duration: entry.duration });
    if (this.#timeline.length > 200) this.#timeline.splice(0, 100);
    this.#bufferedMedia += entry.duration;
    this.#stats.mediaSeconds = this.#bufferedMedia;
    this.#stats.lastMediaAt = now;
    if (entry.programDateMs !== undefined) this.#stats.arrivalLagMs.push(Date.now() - (entry.programDateMs + entry.duration * 1000));
    if (this.#playStartWall === undefined) {
      this.#playStartWall = now;
      this.#resumeWall = now;
      this.#stats.joinToFirstPartMs = now - this.#startedAt;
      this.#stats.state = 'playing';
    } else if (this.#stalledSince !== undefined) {
      const resumeAt = this.#mediaAtResume + (this.#playlist?.partTarget ?? entry.duration);
      if (this.#bufferedMedia >= resumeAt - 1e-6) {
        this.#stallEnded(now);
        this.#resumeWall = now;
        this.#stats.state = 'playing';
      }
    }
    const latency = this.#latencyAt(now);
    if (latency !== undefined) this.#stats.latencyMs.push(latency);
  }

  #stallEnded(now: number): void {
    if (this.#stalledSince === undefined) return;
    const duration = now - this.#stalledSince;
    this.#stats.stallMs += duration;
    this.#stats.stallDurationsMs.push(duration);
    this.#stalledSince = undefined;
  }

  /** Advances the simulated playhead to `now`, noticing a stall. */
  #tick(now: number): void {
    if (this.#playStartWall === undefined || this.#stalledSince !== undefined || this.#stats.state === 'closed') return;
    const position = this.#mediaAtResume + (now - this.#resumeWall) / 1000;
    if (position > this.#bufferedMedia) {
      this.#stalledSince = this.#resumeWall + (this.#bufferedMedia - this.#mediaAtResume) * 1000;
      this.#mediaAtResume = this.#bufferedMedia;
      this.#stats.stalls++;
      this.#stats.state = 'stalled';
    }
  }

  #playhead(now: number): number {
    if (this.#stalledSince !== undefined) return this.#mediaAtResume;
    return Math.min(this.#bufferedMedia, this.#mediaAtResume + (now - this.#resumeWall) / 1000);
  }

  #latencyAt(now: number): number | undefined {
    const position = this.#playhead(now);
    const item = this.#timeline.findLast((t) => t.mediaStart <= position + 1e-9);
    if (!item || item.programDateMs === undefined) return undefined;
    const wallNow = Date.now() - (performance.now() - now);
    return wallNow - (item.programDateMs + (position - item.mediaStart) * 1000);
  }
}
