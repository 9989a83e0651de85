/** A room's poster frame in the drill-down, fetched off-screen and swapped in once decoded (no flicker). */
import { el } from '../ui/dom';

/** The server rewrites the JPEG every few seconds. */
const REFRESH_MS = 3_000;

export class RoomThumbnail {
  readonly #container: HTMLElement;
  #path: string | null = null;
  #image: HTMLImageElement | null = null;
  #loading: HTMLImageElement | null = null;
  #loadedAt = 0;

  constructor(container: HTMLElement) {
    this.#container = container;
  }

  /** Shows the room's current thumbnail path (null: none yet), refreshing it at most every REFRESH_MS. */
  show(path: string | null, alt: string): void {
    if (path !== this.#path) {
      this.drop();
      this.#path = path;
    }
    if (this.#path && (!this.#image || Date.now() - this.#loadedAt >= REFRESH_MS)) this.#load(this.#path, alt);
  }

  drop(): void {
    this.#image?.remove();
    this.#path = null;
    this.#image = null;
    this.#loading = null;
    this.#container.classList.remove('has-image');
  }

  #load(path: string, alt: string): void {
    if (this.#loading) return;
    const next = el('img', { className: 'thumb-image', attrs: { alt, decoding: 'async' } });
    this.#loading = next;
    next.addEventListener('load', () => {
      if (this.#loading !== next) return;
      this.#loading = null;
      if (this.#path !== path) return;
      this.#loadedAt = Date.now();
      if (this.#image) this.#image.replaceWith(next);
      else this.#container.prepend(next);
      this.#image = next;
      this.#container.classList.add('has-image');
    });
    next.addEventListener('error', () => {
      if (this.#loading === next) this.#loading = null;
    });
    next.src = `${path}?t=${Date.now()}`;
  }
}
