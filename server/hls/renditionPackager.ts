/**
 * One rendition's LL-HLS output: fMP4 bytes in, files on disk out.
 *
 *   packager.write(chunk)      bytes of the rendition's fMP4 stream (any chunking)
 *   packager.restart()         the producer restarted: next init = discontinuity
 *   await packager.end()       final segment + EXT-X-ENDLIST
 *   await packager.waitFor(msn, part, timeoutMs)   blocking playlist reload
 *   await packager.close()     idempotent
 *
 * Files in `dir` (every write is atomic: temp file in the same directory, then
 * rename, so nobody ever reads half a file; files are on disk before any
 * playlist names them):
 *   index.m3u8                     media playlist
 *   init-<sid>-<d>.mp4             init section of discontinuity d
 *   part-<sid>-<n>.m4s             part n (stream-wide counter; see below)
 *   seg-<sid>-<msn>.m4s            whole segment (its parts concatenated)
 * `<sid>` is a random id per packager instance: URLs of a new stream in the
 * same room never collide with files a CDN cached as immutable from an earlier
 * one. Parts are numbered stream-wide, not per segment, because when the
 * preload hint is written nobody knows whether the next fragment will start a
 * new segment (that depends on whether it starts with a keyframe); a global
 * number makes the hinted URI always the one that is published next.
 *
 * Old files are deleted behind the playlist window, after a grace period
 * (clients holding an older playlist may still fetch them): segments
 * `retainSegments` after they left the playlist, part files once their segment
 * is well outside the part window.
 *
 * Disk errors never throw into `write()`: they are emitted as `'error'` events
 * (`HlsDiskError`, throttled per operation and code); a part or segment that
 * could not be stored is published with GAP=YES / EXT-X-GAP so the numbering
 * stays intact. A malformed byte stream is reported as an `'error'`
 * (`Mp4ParseError`) and the rest of it ignored until `restart()`.
 *
 * Parts of the job live next door: the segment/part model and playlist text
 * (renditionPlaylist.ts), the file store (packagerFiles.ts) and the held
 * requests (publishWaits.ts). What stays here is the input → store → publish
 * → wake cycle, plus the documented options and status types of its API.
 */
import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { BoxReader, Mp4ParseError } from './mp4Boxes.js';
import { CmafSegmenter, type MsnAligner, type SegmenterEvent } from './cmafSegmenter.js';
import type { RenditionReport } from './llHlsPlaylist.js';
import { nodeFs, PackagerFileStore, PLAYLIST_FILE, type PackagerFs } from './packagerFiles.js';
import { edgeSatisfies, PublishWaits } from './publishWaits.js';
import { RenditionPlaylist, type RenditionInfo } from './renditionPlaylist.js';
import type { ServedRenditionStatus } from './servedRendition.js';

export type { RenditionInfo } from './renditionPlaylist.js';

export interface RenditionPackagerOptions {
  /** Output directory (created). Files of an earlier packager in it are removed. */
  dir: string;
  /** Rendition name, for logs and rendition reports. Default: basename of dir. */
  name?: string;
  /** Segment target duration, seconds. Default 1. */
  segmentTargetSec?: number;
  /** Shared with the other renditions of the stream: same start time, same media sequence number. */
  msnAligner?: MsnAligner;
  /** EXT-X-TARGETDURATION. Default max(1, round(segmentTargetSec)); raised (never lowered) if a segment needs more. */
  targetDuration?: number;
  /**
   * PART-TARGET, seconds. Default: measured — the longest part of the first
   * segment rounded up to the millisecond (the first playlist is then written
   * when the first segment is complete). Raised if a later part is longer.
   */
  partTargetSec?: number;
  /**
   * PART-HOLD-BACK, seconds: how far behind the live edge LL clients play.
   * Default (and minimum) 3 × PART-TARGET, as Apple requires.
   */
  partHoldBackSec?: number;
  /** Segments listed in a live playlist. Default 6. */
  liveWindowSegments?: number;
  /**
   * DVR: list this many seconds of segments (at least liveWindowSegments).
   * Infinity keeps everything (EXT-X-PLAYLIST-TYPE:EVENT). Default 0 (off).
   */
  dvrWindowSec?: number;
  /** Segment files kept after leaving the playlist. Default: 3 target durations' worth, at least 2. */
  retainSegments?: number;
  /** Write EXT-X-PROGRAM-DATE-TIME. Default true. */
  programDateTime?: boolean;
  /** Declared peak bits/s for the master playlist (measured value used if higher). */
  bandwidth?: number;
  /** Clock (ms since epoch). Default Date.now. */
  now?: () => number;
  logger?: Logger;
  /** For tests: the file operations. */
  fs?: Partial<PackagerFs>;
  /** The trusted folder above `dir` (the HLS root): no symbolic link between the two is followed. Default: dir's parent. */
  root?: string;
  /** Random per instance by default; [a-z0-9]{1,16}. */
  sessionId?: string;
}

