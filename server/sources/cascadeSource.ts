/**
 * A room's program piped from its origin node: what an edge node puts in the
 * room's primary slot, so its program, viewers and recorder work as for a
 * local publisher. One cross-host PipeTransport on the room's ingest router,
 * one pipe producer per origin track (same id as at the origin; all simulcast
 * layers, key frame requests travel back to the origin).
 *
 * The source syncs with the origin every PIPE_SYNC_MS: that keeps the pipe
 * alive at the origin and brings program changes (tracks added, removed,
 * paused) here; `syncNow()` does it at once (the origin announced a change).
 * The origin starts sending at the first sync, so that every producer here
 * exists when its first key frame arrives: `open()` produces the tracks, syncs
 * at once and returns with media on its way.
 * It ends with 'media-lost' when the origin refuses (another epoch, room gone);
 * an origin that stops answering is left to the directory (CascadeEdges ends
 * the source when the origin's lease goes): while the cluster state is out of
 * reach, the pipe keeps carrying what it can. `end()` closes this side first,
 * then tells the origin (consumer side first, mediasoup#435).
 */
import { randomUUID } from 'node:crypto';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { BusRemoteError, type MessageBus } from '../cluster/messageBus.js';
import type { OriginLease } from '../cluster/roomDirectory.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import {
  PIPE_METHODS,
  PIPE_REQUEST_TIMEOUT_MS,
  PIPE_SYNC_MS,
  parsePipeMessage,
  pipeOpenAnswerSchema,
  pipeSyncAnswerSchema,
  type PipeOpenRequest,
  type PipeSyncRequest,
  type PipedTrackDescription,
} from '../contracts/pipeProtocol.js';
import { openRemotePipeTransport } from '../media/pipes/remotePipeTransport.js';
import type { MediaSource, MediaSourceEvents, SourceEndReason, SourceTrack } from './mediaSource.js';
import { SourceTrackSet } from './sourceTrackSet.js';
import { SourceHealthTracker, type SourceHealth } from './sourceHealth.js';

export interface CascadeSourceOptions {
  /** The edge room's ingest router. */
  router: ms.Router;
  listenInfo: ms.TransportListenInfo;
  bus: MessageBus;
  origin: OriginLease;
  logger: Logger;
  syncMs?: number;
}

export class CascadeSource extends SafeEmitter<MediaSourceEvents> implements MediaSource {
  readonly id = randomUUID();
  readonly protocol = 'cascade' as const;
  readonly slot = 'primary' as const;
  readonly router: ms.Router;
  readonly origin: OriginLease;
  readonly #options: CascadeSourceOptions;
  readonly #log: Logger;
  readonly #transport: ms.PipeTransport;
  readonly #pipeId: string;
  readonly #health = new SourceHealthTracker();
  readonly #tracks = new SourceTrackSet(this.#health, (track) => this.safeEmit('trackRemoved', track));
  #syncTimer: NodeJS.Timeout | undefined;
  #syncing: Promise<void> | undefined;
  #ended = false;
  /** Bytes the pipe transport received (media from the origin), read at each sync. */
  #bytesReceived = 0;

  /** Opens the pipe with the origin; nothing stays allocated on either side if it fails. */
  static async open(options: CascadeSourceOptions): Promise<CascadeSource> {
    const { router, listenInfo, bus, origin } = options;
    const { transport, endpoint } = await openRemotePipeTransport(router, listenInfo);
    let pipeId: string | undefined;
    try {
      const request: PipeOpenRequest = { room: origin.room, epoch: origin.epoch, edge: endpoint };
      const answer = parsePipeMessage(
        pipeOpenAnswerSchema,
        await bus.request(origin.node, PIPE_METHODS.open, request, PIPE_REQUEST_TIMEOUT_MS),
        'pipe.open answer',
      );
      pipeId = answer.pipeId;
      await transport.connect(answer.origin);
      const source = new CascadeSource(options, transport, answer.pipeId);
      await source.#apply(answer.tracks);
      // Tells the origin these tracks are produced here: it starts sending them.
      await source.#syncOnce();
      if (source.ended) throw new Error('the origin refused the pipe right after opening it');
      source.#scheduleSync();
      return source;
    } catch (error) {
      transport.close();
      if (pipeId)
        void bus.request(origin.node, PIPE_METHODS.close, { room: origin.room, epoch: origin.epoch, pipeId }, PIPE_REQUEST_TIMEOUT_MS).catch(() => undefined);
      throw error;
    }
  }

