/** The rooms table: one row per room (live first, then by audience); a row opens the room's drill-down. */
import type { RoomStats } from '../../../server/contracts/adminApi';
import { byId, el, setVisible } from '../ui/dom';
import { DASH, formatBitrate, formatDuration, formatMs, formatNumber, formatPercent, formatVideo, secondsSince } from './format';

interface RoomRow {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
}

const COLUMNS = 10;

function lossLevel(lossPercent: number): string {
  return lossPercent >= 5 ? 'critical' : lossPercent >= 1 ? 'warning' : '';
}

export class RoomsTable {
  readonly #table = byId('rooms-table', HTMLTableElement);
  readonly #body = byId('rooms-body', HTMLTableSectionElement);
  readonly #empty = byId('rooms-empty', HTMLDivElement);
  readonly #rows = new Map<string, RoomRow>();
  readonly #onSelect: (room: string) => void;
  #selected: string | null = null;

  constructor(onSelect: (room: string) => void) {
    this.#onSelect = onSelect;
  }

  markSelected(room: string | null): void {
    this.#selected = room;
    for (const [id, row] of this.#rows) row.tr.classList.toggle('is-selected', id === room);
  }

  render(rooms: RoomStats[]): void {
    const sorted = [...rooms].sort(
      (a, b) => Number(b.live) - Number(a.live) || b.viewers.webrtc + b.viewers.hls - (a.viewers.webrtc + a.viewers.hls) || a.id.localeCompare(b.id),
    );
    const seen = new Set(sorted.map((room) => room.id));
    const rows = sorted.map((room) => this.#fill(this.#row(room.id), room));
    for (const id of [...this.#rows.keys()]) if (!seen.has(id)) this.#rows.delete(id);
    this.#body.replaceChildren(...rows);
    setVisible(this.#table, rows.length > 0);
    setVisible(this.#empty, rows.length === 0);
  }

  #row(id: string): RoomRow {
    let row = this.#rows.get(id);
    if (row) return row;
    const cells = Array.from({ length: COLUMNS }, (_, i) => el('td', i >= 3 ? { className: 'num' } : {}));
    const tr = el('tr', { className: 'room-row', attrs: { 'data-room': id, tabindex: '0', role: 'button', 'aria-label': `Details of room ${id}` } }, cells);
    tr.addEventListener('click', () => this.#onSelect(id));
    tr.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.#onSelect(id);
      }
    });
    row = { tr, cells };
    this.#rows.set(id, row);
    return row;
  }

  #fill(row: RoomRow, room: RoomStats): HTMLTableRowElement {
    const [name, status, video, bitrate, webrtc, hls, loss, rtt, freezes, alerts] = row.cells as [HTMLTableCellElement, ...HTMLTableCellElement[]];
    name.replaceChildren(el('strong', { text: room.id }));
    const liveFor = room.live ? secondsSince(room.since) : null;
    status!.replaceChildren(
      el('span', { className: `badge ${room.live ? 'badge-live-dot' : 'badge-muted'}`, text: room.live ? 'live' : 'offline' }),
      document.createTextNode(liveFor === null ? '' : ` · ${formatDuration(liveFor)}`),
    );
    video!.textContent = room.live ? formatVideo(room.video) : DASH;
    bitrate!.textContent = room.live ? formatBitrate(room.video.bitrateBps + room.audio.bitrateBps) : DASH;
    webrtc!.textContent = formatNumber(room.viewers.webrtc);
    hls!.textContent = formatNumber(room.viewers.hls);
    loss!.textContent = formatPercent(room.lossPercent);
    loss!.dataset['level'] = lossLevel(room.lossPercent);
    rtt!.textContent = formatMs(room.rttMs);
    freezes!.textContent = formatNumber(room.qoe.freezesPerMinute, 2);
    const firing = room.alerts.filter((a) => a.state === 'firing').length;
    alerts!.replaceChildren(firing > 0 ? el('span', { className: 'badge badge-critical', text: String(firing) }) : document.createTextNode('0'));
    row.tr.classList.toggle('is-selected', room.id === this.#selected);
    row.tr.dataset['live'] = String(room.live);
    return row.tr;
  }
}
