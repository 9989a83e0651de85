/** Small DOM helpers shared by the pages (no framework). */

/** The element with this id, checked to be of the expected type (a missing one is a page bug). */
export function byId<T extends HTMLElement>(id: string, type: { new (): T; prototype: T }): T {
  const element = document.getElementById(id);
  if (!(element instanceof type)) throw new Error(`#${id} is missing or not a ${type.name}`);
  return element;
}

export function setVisible(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}

export { isValidRoomId, type RoomId } from '../../../server/contracts/roomId.js';

export function formatViewers(count: number): string {
  return `${count} ${count === 1 ? 'viewer' : 'viewers'}`;
}

export function watchUrl(room: string): string {
  return `${location.origin}/watch?room=${encodeURIComponent(room)}`;
}

/** Builds an element with text/attributes/children; text always goes through textContent. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { className?: string; text?: string; attrs?: Record<string, string> } = {},
  children: Node[] = [],
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  if (props.text !== undefined) element.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) element.setAttribute(name, value);
  element.append(...children);
  return element;
}

/** Short human message for an SDK error or anything else thrown. */
export function describeError(error: unknown): string {
  if (error && typeof error === 'object' && 'code' in error && 'message' in error) {
    return `${String(error.code)}: ${String(error.message)}`;
  }
  if (error instanceof DOMException) return `${error.name}: ${error.message}`;
  if (error instanceof Error) return error.message;
  return String(error);
}
