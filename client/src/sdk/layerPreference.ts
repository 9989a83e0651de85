/** 'auto': the server adapts to bandwidth, capped by the video element's size; others pin a layer. */
export type Quality = 'auto' | 'high' | 'medium' | 'low';

/** Spatial layer per manual quality. */
const LAYER_FOR_QUALITY = { high: 2, medium: 1, low: 0 } as const;
/** Re-evaluate 'auto' at most this often while the element is being resized. */
const RESIZE_DEBOUNCE_MS = 300;

/**
 * Which simulcast/SVC spatial layer a viewer wants: the user's choice, or for
 * 'auto' the one that fits the height the video element is shown at. Calls
 * `onChange` when the answer may have changed (quality set, element resized).
 */
export class LayerPreference {
  #quality: Quality;
  #element: HTMLVideoElement | null = null;
  #observer: ResizeObserver | null = null;
  #resizeTimer: ReturnType<typeof setTimeout> | null = null;
  readonly #onChange: () => void;

  constructor(quality: Quality, onChange: () => void) {
    this.#quality = quality;
    this.#onChange = onChange;
  }

  get quality(): Quality {
    return this.#quality;
  }

  setQuality(quality: Quality): void {
    this.#quality = quality;
    this.#onChange();
  }

  /** Follows this element's size for 'auto' (null: stop following). */
  setElement(element: HTMLVideoElement | null): void {
    this.#observer?.disconnect();
    this.#observer = null;
    if (this.#resizeTimer) clearTimeout(this.#resizeTimer);
    this.#resizeTimer = null;
    this.#element = element;
    if (!element || typeof ResizeObserver === 'undefined') return;
    this.#observer = new ResizeObserver(() => {
      if (this.#quality !== 'auto' || this.#resizeTimer) return;
      this.#resizeTimer = setTimeout(() => {
        this.#resizeTimer = null;
        this.#onChange();
      }, RESIZE_DEBOUNCE_MS);
    });
    this.#observer.observe(element);
    this.#onChange();
  }

  /** The spatial layer wanted now: manual choice, or 'auto' capped by the element's height in device pixels. */
  targetSpatialLayer(): number {
    if (this.#quality !== 'auto') return LAYER_FOR_QUALITY[this.#quality];
    const element = this.#element;
    if (!element) return 2;
    const renderedHeight = element.clientHeight * (window.devicePixelRatio || 1);
    if (renderedHeight <= 240) return 0;
    if (renderedHeight <= 480) return 1;
    return 2;
  }
}
