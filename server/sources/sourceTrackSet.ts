/**
 * The tracks a media source has, by producer id: each one watched by the
 * source's health while it lives, and let go — health unwatched, producer
 * closed, `onRemoved` told once — when its producer closes or the source
 * removes it. Every source kind (browser, WHIP, RTMP/SRT, cascade) keeps its
 * tracks here; announcing a new track (`trackAdded`) stays with the source,
 * which knows when its tracks are ready to be consumed.
 */
import type { SourceTrack } from './mediaSource.js';
import type { SourceHealthTracker } from './sourceHealth.js';

export class SourceTrackSet {
  readonly #tracks = new Map<string, SourceTrack>();
  readonly #health: SourceHealthTracker;
  readonly #onRemoved: (track: SourceTrack) => void;

  constructor(health: SourceHealthTracker, onRemoved: (track: SourceTrack) => void) {
    this.#health = health;
    this.#onRemoved = onRemoved;
  }

  /** Keeps the track and watches it; it is removed by itself when its producer closes. */
  add(track: SourceTrack): void {
    const id = track.producer.id;
    this.#tracks.set(id, track);
    this.#health.watch(track);
    track.producer.observer.once('close', () => this.remove(id));
  }

  get(producerId: string): SourceTrack | undefined {
    return this.#tracks.get(producerId);
  }

  list(): SourceTrack[] {
    return [...this.#tracks.values()];
  }

  /** Lets the track go (closing its producer if still open). Nothing if it is not here. */
  remove(producerId: string): void {
    const track = this.#tracks.get(producerId);
    if (!track) return;
    this.#tracks.delete(producerId);
    this.#health.unwatch(producerId);
    if (!track.producer.closed) track.producer.close();
    this.#onRemoved(track);
  }

  removeAll(): void {
    for (const id of [...this.#tracks.keys()]) this.remove(id);
  }
}
