/**
 * A room's program: the tracks viewers and the recorder consume, fed by the
 * room's active source, in one of two ways:
 *
 *  - direct: a track of the program *is* the active source's producer (no
 *    copy, no cost), so a change of source is a change of tracks (viewers get
 *    trackRemoved/trackAdded and consume again);
 *  - relayed (programRelay.ts): the tracks are the relay's producers, fed in
 *    Node from the active source, and survive a change of source (backup
 *    ingest): same ids, same consumers, one continuous RTP stream.
 *
 * The owner says which sources want a relay (`relayWanted`); once engaged the
 * relay stays for every later source of the program (a switch back to direct
 * would cost the viewers a renegotiation), until the program goes off air.
 * Either way the events are the same, so viewers, the recorder, pipes and
 * cascades need not know.
 */
import type { types as ms } from 'mediasoup';
import { createLogger, type Logger } from '../observability/logger.js';
import { SafeEmitter } from '../lib/safeEmitter.js';
import type { MediaSource, SourceTrack } from '../sources/mediaSource.js';
import { ProgramRelay, type RelayedTrack } from './programRelay.js';

export interface ProgramOptions {
  /** Whether `source` should be relayed (a cascade never is). Default: never. */
  relayWanted?: (source: MediaSource) => boolean;
  logger?: Logger;
}

export interface ProgramTrack {
  /** Stable within the program: the producer's id (the relay's, when relayed). */
  readonly id: string;
  readonly kind: ms.MediaKind;
  readonly label: string | undefined;
  readonly producer: ms.Producer;
}

type ProgramEvents = {
  trackAdded: [track: ProgramTrack];
  trackRemoved: [track: ProgramTrack];
  trackPaused: [track: ProgramTrack, paused: boolean];
  /** The active source changed (or went away). */
  sourceChanged: [source: MediaSource | undefined];
};

const asProgramTrack = (track: SourceTrack | RelayedTrack): ProgramTrack => ({
  id: track.producer.id,
  kind: track.kind,
  label: track.label,
  producer: track.producer,
});

export class Program extends SafeEmitter<ProgramEvents> {
  readonly #tracks = new Map<string, ProgramTrack>();
  readonly #options: ProgramOptions;
  #source: MediaSource | undefined;
  #detach: (() => void) | undefined;
  #relay: ProgramRelay | undefined;

  constructor(options: ProgramOptions = {}) {
    super();
    this.#options = options;
  }

  /** The relay, while the program is relayed. */
  get relay(): ProgramRelay | undefined {
    return this.#relay;
  }

  get source(): MediaSource | undefined {
    return this.#source;
  }

  /** On air: the active source has at least one track. */
  get live(): boolean {
    return this.#tracks.size > 0;
  }

  tracks(): ProgramTrack[] {
    return [...this.#tracks.values()];
  }

  track(id: string): ProgramTrack | undefined {
    return this.#tracks.get(id);
  }

  /** The current track of a kind (the first one: camera before screen). */
  trackOfKind(kind: ms.MediaKind): ProgramTrack | undefined {
    for (const track of this.#tracks.values()) if (track.kind === kind && !track.producer.closed) return track;
    return undefined;
  }

  /** Puts `source` on air (undefined: nothing). */
  setSource(source: MediaSource | undefined): void {
    if (source === this.#source) return;
    this.#detach?.();
    this.#detach = undefined;
    this.#source = source;
    if (source && this.#relays(source)) {
      this.#relayFrom(source);
    } else {
      this.#closeRelay();
      for (const track of [...this.#tracks.values()]) this.#remove(track.id);
    }
    if (source && !this.#relay) {
      const onAdded = (track: SourceTrack): void => this.#add(asProgramTrack(track));
      const onRemoved = (track: SourceTrack): void => this.#remove(track.producer.id);
      const onPaused = (track: SourceTrack, paused: boolean): void => {
        const programTrack = this.#tracks.get(track.producer.id);
        if (programTrack) this.safeEmit('trackPaused', programTrack, paused);
      };
      source.on('trackAdded', onAdded);
      source.on('trackRemoved', onRemoved);
      source.on('trackPaused', onPaused);
      this.#detach = () => {
        source.off('trackAdded', onAdded);
        source.off('trackRemoved', onRemoved);
        source.off('trackPaused', onPaused);
      };
      for (const track of source.tracks()) this.#add(asProgramTrack(track));
    }
    this.safeEmit('sourceChanged', source);
  }

  /** Engages the relay for the source on air if it now wants one (a backup arrived). */
  reconsiderRelay(): void {
    const source = this.#source;
    if (!source || (this.#relay && !this.#relay.closed) || !this.#relays(source)) return;
    this.#detach?.();
    this.#detach = undefined;
    this.#relayFrom(source);
  }

  close(): void {
    this.setSource(undefined);
    this.removeAllListeners();
  }

  #relays(source: MediaSource): boolean {
    if (source.protocol === 'cascade') return false;
    if (this.#relay && !this.#relay.closed && this.#relay.router === source.router) return true;
    return this.#options.relayWanted?.(source) ?? false;
  }

  #relayFrom(source: MediaSource): void {
    if (!this.#relay || this.#relay.closed || this.#relay.router !== source.router) {
      this.#closeRelay();
      // Direct tracks of the source before go: the relay's replace them.
      for (const track of [...this.#tracks.values()]) this.#remove(track.id);
      const relay = new ProgramRelay({ router: source.router, logger: this.#options.logger ?? createLogger('silent') });
      relay.on('trackAdded', (track) => this.#add(asProgramTrack(track)));
      relay.on('trackRemoved', (track) => this.#remove(track.producer.id));
      this.#relay = relay;
    }
    this.#relay.follow(source);
  }

  #closeRelay(): void {
    const relay = this.#relay;
    this.#relay = undefined;
    relay?.close();
  }

  #add(track: ProgramTrack): void {
    if (this.#tracks.has(track.id)) return;
    this.#tracks.set(track.id, track);
    this.safeEmit('trackAdded', track);
  }

  #remove(id: string): void {
    const track = this.#tracks.get(id);
    if (!track) return;
    this.#tracks.delete(id);
    this.safeEmit('trackRemoved', track);
  }
}
