/** / — the live rooms, from GET /api/rooms, refreshed every 5 s. */
import { byId, el, formatViewers, isValidRoomId, setVisible } from '../ui/dom';

interface RoomSummary {
  id: string;
  live: boolean;
  viewers: number;
  workers: number[];
}

const REFRESH_MS = 5_000;
const REQUEST_TIMEOUT_MS = 4_000;

const roomList = byId('rooms', HTMLUListElement);
const emptyState = byId('rooms-empty', HTMLDivElement);
const errorBox = byId('rooms-error', HTMLParagraphElement);
const updatedText = byId('rooms-updated', HTMLSpanElement);

let refreshTimer: ReturnType<typeof setTimeout> | null = null;
let loading = false;

function isRoomSummary(value: unknown): value is RoomSummary {
  if (!value || typeof value !== 'object') return false;
  const room = value as Record<string, unknown>;
  return typeof room['id'] === 'string' && typeof room['live'] === 'boolean' && typeof room['viewers'] === 'number';
}

async function fetchRooms(): Promise<RoomSummary[]> {
  const response = await fetch('/api/rooms', {
    cache: 'no-store',
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  if (!response.ok) throw new Error(`server answered ${response.status}`);
  const body: unknown = await response.json();
  const rooms = body && typeof body === 'object' ? (body as { rooms?: unknown }).rooms : undefined;
  if (!Array.isArray(rooms)) throw new Error('unexpected answer from /api/rooms');
  return rooms.filter(isRoomSummary).filter((room) => isValidRoomId(room.id));
}

function roomCard(room: RoomSummary): HTMLLIElement {
  const href = `/watch?room=${encodeURIComponent(room.id)}`;
  // Placeholder until thumbnails exist: the room's initial on a gradient.
  const thumbnail = el('a', { className: 'thumb', attrs: { href, tabindex: '-1', 'aria-hidden': 'true' } }, [
    el('span', { className: 'thumb-initial', text: room.id.charAt(0).toUpperCase() }),
    el('span', { className: 'badge badge-live', text: 'LIVE' }),
    el('span', { className: 'badge badge-viewers', text: formatViewers(room.viewers) }),
  ]);
  const body = el('div', { className: 'card-body' }, [
    el('h2', { className: 'card-title', text: room.id }),
    el('a', { className: 'btn btn-primary', text: 'Watch', attrs: { href, 'data-watch': room.id } }),
  ]);
  return el('li', { className: 'card', attrs: { 'data-room': room.id } }, [thumbnail, body]);
}

function renderRooms(rooms: RoomSummary[]): void {
  const live = rooms.filter((room) => room.live).sort((a, b) => b.viewers - a.viewers || a.id.localeCompare(b.id));
  roomList.replaceChildren(...live.map(roomCard));
  setVisible(roomList, live.length > 0);
  setVisible(emptyState, live.length === 0);
  updatedText.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refresh(): Promise<void> {
  if (loading) return;
  loading = true;
  try {
    renderRooms(await fetchRooms());
    setVisible(errorBox, false);
  } catch (error) {
    // Keep the last list on screen; just say it may be stale.
    errorBox.textContent = `Could not load rooms (${error instanceof Error ? error.message : String(error)}). Retrying…`;
    setVisible(errorBox, true);
  } finally {
    loading = false;
    scheduleRefresh();
  }
}

function scheduleRefresh(): void {
  if (refreshTimer) clearTimeout(refreshTimer);
  // No point polling a hidden tab; visibilitychange refreshes on return.
  refreshTimer = document.hidden ? null : setTimeout(() => void refresh(), REFRESH_MS);
}

document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void refresh();
});

void refresh();