export interface PublishInfo {
  lastMsn: number;
  lastPart: number;
  /** ms from the arrival of the oldest fragment in the batch to the playlist rename. */
  latencyMs: number;
  parts: number;
}

export interface RenditionStatus extends ServedRenditionStatus {
  name: string;
  sessionId: string;
  /** A playlist has been written. */
  ready: boolean;
  ended: boolean;
  closed: boolean;
  /** Number of the part the preload hint points to. */
  nextPartNumber: number;
}

export interface PackagerStats {
  parts: number;
  segments: number;
  publishes: number;
  lastLatencyMs: number;
  maxLatencyMs: number;
  meanLatencyMs: number;
  diskErrors: number;
}

export interface RenditionPackagerEvents {
  error: [Error];
  warning: [string];
  published: [PublishInfo];
  ended: [];
}

type QueuedEvent = SegmenterEvent | { type: 'end' };

export class RenditionPackager extends EventEmitter<RenditionPackagerEvents> {
  readonly dir: string;
  readonly name: string;
  readonly sessionId: string;
  readonly segmentTargetSec: number;
  readonly liveWindowSegments: number;
  readonly dvrWindowSec: number;

  readonly #files: PackagerFileStore;
  readonly #waits = new PublishWaits();
  readonly #now: () => number;
  readonly #log: Logger | undefined;
  readonly #reader = new BoxReader();
  readonly #segmenter: CmafSegmenter;

  readonly #model: RenditionPlaylist;
  #published = { lastMsn: -1, lastPart: -1, lastCompleteMsn: -1, nextPartNumber: 0 };
  #playlist: string | undefined;
  #readySince: number | undefined;
  #ended = false;
  #endRequested = false;
  #closed = false;
  #parseFailed = false;
  #renditionReports: (() => readonly RenditionReport[]) | undefined;

  #queue: { events: QueuedEvent[]; arrivalMs: number }[] = [];
  #running = false;
  #idle: Promise<void> = Promise.resolve();
  #prepared = false;

  #stats = { parts: 0, segments: 0, publishes: 0, lastLatencyMs: 0, maxLatencyMs: 0, totalLatencyMs: 0 };

