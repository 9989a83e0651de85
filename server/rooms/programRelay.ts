/**
 * The program relay: a room's program tracks as producers of their own, on a
 * DirectTransport of the origin router, so that they outlive a change of
 * source (backup ingest). Viewers, the recorder, pipes to other routers and
 * cascades consume the relay's producers and never learn that the encoder
 * behind them changed: no renegotiation, no new consumer, one continuous RTP
 * sequence and timeline per track (programRelayTrack.ts, programRelayRtp.ts).
 *
 * `follow(source)` puts a source on air: a track of each kind (the first one:
 * camera before screen) feeds the relay track of that kind. Video cuts at the
 * new source's key frame, audio cuts with it (or after AUDIO_CUT_WAIT_MS if
 * no key frame comes), so both change encoder together.
 *
 * Cost: every packet of the active source crosses into Node and back (see
 * docs/performance.md); a relay track is single-encoding, so the room decides
 * when a relay is worth it (room.ts, `relayWanted`).
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import type { MediaSource, SourceTrack } from '../sources/mediaSource.js';
import { ProgramRelayTrack } from './programRelayTrack.js';
import { asksForKeyFrame } from './programRelayRtp.js';

/** Audio waits this long for the video's cut, then changes source alone. */
export const AUDIO_CUT_WAIT_MS = 3_000;

export interface RelayedTrack {
  readonly kind: ms.MediaKind;
  readonly label: string | undefined;
  readonly producer: ms.Producer;
}

type ProgramRelayEvents = {
  trackAdded: [track: RelayedTrack];
  trackRemoved: [track: RelayedTrack];
  /** The video (or, without video, the audio) of `sourceId` is now on air. */
  cut: [sourceId: string];
};

export interface ProgramRelayOptions {
  router: ms.Router;
  logger: Logger;
  now?: () => number;
}

interface Entry {
  track: ProgramRelayTrack;
  relayed: RelayedTrack;
}

