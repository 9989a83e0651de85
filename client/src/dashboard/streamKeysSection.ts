/**
 * The room drill-down's stream keys (admin token): the room's primary and
 * backup keys (id prefix, created, last used), with create, rotate and revoke.
 * A new or rotated key's secret is shown once, here, with the WHIP URL — the
 * server keeps only its hash. Wire shapes: server/contracts/streamKeys.ts.
 */
import type { ProgramSlot } from '../../../server/contracts/programApi';
import type { StreamKeyInfo, StreamKeyIssuedResponse, StreamKeyListResponse } from '../../../server/contracts/streamKeys';
import { getJson, sendJson } from '../api/http';
import { el, setVisible } from '../ui/dom';
import { takeToken } from './adminToken';
import { DASH } from './format';

const REQUEST_TIMEOUT_MS = 5_000;
const SLOTS: readonly ProgramSlot[] = ['primary', 'backup'];

const keysPath = (room: string, suffix = ''): string => `/api/rooms/${encodeURIComponent(room)}/keys${suffix}`;
const when = (iso: string | null): string => (iso ? new Date(iso).toLocaleString() : DASH);

export class StreamKeysSection {
  readonly #root = el('div', { className: 'stream-keys-section', attrs: { 'data-testid': 'stream-keys' } });
  readonly #list = el('ul', { className: 'stream-keys' });
  readonly #issued = el('div', { className: 'stream-key-issued', attrs: { role: 'status' } });
  readonly #error = el('p', { className: 'error' });
  #room: string | null = null;

  constructor(after: HTMLElement) {
    this.#root.append(el('h3', { className: 'panel-subtitle', text: 'Stream keys' }), this.#list, this.#issued, this.#error);
    after.after(this.#root);
    setVisible(this.#root, false);
  }

  /** Shows a room's keys (hidden when the admin token is missing or refused). */
  async show(room: string): Promise<void> {
    this.#room = room;
    this.#issued.replaceChildren();
    setVisible(this.#error, false);
    await this.#load(room);
  }

  clear(): void {
    this.#room = null;
    this.#list.replaceChildren();
    this.#issued.replaceChildren();
    setVisible(this.#root, false);
  }

  async #load(room: string): Promise<void> {
    const token = takeToken();
    if (!token) {
      this.clear();
      return;
    }
    let listing: StreamKeyListResponse;
    try {
      listing = await getJson<StreamKeyListResponse>(keysPath(room), { token, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    } catch {
      if (this.#room === room) setVisible(this.#root, false);
      return;
    }
    if (this.#room !== room) return;
    this.#list.replaceChildren(
      ...SLOTS.map((slot) =>
        this.#slotItem(
          room,
          slot,
          listing.keys.find((k) => k.slot === slot),
        ),
      ),
    );
    setVisible(this.#root, true);
  }

  #slotItem(room: string, slot: ProgramSlot, key: StreamKeyInfo | undefined): HTMLElement {
    const label = el('strong', { text: slot === 'primary' ? 'Primary' : 'Backup' });
    if (!key) {
      return el('li', { attrs: { 'data-slot': slot } }, [
        label,
        el('span', { text: ' no key ' }),
        this.#button(`Create ${slot} key`, () => sendJson<StreamKeyIssuedResponse>('POST', keysPath(room), this.#request({ slot }))),
      ]);
    }
    const text = ` ${key.prefix} · created ${when(key.createdAt)} · last used ${when(key.lastUsedAt)} `;
    return el('li', { attrs: { 'data-slot': slot, 'data-key-id': key.id } }, [
      label,
      el('span', { text }),
      this.#button('Rotate', () => sendJson<StreamKeyIssuedResponse>('POST', keysPath(room, `/${key.id}/rotate`), this.#request())),
      this.#button('Revoke', async () => {
        if (!window.confirm(`Revoke the ${slot} key of ${room}? Encoders using it are refused from now on.`)) return undefined;
        return sendJson<StreamKeyIssuedResponse>('DELETE', keysPath(room, `/${key.id}`), this.#request());
      }),
    ]);
  }

  #request(body?: unknown): { token: string | null; body?: unknown; signal: AbortSignal } {
    return { token: takeToken(), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS), ...(body === undefined ? {} : { body }) };
  }

  #button(text: string, action: () => Promise<StreamKeyIssuedResponse | undefined>): HTMLButtonElement {
    const button = el('button', { text, attrs: { type: 'button' } });
    button.addEventListener('click', () => {
      const room = this.#room;
      if (!room) return;
      button.disabled = true;
      setVisible(this.#error, false);
      action()
        .then((issued) => {
          if (issued) this.#showSecret(issued);
          return this.#load(room);
        })
        .catch((error: unknown) => {
          this.#error.textContent = `Could not ${text.toLowerCase()}: ${error instanceof Error ? error.message : String(error)}`;
          setVisible(this.#error, true);
        })
        .finally(() => {
          button.disabled = false;
        });
    });
    return button;
  }

  /** The one time the secret exists outside the encoder: show it with where to use it. */
  #showSecret({ key }: StreamKeyIssuedResponse): void {
    const whipUrl = `${location.origin}/whip/${encodeURIComponent(key.room)}`;
    this.#issued.replaceChildren(
      el('p', { text: `New ${key.slot} key — copy it now, it is not shown again:` }),
      el('code', { className: 'stream-key-secret', text: key.key, attrs: { 'data-testid': 'stream-key-secret' } }),
      el('p', { text: `WHIP: ${whipUrl} (bearer token = the key) · RTMP: rtmp://${location.hostname}/live/<key> · SRT: streamid=<key>` }),
    );
  }
}
