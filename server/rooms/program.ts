/**
 * A room's program: the tracks viewers and the recorder consume, fed by the
 * room's active source. Today a track of the program *is* the active source's
 * producer (no copy, no cost), so a change of source is a change of tracks;
 * a relay that keeps track ids across a switch (backup ingest) fits behind
 * the same events.
 */
import type { types as ms } from 'mediasoup';
import { SafeEmitter } from '../lib/safeEmitter.js';
import type { MediaSource, SourceTrack } from '../sources/mediaSource.js';

export interface ProgramTrack {
  /** Stable within the program; today the source producer's id. */
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

const asProgramTrack = (track: SourceTrack): ProgramTrack => ({ id: track.producer.id, kind: track.kind, label: track.label, producer: track.producer });

export class Program extends SafeEmitter<ProgramEvents> {
  readonly #tracks = new Map<string, ProgramTrack>();
  #source: MediaSource | undefined;
  #detach: (() => void) | undefined;

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
    for (const track of [...this.#tracks.values()]) this.#remove(track.id);
    this.#source = source;
    if (source) {
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

  close(): void {
    this.setSource(undefined);
    this.removeAllListeners();
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