export class ProgramRelay extends SafeEmitter<ProgramRelayEvents> {
  readonly router: ms.Router;
  readonly #options: ProgramRelayOptions;
  readonly #log: Logger;
  readonly #entries = new Map<ms.MediaKind, Entry>();
  readonly #transport: Promise<ms.DirectTransport>;
  #source: MediaSource | undefined;
  #detach: (() => void) | undefined;
  #audioTimer: NodeJS.Timeout | undefined;
  /** Serializes follow/track work: a switch never interleaves with the one before. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(options: ProgramRelayOptions) {
    super();
    this.router = options.router;
    this.#options = options;
    this.#log = options.logger.child({ component: 'program-relay' });
    this.#transport = options.router.createDirectTransport({ maxMessageSize: 262_144 }).then((transport) => {
      if (this.#closed) transport.close();
      // Viewers and the recorder ask the relay for key frames: pass them on to the encoder.
      transport.on('rtcp', (packet) => {
        if (asksForKeyFrame(packet)) this.#entries.get('video')?.track.requestKeyFrame();
      });
      transport.observer.once('close', () => this.close());
      return transport;
    });
    this.#transport.catch(() => undefined);
    options.router.observer.once('close', () => this.close());
  }

  tracks(): RelayedTrack[] {
    return [...this.#entries.values()].map((e) => e.relayed);
  }

  /** The source whose video (or audio) is forwarded now. */
  get activeSourceId(): string | undefined {
    return (this.#entries.get('video') ?? this.#entries.get('audio'))?.track.activeSourceId;
  }

  /** When `sourceId`'s last video packet passed through the relay (ms), if it is the one on air. */
  lastVideoInputAt(sourceId: string): number | undefined {
    const video = this.#entries.get('video')?.track;
    return video?.activeSourceId === sourceId ? video.lastInputAt : undefined;
  }

  /** Packets forwarded so far, all tracks. */
  get forwarded(): number {
    let n = 0;
    for (const { track } of this.#entries.values()) n += track.forwarded;
    return n;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Puts `source` on air (its tracks feed the relay tracks from their next cut). */
  follow(source: MediaSource): void {
    if (this.#closed || source === this.#source) return;
    if (source.router !== this.router) throw new Error('a relay only takes sources on its own router');
    this.#detach?.();
    this.#source = source;
    const refollow = (): void => this.#enqueue(() => this.#followTracks(source));
    source.on('trackAdded', refollow);
    source.on('trackRemoved', refollow);
    this.#detach = () => {
      source.off('trackAdded', refollow);
      source.off('trackRemoved', refollow);
    };
    refollow();
  }

  /**
   * The source on air went quiet: start consuming `source`'s video now, so
   * that a switch to it can cut at once (ProgramRelayTrack.prearm).
   */
  prearm(source: MediaSource): void {
    if (this.#closed || source === this.#source || source.router !== this.router) return;
    const video = source.tracks().find((t) => t.kind === 'video' && !t.producer.closed);
    const track = this.#entries.get('video')?.track;
    if (!video || !track?.accepts(video.producer)) return;
    this.#enqueue(() => track.prearm(source.id, video.producer));
  }

  /** Closes the relay tracks and the transport. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#detach?.();
    clearTimeout(this.#audioTimer);
    for (const kind of [...this.#entries.keys()]) this.#removeTrack(kind);
    void this.#transport.then((t) => t.close()).catch(() => undefined);
    this.removeAllListeners();
  }

  #enqueue(work: () => Promise<void>): void {
    this.#queue = this.#queue.then(work).catch((error: unknown) => {
      if (!this.#closed) this.#log.error({ err: (error as Error).message }, 'relay switch failed');
    });
  }

  async #followTracks(source: MediaSource): Promise<void> {
    if (this.#closed || this.#source !== source || source.ended) return;
    const firstOf = (kind: ms.MediaKind): SourceTrack | undefined => source.tracks().find((t) => t.kind === kind && !t.producer.closed);
    const video = firstOf('video');
    const audio = firstOf('audio');
    const videoPending = video ? await this.#feed(source, video, true) : false;
    if (this.#source !== source) return;
    if (audio) await this.#feed(source, audio, !videoPending);
    clearTimeout(this.#audioTimer);
    if (videoPending) {
      // The audio cut follows the video's; a source whose key frame never comes still gets heard.
      this.#audioTimer = setTimeout(() => this.#entries.get('audio')?.track.cutPending(), AUDIO_CUT_WAIT_MS);
      this.#audioTimer.unref();
    }
  }

  /** Feeds the relay track of `track.kind` from `track`; true when a cut is now pending. */
  async #feed(source: MediaSource, track: SourceTrack, autoCut: boolean): Promise<boolean> {
    const existing = this.#entries.get(track.kind);
    if (existing && !existing.track.accepts(track.producer)) {
      // Another codec: viewers must negotiate it, so this track ends and a new one starts.
      this.#log.warn(
        { kind: track.kind, from: existing.track.mimeType, to: track.producer.rtpParameters.codecs[0]?.mimeType },
        'codec changed; replacing the program track',
      );
      this.#removeTrack(track.kind);
    }
    const current = this.#entries.get(track.kind);
    if (current) {
      if (current.track.activeSourceId === source.id && current.track.pendingSourceId === undefined) return false;
      await current.track.switchTo(source.id, track.producer, { autoCut });
      return current.track.pendingSourceId === source.id;
    }
    const transport = await this.#transport;
    if (this.#closed) return false;
    const relayTrack = await ProgramRelayTrack.create(
      { transport, rtpCapabilities: this.router.rtpCapabilities, logger: this.#log, ...(this.#options.now ? { now: this.#options.now } : {}) },
      { sourceId: source.id, producer: track.producer },
    );
    if (this.#closed) {
      relayTrack.close();
      return false;
    }
    const relayed: RelayedTrack = { kind: track.kind, label: track.label, producer: relayTrack.producer };
    relayTrack.on('cut', (sourceId) => this.#onCut(track.kind, sourceId));
    relayTrack.producer.observer.once('close', () => {
      if (this.#entries.get(track.kind)?.track === relayTrack) this.#removeTrack(track.kind);
    });
    this.#entries.set(track.kind, { track: relayTrack, relayed });
    this.safeEmit('trackAdded', relayed);
    return relayTrack.pendingSourceId === source.id;
  }

  #onCut(kind: ms.MediaKind, sourceId: string): void {
    if (kind === 'video') {
      clearTimeout(this.#audioTimer);
      const audio = this.#entries.get('audio')?.track;
      if (audio?.pendingSourceId === sourceId) audio.cutPending();
    }
    if (kind === 'video' || !this.#entries.has('video')) this.safeEmit('cut', sourceId);
  }

  #removeTrack(kind: ms.MediaKind): void {
    const entry = this.#entries.get(kind);
    if (!entry) return;
    this.#entries.delete(kind);
    entry.track.close();
    this.safeEmit('trackRemoved', entry.relayed);
  }
}
