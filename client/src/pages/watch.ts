/**
 * /watch?room=R — plays a room. The page drives a Playback (WebRTC today, HLS
 * later) and owns everything element-side: the CONTRACT attributes on <video>
 * (data-state, data-transport), unmute, quality, status.
 */
import type { Playback, PlaybackStatus } from '../player/playback';
import { RenderMonitor } from '../player/renderMonitor';
import { WebRtcPlayback } from '../player/webrtcPlayback';
import type { FloodlightError } from '../sdk/errors';
import type { Quality } from '../sdk/viewer';
import { byId, describeError, formatViewers, isValidRoomId, setVisible } from '../ui/dom';

declare global {
  interface Window {
    floodlight?: Record<string, unknown>;
  }
}

/** CONTRACT values of <video data-state>. */
type VideoState = 'connecting' | 'playing' | 'offline';

/** While reconnecting, keep saying 'playing' only if frames kept coming this recently. */
const STILL_RENDERING_MS = 1_500;

const QUALITY_STORAGE_KEY = 'floodlight.quality';
const QUALITIES: readonly Quality[] = ['auto', 'high', 'medium', 'low'];

const params = new URLSearchParams(location.search);
const room = params.get('room');
const token = params.get('token') ?? undefined;

const pageRoot = byId('app', HTMLElement);
const player = byId('player', HTMLDivElement);
const video = byId('video', HTMLVideoElement);
const overlayText = byId('overlay-text', HTMLParagraphElement);
const unmuteButton = byId('unmute', HTMLButtonElement);
const playButton = byId('play', HTMLButtonElement);
const qualitySelect = byId('quality', HTMLSelectElement);
const qualityBadge = byId('quality-badge', HTMLSpanElement);
const fullscreenButton = byId('fullscreen', HTMLButtonElement);
const statusText = byId('status', HTMLParagraphElement);
const viewersText = byId('viewers', HTMLSpanElement);
const roomTitle = byId('room-title', HTMLHeadingElement);
const roomForm = byId('room-form', HTMLFormElement);
const watchArea = byId('watch-area', HTMLElement);

let playback: Playback | null = null;
let fatalMessage: string | null = null;
let notice: string | null = null;
const monitor = new RenderMonitor(video, () => render());

function currentVideoState(status: PlaybackStatus | null): VideoState {
  if (fatalMessage !== null || status === null || status === 'offline') return 'offline';
  if (status === 'live') return monitor.rendering ? 'playing' : 'connecting';
  if (status === 'reconnecting') return monitor.renderedWithin(STILL_RENDERING_MS) ? 'playing' : 'connecting';
  return 'connecting';
}

const STATUS_TEXT: Record<VideoState, string> = {
  connecting: 'Connecting…',
  playing: 'Live',
  offline: 'Offline — waiting for the broadcast to start',
};

function render(): void {
  const status = playback?.status ?? null;
  const state = currentVideoState(status);
  video.dataset['state'] = state;
  player.dataset['state'] = state;
  pageRoot.dataset['state'] = state;

  let text = STATUS_TEXT[state];
  if (fatalMessage !== null) text = fatalMessage;
  else if (status === 'reconnecting') text = 'Reconnecting…';
  else if (state === 'connecting' && notice) text = `Connecting… (${notice})`;
  statusText.textContent = text;
  overlayText.textContent = state === 'playing' ? '' : text;
  setVisible(unmuteButton, video.muted && state === 'playing');
}

function describeFatal(error: FloodlightError): string {
  switch (error.code) {
    case 'ROOM_CLOSED':
      return 'The broadcast has ended.';
    case 'ROOM_FULL':
      return 'This room is full right now. Try again in a moment.';
    case 'UNSUPPORTED':
      return 'This browser cannot play WebRTC streams.';
    default:
      return describeError(error);
  }
}

/** The one place that decides the transport; the HLS fallback will slot in here. */
function createPlayback(roomId: string): Playback {
  return new WebRtcPlayback(video, { room: roomId, ...(token ? { token } : {}), quality: savedQuality() });
}

function startPlayback(roomId: string): void {
  const next = createPlayback(roomId);
  playback = next;
  video.dataset['transport'] = next.transport;
  window.floodlight = next.debugHandle();

  next.on('status', () => {
    if (next.status !== 'connecting') notice = null;
    render();
  });
  next.on('sourceChanged', ({ hasVideo }) => {
    monitor.reset(hasVideo);
    render();
  });
  next.on('notice', (message) => {
    notice = message;
    render();
  });
  next.on('autoplayBlocked', () => setVisible(playButton, true));
  next.on('viewers', (count) => (viewersText.textContent = formatViewers(count)));
  next.on('qualityLabel', (label) => {
    qualityBadge.textContent = label ?? '';
    setVisible(qualityBadge, label !== null);
  });
  next.on('fatal', (error) => {
    // Later: on ROOM_FULL / UNSUPPORTED, switch to HLS here instead of giving up.
    fatalMessage = describeFatal(error);
    render();
  });
  next.start().catch(() => undefined); // failures arrive as 'fatal'
  render();
}

function savedQuality(): Quality {
  const saved = localStorage.getItem(QUALITY_STORAGE_KEY);
  return QUALITIES.find((quality) => quality === saved) ?? 'auto';
}

function bindControls(): void {
  qualitySelect.value = savedQuality();
  qualitySelect.addEventListener('change', () => {
    const quality = QUALITIES.find((q) => q === qualitySelect.value) ?? 'auto';
    localStorage.setItem(QUALITY_STORAGE_KEY, quality);
    playback?.setQuality(quality);
  });
  unmuteButton.addEventListener('click', () => {
    video.muted = false;
    video.volume = 1;
    void video.play().catch(() => undefined);
  });
  playButton.addEventListener('click', () => {
    setVisible(playButton, false);
    void video.play().catch(() => setVisible(playButton, true));
  });
  video.addEventListener('volumechange', render);
  video.addEventListener('playing', () => setVisible(playButton, false));
  fullscreenButton.addEventListener('click', () => {
    if (document.fullscreenElement) void document.exitFullscreen();
    else void player.requestFullscreen?.().catch(() => undefined);
  });
  // Double-click the picture for fullscreen, as on every other player.
  video.addEventListener('dblclick', () => fullscreenButton.click());
  window.addEventListener('pagehide', () => playback?.close());
  // Back/forward cache restores a page whose session was closed on pagehide: start fresh.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });
}

function init(): void {
  if (!isValidRoomId(room)) {
    setVisible(roomForm, true);
    setVisible(watchArea, false);
    video.dataset['state'] = 'offline';
    statusText.textContent = room ? 'That room name is not valid.' : 'Pick a room to watch.';
    return;
  }
  roomTitle.textContent = room;
  document.title = `${room} — Floodlight`;
  bindControls();
  startPlayback(room);
}

init();
