/**
 * One rendition of a follower's mirror (issue 12, redundant origins): the
 * leader's media playlist pulled with blocking reloads (`_HLS_msn`/`_HLS_part`
 * of the next part), every file it names downloaded and stored under the
 * same name in the served folder (atomically), and only then the playlist
 * text published — byte for byte the leader's — and held requests woken.
 * Served by the /hls routes like a packager (ServedRendition).
 *
 * takeover(own): the leader is gone; the same served stream continues with
 * this node's own packager output (TakeoverPlaylist: mirrored window, then a
 * discontinuity and the own segments, numbered on). Own files are hard-linked
 * into the served folder under their own names.
 *
 * A pull that cannot reach the leader is retried once at once; a second
 * failure calls `onLeaderLost` (the room mirror takes over every rendition).
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import fsp from 'node:fs/promises';
import type { Logger } from '../../observability/logger.js';
import { nodeFs, PackagerFileStore, PART_FILE, PLAYLIST_FILE } from '../packagerFiles.js';
import { edgeSatisfies, PublishWaits } from '../publishWaits.js';
import type { RenditionInfo } from '../renditionPlaylist.js';
import type { RenditionReport, VariantStream } from '../llHlsPlaylist.js';
import type { ServedRendition, ServedRenditionStatus } from '../servedRendition.js';
import { filesNamed, parseMediaPlaylist, playlistEdge, type ParsedMediaPlaylist } from './playlistText.js';
import { LeaderUnreachableError, type LeaderClient } from './leaderClient.js';
import { TakeoverPlaylist } from './takeoverPlaylist.js';
import { FileWindow } from './fileWindow.js';

/** What a takeover needs of the own packager. */
export interface OwnRendition {
  readonly dir: string;
  readonly playlist: string | undefined;
  on(event: 'published', listener: () => void): unknown;
  off(event: 'published', listener: () => void): unknown;
}

export interface MirroredRenditionOptions {
  name: string;
  /** The served folder (`<root>/<room>/<name>`). */
  dir: string;
  /** The HLS root (no link between it and dir is followed). */
  root: string;
  client: LeaderClient;
  /** Two pulls in a row could not reach the leader. */
  onLeaderLost: (error: LeaderUnreachableError) => void;
  /** After a takeover: the other renditions' edges (EXT-X-RENDITION-REPORT). */
  renditionReports: () => readonly RenditionReport[];
  logger: Logger;
}

/** Longest wait for the leader's answer: it holds a blocking reload up to 3 target durations. */
const PULL_TIMEOUT_MS = 10_000;
const FILE_TIMEOUT_MS = 5_000;
/** After an answer without a playlist (starting, 503): ask again after this. */
const RETRY_DELAY_MS = 250;
/** Files kept this many segments behind the window (the packager keeps about 3 target durations). */
const RETAIN_SEGMENTS = 4;

export class MirroredRendition extends EventEmitter<{ published: [] }> implements ServedRendition {
  readonly name: string;
  readonly #options: MirroredRenditionOptions;
  readonly #log: Logger;
  readonly #files: PackagerFileStore;
  readonly #waits = new PublishWaits();
  readonly #window = new FileWindow();
  readonly #stored = new Set<string>();
  readonly #pullAbort = new AbortController();
  #pulling: Promise<void> = Promise.resolve();
  #playlist: string | undefined;
  #parsed: ParsedMediaPlaylist | undefined;
  #edge = { lastMsn: -1, lastPart: -1, lastCompleteMsn: -1 };
  #hint: { sessionId: string; nextPartNumber: number } | undefined;
  #readySince: number | undefined;
  #variant: VariantStream | undefined;
  #takeover: { model: TakeoverPlaylist; own: OwnRendition; sync: () => void } | undefined;
  #syncs: Promise<void> = Promise.resolve();
  /** The leader refused the last directive (400: its stream started over): ask without one next. */
  #plainNext = false;
  #ended = false;
  #closed = false;