  private constructor(options: CascadeSourceOptions, transport: ms.PipeTransport, pipeId: string) {
    super();
    this.#options = options;
    this.router = options.router;
    this.origin = options.origin;
    this.#transport = transport;
    this.#pipeId = pipeId;
    this.#log = options.logger.child({ source: this.id, protocol: 'cascade', origin: options.origin.node, epoch: options.origin.epoch });
    // The worker holding the pipe died, or the room closed the router.
    transport.observer.once('close', () => this.end('media-lost'));
  }

  get ended(): boolean {
    return this.#ended;
  }

  get epoch(): number {
    return this.origin.epoch;
  }

  /** The pipe's id at the origin (what the origin's /api/cluster report names). */
  get pipeId(): string {
    return this.#pipeId;
  }

  /** Bytes received over the pipe so far, as of the last sync (for the pipe metrics). */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  tracks(): readonly SourceTrack[] {
    return this.#tracks.list();
  }

  health(): SourceHealth {
    return this.#health.health();
  }

  /** Follows the origin's program now (it announced a change) instead of at the next tick. */
  syncNow(): Promise<void> {
    if (this.#ended) return Promise.resolve();
    clearTimeout(this.#syncTimer);
    return this.#sync();
  }

  end(reason: SourceEndReason): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#syncTimer);
    // Our pipe producers first, then the origin's pipe consumers (mediasoup#435).
    this.#transport.close();
    this.#tracks.removeAll();
    this.#health.close();
    const { bus, origin } = this.#options;
    const request: PipeSyncRequest = { room: origin.room, epoch: origin.epoch, pipeId: this.#pipeId };
    void bus.request(origin.node, PIPE_METHODS.close, request, PIPE_REQUEST_TIMEOUT_MS).catch(() => undefined);
    this.#log.info({ reason }, 'cascade ended');
    this.safeEmit('ended', reason);
    this.removeAllListeners();
  }

  #scheduleSync(): void {
    if (this.#ended) return;
    this.#syncTimer = setTimeout(() => void this.#sync(), this.#options.syncMs ?? PIPE_SYNC_MS);
    this.#syncTimer.unref();
  }

  #sync(): Promise<void> {
    this.#syncing ??= this.#syncOnce().finally(() => {
      this.#syncing = undefined;
      this.#scheduleSync();
    });
    return this.#syncing;
  }

  async #syncOnce(): Promise<void> {
    const { bus, origin } = this.#options;
    const request: PipeSyncRequest = { room: origin.room, epoch: origin.epoch, pipeId: this.#pipeId };
    let answer;
    try {
      answer = parsePipeMessage(pipeSyncAnswerSchema, await bus.request(origin.node, PIPE_METHODS.sync, request, PIPE_REQUEST_TIMEOUT_MS), 'pipe.sync answer');
    } catch (error) {
      // A refusal (other epoch, room or pipe gone) is final; silence may be Redis, not the origin.
      if (!this.#ended && error instanceof BusRemoteError) {
        this.#log.warn({ err: error.message, code: error.code }, 'the origin no longer serves this pipe');
        this.end('media-lost');
      }
      return;
    }
    void this.#transport.getStats().then(
      ([stats]) => {
        if (stats) this.#bytesReceived = stats.bytesReceived;
      },
      () => undefined, // closed meanwhile: the last figure stays
    );
    try {
      await this.#apply(answer.tracks);
    } catch (error) {
      this.#log.error({ err: (error as Error).message }, 'could not follow the origin program');
      this.end('failed');
    }
  }

  /** Makes this side match the origin's tracks: producers created, closed, paused or resumed. */
  async #apply(tracks: PipedTrackDescription[]): Promise<void> {
    for (const { producer } of this.#tracks.list()) if (!tracks.some((t) => t.id === producer.id)) this.#tracks.remove(producer.id);
    for (const description of tracks) {
      if (this.#ended) return;
      const existing = this.#tracks.get(description.id);
      if (existing) {
        if (existing.producer.paused === description.paused) continue;
        if (description.paused) await existing.producer.pause();
        else await existing.producer.resume();
        this.safeEmit('trackPaused', existing, description.paused);
        continue;
      }
      const producer = await this.#transport.produce({
        id: description.id,
        kind: description.kind,
        rtpParameters: description.rtpParameters as unknown as ms.RtpParameters,
        paused: description.paused,
        appData: { source: this.id, label: description.label },
      });
      if (this.#ended) {
        producer.close();
        return;
      }
      const track: SourceTrack = { kind: description.kind, producer, label: description.label ?? undefined };
      this.#tracks.add(track);
      this.#log.info({ producer: producer.id, kind: description.kind }, 'piped track');
      this.safeEmit('trackAdded', track);
    }
  }
}
