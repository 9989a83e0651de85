/**
 * / — the live rooms, from GET /api/rooms, refreshed every 5 s. Each card
 * shows the room's poster frame (refreshed every few seconds) once the server
 * has one, the room's initial on a gradient until then.
 */
import { fetchRooms } from '../api/rooms';
import type { RoomListItem as RoomSummary } from '../../../server/contracts/adminApi';
import { byId, el, formatViewers, setVisible } from '../ui/dom';

const REFRESH_MS = 5_000;
/** The server rewrites the JPEG every 3 s. */
const THUMBNAIL_REFRESH_MS = 3_000;

const roomList = byId('rooms', HTMLUListElement);
const emptyState = byId('rooms-empty', HTMLDivElement);
const errorBox = byId('rooms-error', HTMLParagraphElement);
const updatedText = byId('rooms-updated', HTMLSpanElement);

/** A rendered card, kept across refreshes so images do not reload or flicker. */
interface Card {
  item: HTMLLIElement;
  thumb: HTMLAnchorElement;
  viewers: HTMLSpanElement;
  /** Thumbnail path from the API (no query), null when the room has none. */
  thumbnailPath: string | null;
  image: HTMLImageElement | null;
  /** A newer frame being fetched off-screen. */
  loading: HTMLImageElement | null;
}

const cards = new Map<string, Card>();
let refreshTimer: ReturnType<typeof setTimeout> | null = null;
let loading = false;

function createCard(room: RoomSummary): Card {
  const href = `/watch?room=${encodeURIComponent(room.id)}`;
  const viewers = el('span', { className: 'badge badge-viewers' });
  const thumb = el('a', { className: 'thumb', attrs: { href, tabindex: '-1', 'aria-hidden': 'true' } }, [
    el('span', { className: 'thumb-initial', text: room.id.charAt(0).toUpperCase() }),
    el('span', { className: 'badge badge-live', text: 'LIVE' }),
    viewers,
  ]);
  const body = el('div', { className: 'card-body' }, [
    el('h2', { className: 'card-title', text: room.id }),
    el('a', { className: 'btn btn-primary', text: 'Watch', attrs: { href, 'data-watch': room.id } }),
  ]);
  const item = el('li', { className: 'card', attrs: { 'data-room': room.id } }, [thumb, body]);
  return { item, thumb, viewers, thumbnailPath: null, image: null, loading: null };
}

function updateCard(card: Card, room: RoomSummary): void {
  card.viewers.textContent = formatViewers(room.viewers);
  if (room.thumbnail === card.thumbnailPath) return;
  card.thumbnailPath = room.thumbnail;
  if (room.thumbnail) loadThumbnail(card);
  else dropThumbnail(card);
}

/**
 * Fetches the current frame off-screen (cache-busting query: the URL never
 * changes) and swaps it in once decoded, so the picture never blanks.
 */
function loadThumbnail(card: Card): void {
  const path = card.thumbnailPath;
  if (!path || card.loading) return;
  const next = el('img', { className: 'thumb-image', attrs: { alt: '', decoding: 'async' } });
  card.loading = next;
  next.addEventListener('load', () => {
    if (card.loading !== next) return;
    card.loading = null;
    if (card.thumbnailPath !== path) return;
    if (card.image) card.image.replaceWith(next);
    else card.thumb.prepend(next);
    card.image = next;
    card.thumb.classList.add('has-image');
  });
  next.addEventListener('error', () => {
    // Keep the last good frame (or the placeholder); the next round tries again.
    if (card.loading === next) card.loading = null;
  });
  next.src = `${path}?t=${Date.now()}`;
}

function dropThumbnail(card: Card): void {
  card.loading = null;
  card.image?.remove();
  card.image = null;
  card.thumb.classList.remove('has-image');
}

function refreshThumbnails(): void {
  if (document.hidden) return;
  for (const card of cards.values()) loadThumbnail(card);
}

function renderRooms(rooms: RoomSummary[]): void {
  const live = rooms.filter((room) => room.live).sort((a, b) => b.viewers - a.viewers || a.id.localeCompare(b.id));
  const seen = new Set<string>();
  const items = live.map((room) => {
    seen.add(room.id);
    let card = cards.get(room.id);
    if (!card) {
      card = createCard(room);
      cards.set(room.id, card);
    }
    updateCard(card, room);
    return card.item;
  });
  for (const id of [...cards.keys()]) if (!seen.has(id)) cards.delete(id);
  // Moving existing nodes keeps their images; only new rooms are built.
  roomList.replaceChildren(...items);
  setVisible(roomList, live.length > 0);
  setVisible(emptyState, live.length === 0);
  updatedText.textContent = `Updated ${new Date().toLocaleTimeString()}`;
}

async function refresh(): Promise<void> {
  if (loading) return;
  loading = true;
  try {
    renderRooms((await fetchRooms()).rooms);
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

setInterval(refreshThumbnails, THUMBNAIL_REFRESH_MS);
void refresh();