  constructor(options: MirroredRenditionOptions) {
    super();
    this.name = options.name;
    this.#options = options;
    this.#log = options.logger.child({ rendition: options.name });
    this.#files = new PackagerFileStore({
      dir: path.resolve(options.dir),
      root: path.resolve(options.root),
      fs: nodeFs,
      now: Date.now,
      report: (error) => this.#log.error({ err: error.message }, 'HLS mirror disk error'),
    });
  }

  /** Prepares the served folder (files of an earlier stream go) and starts pulling. */
  start(): void {
    this.#pulling = this.#files.prepare().then(() => this.#pull());
  }

  get closed(): boolean {
    return this.#closed;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get playlist(): string | undefined {
    return this.#playlist;
  }

  get readySince(): number | undefined {
    return this.#readySince;
  }

  get takenOver(): boolean {
    return this.#takeover !== undefined;
  }

  /** The leader's master lists this for the rendition. */
  setVariant(variant: VariantStream | undefined): void {
    this.#variant = variant;
  }

  info(): RenditionInfo | undefined {
    const variant = this.#variant;
    if (!variant || this.#playlist === undefined) return undefined;
    const info: RenditionInfo = { codecs: [...variant.codecs], bandwidth: variant.bandwidth };
    if (variant.averageBandwidth !== undefined) info.averageBandwidth = variant.averageBandwidth;
    if (variant.width !== undefined) info.width = variant.width;
    if (variant.height !== undefined) info.height = variant.height;
    if (variant.frameRate !== undefined) info.frameRate = variant.frameRate;
    return info;
  }

  status(): ServedRenditionStatus {
    return {
      ...this.#edge,
      targetDuration: this.#parsed?.targetDuration ?? 1,
      partTarget: this.#parsed?.partTarget,
      mediaSequence: this.#parsed?.mediaSequence ?? 0,
    };
  }

  /** As RenditionPackager.waitFor. */
  waitFor(msn: number, part: number | undefined, timeoutMs: number): Promise<boolean> {
    return this.#waits.waitForEdge(this.#edge, { ended: this.#ended, closed: this.#closed }, msn, part, timeoutMs);
  }

  /** As RenditionPackager.waitForFile: the hinted part (or the one after) is held until published. */
  waitForFile(fileName: string, timeoutMs: number): Promise<boolean> {
    return this.#waits.waitForHintedPart(fileName, this.#closed || this.#ended ? undefined : this.#hint, timeoutMs);
  }

  /**
   * The leader is gone: the served stream continues with `own` (idempotent).
   * Resolves once the takeover playlist is published (or there is nothing to publish yet).
   */
  async takeover(own: OwnRendition): Promise<void> {
    if (this.#takeover || this.#closed) return;
    this.#pullAbort.abort();
    await this.#pulling;
    const model = new TakeoverPlaylist(this.#parsed);
    const sync = (): void => {
      this.#syncs = this.#syncs
        .then(() => this.#sync())
        .catch((error: unknown) => this.#log.error({ err: (error as Error).message }, 'HLS takeover sync failed'));
    };
    this.#takeover = { model, own, sync };
    // The hinted part of the leader will never come: a player asking for it reloads the playlist instead.
    this.#waits.dropParts();
    if (model.closedSegment) await this.#writeClosedSegment(model.closedSegment.uri, model.closedSegment.parts);
    own.on('published', sync);
    sync();
    await this.#syncs;
  }

  /** The room closed here: no more pulling; the served playlist ends (the own packager's end ends it after a takeover). */
  async end(): Promise<void> {
    if (this.#closed || this.#ended || this.#takeover) return;
    this.#pullAbort.abort();
    await this.#pulling;
    if (this.#ended || this.#playlist === undefined || !this.#parsed) return;
    const text = `${this.#playlist
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#EXT-X-PRELOAD-HINT') && !line.startsWith('#EXT-X-RENDITION-REPORT'))
      .join('\n')}\n#EXT-X-ENDLIST\n`;
    await this.#publish(text, parseMediaPlaylist(text));
  }

  /** Idempotent. `removeFiles` deletes everything served from the folder. */
  async close(options: { removeFiles?: boolean } = {}): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#pullAbort.abort();
      if (this.#takeover) this.#takeover.own.off('published', this.#takeover.sync);
      this.#waits.wakeAll(false);
    }
    await this.#pulling;
    await this.#syncs;
    if (options.removeFiles && (await this.#files.checkDir())) {
      await Promise.all([PLAYLIST_FILE, ...this.#window.takeAll(), ...this.#stored].map((file) => this.#files.unlink(file)));
      this.#stored.clear();
      await this.#files.removeDir();
    }
  }

  // ----- mirroring ----------------------------------------------------------

  async #pull(): Promise<void> {
    const signal = this.#pullAbort.signal;
    let failedOnce = false;
    while (!signal.aborted && !this.#ended) {
      try {
        const answer = await this.#options.client.text(`${this.name}/${PLAYLIST_FILE}${this.#nextDirective()}`, signal, PULL_TIMEOUT_MS);
        failedOnce = false;
        this.#plainNext = answer.status === 400;
        const parsed = answer.body === undefined ? undefined : this.#parse(answer.body);
        if (answer.body === undefined || !parsed) {
          await delay(RETRY_DELAY_MS, signal);
          continue;
        }
        await this.#storeNamed(parsed, signal);
        if (signal.aborted) break;
        await this.#publish(answer.body, parsed);
      } catch (error) {
        if (signal.aborted) break;
        if (!(error instanceof LeaderUnreachableError)) {
          this.#log.error({ err: (error as Error).message }, 'HLS mirror pull failed');
          await delay(RETRY_DELAY_MS, signal).catch(() => undefined);
          continue;
        }
        if (!failedOnce) {
          // One quick retry: a keep-alive connection the leader had just closed fails once.
          failedOnce = true;
          continue;
        }
        this.#log.warn({ err: error.message }, 'the leading origin is unreachable');
        this.#options.onLeaderLost(error);
        return;
      }
    }
  }

  #parse(text: string): ParsedMediaPlaylist | undefined {
    try {
      return parseMediaPlaylist(text);
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'the leader sent a playlist the mirror cannot read');
      return undefined;
    }
  }

  /** Blocking reload of the next part after what was published; none for the first request. */
  #nextDirective(): string {
    if (!this.#parsed || this.#plainNext) return '';
    const { lastMsn, lastPart } = this.#edge;
    if (lastMsn < 0) return '';
    return `?_HLS_msn=${lastMsn}&_HLS_part=${lastPart + 1}`;
  }

  /** Downloads every file the playlist names that is not stored yet, in parallel. */
  async #storeNamed(parsed: ParsedMediaPlaylist, signal: AbortSignal): Promise<void> {
    this.#window.note(parsed);
    const missing = filesNamed(parsed).filter((file) => !this.#stored.has(file));
    if (missing.length === 0) return;
    await this.#files.checkDir();
    await Promise.all(
      missing.map(async (file) => {
        const answer = await this.#options.client.bytes(`${this.name}/${file}`, signal, FILE_TIMEOUT_MS);
        if (answer.body === undefined) {
          this.#log.warn({ file, status: answer.status }, 'the leader did not serve a file its playlist names');
          return;
        }
        if (await this.#files.writeAtomic(file, answer.body)) this.#stored.add(file);
      }),
    );
  }

  // ----- takeover -------------------------------------------------------------

  /** A segment the leader left unfinished: its parts, concatenated. */
  async #writeClosedSegment(uri: string, parts: readonly string[]): Promise<void> {
    try {
      const data = await Promise.all(parts.map((part) => fsp.readFile(path.join(this.#files.dir, part))));
      if (await this.#files.writeAtomic(uri, Buffer.concat(data))) this.#stored.add(uri);
    } catch (error) {
      this.#log.warn({ uri, err: (error as Error).message }, 'could not close the unfinished mirrored segment');
    }
  }

  async #sync(): Promise<void> {
    const takeover = this.#takeover;
    const text = takeover?.own.playlist;
    if (!takeover || text === undefined || this.#closed) return;
    const files = takeover.model.absorb(parseMediaPlaylist(text));
    await this.#files.checkDir();
    await Promise.all(
      files.map(async (file) => {
        if (await this.#files.link(path.join(takeover.own.dir, file), file)) this.#stored.add(file);
      }),
    );
    const rendered = takeover.model.render(this.#options.renditionReports());
    await this.#publish(rendered, parseMediaPlaylist(rendered));
  }

  // ----- publishing -----------------------------------------------------------

  async #publish(text: string, parsed: ParsedMediaPlaylist): Promise<void> {
    if (this.#closed) return;
    // The disk copy serves the stream once nothing runs it any more (as the packager's).
    await this.#files.writeAtomic(PLAYLIST_FILE, text);
    this.#playlist = text;
    this.#parsed = parsed;
    this.#edge = playlistEdge(parsed);
    const hint = parsed.preloadHint === undefined ? undefined : PART_FILE.exec(parsed.preloadHint);
    this.#hint = hint ? { sessionId: hint[1]!, nextPartNumber: Number(hint[2]) } : undefined;
    this.#readySince ??= Date.now();
    this.#window.note(parsed);
    this.#waits.wake((msn, part) => this.#satisfies(msn, part), this.#hint?.nextPartNumber ?? Number.MAX_SAFE_INTEGER);
    this.emit('published');
    if (parsed.ended) {
      this.#ended = true;
      this.#waits.wakeAll(true);
    }
    const expired = this.#window.takeExpired(parsed.mediaSequence, RETAIN_SEGMENTS);
    for (const file of expired) this.#stored.delete(file);
    await Promise.all(expired.map((file) => this.#files.unlink(file)));
  }

  #satisfies(msn: number, part: number | undefined): boolean {
    return edgeSatisfies(this.#edge, msn, part);
  }
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