  constructor(options: RenditionPackagerOptions) {
    super();
    this.dir = path.resolve(options.dir);
    this.name = options.name ?? path.basename(this.dir);
    this.sessionId = options.sessionId ?? randomBytes(6).readUIntBE(0, 6).toString(36).padStart(10, '0');
    if (!/^[a-z0-9]{1,16}$/.test(this.sessionId)) throw new RangeError('sessionId must match [a-z0-9]{1,16}');
    this.segmentTargetSec = options.segmentTargetSec ?? 1;
    this.liveWindowSegments = Math.max(1, Math.floor(options.liveWindowSegments ?? 6));
    this.dvrWindowSec = options.dvrWindowSec ?? 0;
    this.#now = options.now ?? Date.now;
    this.#log = options.logger?.child({ component: 'hls', rendition: this.name });
    this.#model = new RenditionPlaylist({
      sessionId: this.sessionId,
      segmentTargetSec: this.segmentTargetSec,
      liveWindowSegments: this.liveWindowSegments,
      dvrWindowSec: this.dvrWindowSec,
      targetDuration: Math.max(1, Math.round(options.targetDuration ?? this.segmentTargetSec)),
      partTargetSec: options.partTargetSec,
      partHoldBackSec: options.partHoldBackSec,
      retainSegments: options.retainSegments,
      programDateTime: options.programDateTime ?? true,
      declaredBandwidth: options.bandwidth ?? 0,
      warn: (message) => this.#warn(message),
    });
    this.#files = new PackagerFileStore({
      dir: this.dir,
      root: path.resolve(options.root ?? path.dirname(this.dir)),
      fs: { ...nodeFs, ...options.fs },
      now: this.#now,
      report: (error) => this.#report(error),
    });
    this.#segmenter = new CmafSegmenter({ segmentTargetSec: this.segmentTargetSec, ...(options.msnAligner ? { msnAligner: options.msnAligner } : {}) });
    this.#schedule();
  }

  // ----- input ------------------------------------------------------------

  /** Feeds bytes of the fMP4 stream. Never throws; problems become 'error' events. */
  write(chunk: Uint8Array): void {
    if (this.#closed || this.#endRequested || this.#parseFailed) return;
    const arrivalMs = this.#now();
    const events: QueuedEvent[] = [];
    try {
      for (const box of this.#reader.push(chunk)) events.push(...this.#segmenter.push(box));
    } catch (error) {
      // Mp4ParseError for a malformed stream; anything else would be a bug. Either
      // way the rest of this stream cannot be trusted: ignored until restart().
      this.#parseFailed = true;
      this.#report(error instanceof Error ? error : new Mp4ParseError(String(error)));
    }
    if (events.length > 0) this.#enqueue(events, arrivalMs);
  }

  /**
   * The producer restarted (ffmpeg died, publisher reconnected): the open
   * segment is closed, a half-received box dropped, and the next init section
   * starts a discontinuity. The playlist URL stays the same.
   */
  restart(): void {
    if (this.#closed || this.#endRequested) return;
    this.#reader.reset();
    this.#parseFailed = false;
    const events = this.#segmenter.restart();
    if (events.length > 0) this.#enqueue(events, this.#now());
  }

  /** End of stream: the open segment is completed and EXT-X-ENDLIST written. */
  async end(): Promise<void> {
    if (this.#closed) return;
    if (!this.#endRequested) {
      this.#endRequested = true;
      this.#enqueue([...this.#segmenter.flush(), { type: 'end' }], this.#now());
    }
    await this.idle();
  }

  /** A Writable to pipe the byte stream into; applies back-pressure while the disk lags. */
  createWritable(): Writable {
    return new Writable({
      write: (chunk: Buffer, _encoding, callback) => {
        this.write(chunk);
        if (this.#queue.length > 8) this.idle().then(() => callback(), callback);
        else callback();
      },
    });
  }

  /** Links EXT-X-RENDITION-REPORT tags (the other renditions of the room). */
  setRenditionReportSource(source: (() => readonly RenditionReport[]) | undefined): void {
    this.#renditionReports = source;
  }

  // ----- state ------------------------------------------------------------

  get playlist(): string | undefined {
    return this.#playlist;
  }

  /** When the first playlist was written (ms since epoch), if it was. */
  get readySince(): number | undefined {
    return this.#readySince;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get closed(): boolean {
    return this.#closed;
  }

  status(): RenditionStatus {
    return {
      name: this.name,
      sessionId: this.sessionId,
      ready: this.#playlist !== undefined,
      ended: this.#ended,
      closed: this.#closed,
      lastMsn: this.#published.lastMsn,
      lastPart: this.#published.lastPart,
      lastCompleteMsn: this.#published.lastCompleteMsn,
      targetDuration: this.#model.targetDuration,
      partTarget: this.#model.partTarget,
      mediaSequence: this.#model.mediaSequence,
      nextPartNumber: this.#published.nextPartNumber,
    };
  }

  /**
   * What the master playlist needs; undefined until the playlist is published
   * and either one segment is complete or a declared bandwidth stands in for
   * the measured one. (Waiting for a whole segment would hold the master —
   * and so every player's start — back by up to a segment after the first
   * parts are playable.)
   */
  info(): RenditionInfo | undefined {
    return this.#model.info(this.#playlist !== undefined);
  }

  /** Where this rendition is, for other renditions' EXT-X-RENDITION-REPORT. */
  renditionReport(relativeUri: string): RenditionReport | undefined {
    if (this.#published.lastMsn < 0) return undefined;
    return { uri: relativeUri, lastMsn: this.#published.lastMsn, lastPart: this.#published.lastPart };
  }

  stats(): PackagerStats {
    const s = this.#stats;
    return {
      parts: s.parts,
      segments: s.segments,
      publishes: s.publishes,
      lastLatencyMs: s.lastLatencyMs,
      maxLatencyMs: s.maxLatencyMs,
      meanLatencyMs: s.publishes > 0 ? s.totalLatencyMs / s.publishes : 0,
      diskErrors: this.#files.diskErrors,
    };
  }

  /** Resolves when everything received so far is on disk (or failed). */
  async idle(): Promise<void> {
    while (this.#running) await this.#idle;
  }

  /**
   * Blocking playlist reload: resolves true once the playlist contains part
   * `part` of segment `msn` — or a later one; a part index past the end of
   * that segment means part 0 of the next segment (RFC 8216bis §6.2.5.2) —
   * or, without `part`, the complete segment `msn` or later. Also true once
   * the playlist has ended. False on timeout or close.
   */
  waitFor(msn: number, part: number | undefined, timeoutMs: number): Promise<boolean> {
    return this.#waits.waitForEdge(this.#published, { ended: this.#ended, closed: this.#closed }, msn, part, timeoutMs);
  }

  /**
   * For a request of a part file that does not exist yet: if it is the hinted
   * next part (or the one after), waits until it is published. Resolves true
   * when the file should now exist, false if it is not an upcoming part of
   * this stream, on timeout or on close.
   */
  waitForFile(fileName: string, timeoutMs: number): Promise<boolean> {
    return this.#waits.waitForHintedPart(
      fileName,
      this.#closed || this.#ended ? undefined : { sessionId: this.sessionId, nextPartNumber: this.#published.nextPartNumber },
      timeoutMs,
    );
  }

  /** Stops; pending waits resolve false. `removeFiles` deletes everything this packager wrote. */
  async close(options: { removeFiles?: boolean } = {}): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#wakeAll(false);
    }
    await this.idle();
    if (options.removeFiles && (await this.#files.checkDir())) {
      const files = [PLAYLIST_FILE, ...this.#model.takeAllFiles()];
      await Promise.all(files.map((f) => this.#files.unlink(f)));
      await this.#files.removeDir();
    }
  }

  // ----- processing -------------------------------------------------------

  #enqueue(events: QueuedEvent[], arrivalMs: number): void {
    this.#queue.push({ events, arrivalMs });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#running) return;
    this.#running = true;
    this.#idle = (async () => {
      try {
        if (!this.#prepared) {
          this.#prepared = true;
          await this.#files.prepare();
        }
        while (this.#queue.length > 0 && !this.#closed) {
          const batch = this.#queue.splice(0);
          const events = batch.flatMap((b) => b.events);
          await this.#process(events, batch[0]!.arrivalMs);
        }
      } catch (error) {
        // Bugs only: disk errors are handled where they happen.
        this.#report(error instanceof Error ? error : new Error(String(error)));
      } finally {
        this.#running = false;
      }
    })();
  }

  async #process(events: QueuedEvent[], arrivalMs: number): Promise<void> {
    // 1. Store every file the batch produced (in parallel), remembering failures
    //    (all of them, if a link has appeared on the way to the folder).
    await this.#files.checkDir();
    const failed = new Set<object>();
    const writes: Promise<void>[] = [];
    for (const event of events) {
      if (event.type === 'init') {
        const file = this.#model.initFile(event.init.discontinuity);
        writes.push(
          this.#files.writeAtomic(file, event.init.data).then((ok) => {
            if (ok) this.#model.initWritten(file);
            else failed.add(event);
          }),
        );
      } else if (event.type === 'part') {
        writes.push(
          this.#files.writeAtomic(this.#model.partFile(event.part), event.part.data).then((ok) => {
            if (!ok) failed.add(event);
          }),
        );
      } else if (event.type === 'segment') {
        const data = Buffer.concat(event.segment.parts.map((p) => p.data));
        writes.push(
          this.#files.writeAtomic(this.#model.segmentFile(event.segment.msn), data).then((ok) => {
            if (!ok) failed.add(event);
          }),
        );
      }
    }
    await Promise.all(writes);

    // 2. Update the model in stream order.
    let newParts = 0;
    let ending = false;
    for (const event of events) {
      switch (event.type) {
        case 'init':
          this.#model.onInit(event.init);
          break;
        case 'part':
          this.#model.onPart(event.part, event.segmentStart, event.startsDiscontinuity, failed.has(event), arrivalMs);
          this.#stats.parts += 1;
          newParts += 1;
          break;
        case 'segment':
          if (this.#model.onSegment(event.segment, failed.has(event))) this.#stats.segments += 1;
          break;
        case 'warning':
          this.#warn(event.message);
          break;
        case 'end':
          ending = true;
          break;
      }
    }
    if (ending) this.#ended = true;
    this.#model.trimWindow();

    // 3. Publish the playlist, then wake blocked requests.
    const published = await this.#publish();
    if (published) {
      const latencyMs = this.#now() - arrivalMs;
      if (newParts > 0) {
        const s = this.#stats;
        s.publishes += 1;
        s.lastLatencyMs = latencyMs;
        s.maxLatencyMs = Math.max(s.maxLatencyMs, latencyMs);
        s.totalLatencyMs += latencyMs;
      }
      this.#wake();
      this.emit('published', {
        lastMsn: this.#published.lastMsn,
        lastPart: this.#published.lastPart,
        latencyMs,
        parts: newParts,
      });
    }
    if (ending) {
      this.#wakeAll(true);
      this.emit('ended');
    }

    // 4. Delete what no playlist names any more (after the grace period).
    await Promise.all(this.#model.takeExpired().map((f) => this.#files.unlink(f)));
  }

  #safeReports(): readonly RenditionReport[] | undefined {
    try {
      return this.#renditionReports?.();
    } catch (error) {
      this.#warn(`rendition report source failed: ${String(error)}`);
      return undefined;
    }
  }

  /** Writes the playlist if there is something to publish. */
  async #publish(): Promise<boolean> {
    if (!this.#model.renderable(this.#ended, this.#playlist !== undefined)) return false;
    const text = this.#model.render(this.#ended, this.#ended ? undefined : this.#safeReports());
    const ok = await this.#files.writeAtomic(PLAYLIST_FILE, text);
    if (!ok) return false;
    this.#playlist = text;
    this.#readySince ??= this.#now();
    this.#model.publishedOnce = true;
    this.#published = { ...this.#model.edge(this.#published), nextPartNumber: this.#model.nextPartNumber };
    return true;
  }

  #satisfies(msn: number, part: number | undefined): boolean {
    return edgeSatisfies(this.#published, msn, part);
  }

  #wake(): void {
    this.#waits.wake((msn, part) => this.#satisfies(msn, part), this.#published.nextPartNumber);
  }

  #wakeAll(result: boolean): void {
    this.#waits.wakeAll(result);
  }

  // ----- reporting ----------------------------------------------------------

  #report(error: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
    else if (this.#log) this.#log.error({ err: error }, error.message);
    else console.error(`[hls ${this.name}] ${error.message}`);
  }

  #warn(message: string): void {
    this.#log?.warn(message);
    this.emit('warning', message);
  }
}
