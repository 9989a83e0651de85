/**
 * /watch?room=R[&transport=webrtc|hls] — plays a room. The page drives a
 * Playback (WebRTC, or LL-HLS loaded on demand) chosen by the rules in
 * player/transportSelector.ts, and owns everything element-side: the CONTRACT
 * attributes on <video> (data-state, data-transport), unmute, quality, status,
 * the transport badge.
 */
import { fetchRooms } from '../api/rooms';
import type { Playback, PlaybackStatus, PlaybackTransportName } from '../player/playback';
import { QoeReporter } from '../player/qoeReporter';
import { RenderMonitor } from '../player/renderMonitor';
import {
  FALLBACK_REASON_TEXT,
  SeatProbe,
  WebRtcWatchdog,
  browserCanPlayHls,
  fallbackReasonForError,
  transportPreference,
  type FallbackReason,
} from '../player/transportSelector';
import { WebRtcPlayback } from '../player/webrtcPlayback';
import type { FloodlightError } from '../sdk/errors';
import type { Quality, Viewer } from '../sdk/viewer';
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
const preference = transportPreference(params.get('transport'));

const pageRoot = byId('app', HTMLElement);
const player = byId('player', HTMLDivElement);
const video = byId('video', HTMLVideoElement);
const overlayText = byId('overlay-text', HTMLParagraphElement);
const unmuteButton = byId('unmute', HTMLButtonElement);
const playButton = byId('play', HTMLButtonElement);
const qualitySelect = byId('quality', HTMLSelectElement);
const qualityBadge = byId('quality-badge', HTMLSpanElement);
const transportBadge = byId('transport-badge', HTMLSpanElement);
const fullscreenButton = byId('fullscreen', HTMLButtonElement);
const statusText = byId('status', HTMLParagraphElement);
const viewersText = byId('viewers', HTMLSpanElement);
const roomTitle = byId('room-title', HTMLHeadingElement);
const roomForm = byId('room-form', HTMLFormElement);
const watchArea = byId('watch-area', HTMLElement);

/** How often the transport badge's latency figure is refreshed. */
const BADGE_REFRESH_MS = 1_000;

let playback: Playback | null = null;
let fatalMessage: string | null = null;
let notice: string | null = null;
/** Between giving up on WebRTC and HLS taking over (hls.js is being fetched). */
let switching = false;
/** Why the page is on HLS although WebRTC was preferred (null: it was asked for, or on WebRTC). */
let fallbackReason: FallbackReason | null = null;
let watchdog: WebRtcWatchdog | null = null;
let seatProbe: SeatProbe | null = null;
const monitor = new RenderMonitor(video, () => render());
/** Quality reports to the server (POST /api/rooms/<room>/qoe), created when playback starts. */
let qoe: QoeReporter | null = null;

/** Frames should be on screen: the page shows the stream and the broadcaster has not paused their video. */
function expectFrames(): boolean {
  if (video.dataset['state'] !== 'playing') return false;
  return !(playback instanceof WebRtcPlayback && playback.videoPaused);
}

function currentVideoState(status: PlaybackStatus | null): VideoState {
  if (switching && fatalMessage === null) return 'connecting';
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
  if (state === 'playing' && fallbackReason !== null) text = `Live over HLS (${FALLBACK_REASON_TEXT[fallbackReason]})`;
  if (fatalMessage !== null) text = fatalMessage;
  else if (status === 'reconnecting') text = 'Reconnecting…';
  else if (state === 'connecting' && notice) text = `Connecting… (${notice})`;
  statusText.textContent = text;
  overlayText.textContent = state === 'playing' ? '' : text;
  setVisible(unmuteButton, video.muted && state === 'playing');
  renderTransportBadge();
}

/**
 * HLS latency for the badge: smoothed, rounded up to half seconds (the
 * measured distance to the playlist's live edge leaves out the ~0.5 s the
 * server's transcoder adds), and only changed when clearly past a step.
 */
const latencyShown = { smoothed: null as number | null, step: null as number | null };

function updateLatency(latency: number | null): void {
  if (latency === null) {
    latencyShown.smoothed = latencyShown.step = null;
    return;
  }
  const smoothed = latencyShown.smoothed === null ? latency : latencyShown.smoothed * 0.7 + latency * 0.3;
  latencyShown.smoothed = smoothed;
  const step = Math.max(0.5, Math.ceil(smoothed * 2) / 2);
  const current = latencyShown.step;
  // Hysteresis: 0.1 s past the step's bounds before the figure changes.
  if (current === null || smoothed > current + 0.1 || smoothed < current - 0.6) latencyShown.step = step;
}

/** "WebRTC · sub-second" / "HLS · ~1.5 s" (from the measured latency once known, else the typical ~2 s). */
function transportLabel(transport: PlaybackTransportName): string {
  if (transport === 'webrtc') return 'WebRTC · sub-second';
  const step = latencyShown.step;
  return step === null ? 'HLS · ~2 s' : `HLS · ~${step.toFixed(1)} s`;
}

function renderTransportBadge(): void {
  const current = playback;
  const shown = current !== null && !switching;
  setVisible(transportBadge, shown);
  if (!current || !shown) return;
  transportBadge.textContent = transportLabel(current.transport);
  transportBadge.dataset['transport'] = current.transport;
}

function describeFatal(error: FloodlightError): string {
  switch (error.code) {
    case 'ROOM_CLOSED':
      return 'The broadcast has ended.';
    case 'ROOM_FULL':
      return 'This room is full right now. Try again in a moment.';
    case 'UNSUPPORTED':
      return preference === 'hls' ? 'This browser cannot play HLS streams.' : 'This browser cannot play WebRTC streams.';
    case 'UNAVAILABLE':
      return `${error.message}.`;
    default:
      return describeError(error);
  }
}

/** Wires a playback to the page and starts it; the previous one (if any) is closed first. */
function usePlayback(next: Playback): void {
  watchdog?.close();
  watchdog = null;
  playback?.close();
  playback = next;
  fatalMessage = null;
  notice = null;
  // Frames seen so far belong to the previous transport.
  monitor.reset(true);
  updateLatency(null);
  video.dataset['transport'] = next.transport;
  qoe?.setPlayback(next);
  // Not spread: the HLS handle has live getters.
  const handle = next.debugHandle();
  handle['qoe'] = qoe;
  window.floodlight = handle;
  qualityBadge.textContent = '';
  setVisible(qualityBadge, false);

  // Events of a replaced playback are ignored (close() also drops its listeners).
  const current = (): boolean => playback === next;
  next.on('status', () => {
    if (!current()) return;
    if (next.status !== 'connecting') notice = null;
    if (next.status === 'offline') updateLatency(null);
    render();
  });
  next.on('sourceChanged', ({ hasVideo }) => {
    if (!current()) return;
    monitor.reset(hasVideo);
    render();
  });
  next.on('notice', (message) => {
    if (!current()) return;
    notice = message;
    render();
  });
  next.on('autoplayBlocked', () => current() && setVisible(playButton, true));
  next.on('viewers', (count) => current() && (viewersText.textContent = formatViewers(count)));
  next.on('qualityLabel', (label) => {
    if (!current()) return;
    qualityBadge.textContent = label ?? '';
    setVisible(qualityBadge, label !== null);
  });
  next.on('fatal', (error) => {
    if (!current()) return;
    const reason = preference === 'auto' && next.transport === 'webrtc' ? fallbackReasonForError(error) : null;
    if (reason) {
      void fallBackToHls(reason, error);
      return;
    }
    fatalMessage = describeFatal(error);
    render();
  });
  next.start().catch(() => undefined); // failures arrive as 'fatal'
  render();
}

function startWebRtc(roomId: string, adopt?: Viewer): void {
  const next = new WebRtcPlayback(video, { room: roomId, ...(token ? { token } : {}), quality: savedQuality(), ...(adopt ? { viewer: adopt } : {}) });
  usePlayback(next);
  if (adopt) next.attachCurrentStream();
  if (preference === 'auto') {
    watchdog = new WebRtcWatchdog(next, monitor, (reason) => void fallBackToHls(reason));
  }
}

async function startHls(roomId: string): Promise<void> {
  // hls.js is a separate chunk: WebRTC viewers never download it.
  const { HlsPlayback } = await import('../player/hlsPlayback');
  usePlayback(new HlsPlayback(video, { room: roomId, quality: savedQuality() }));
}

/** Whether the server produces HLS (an unreachable server: assume yes, HLS retries by itself). */
async function serverHasHls(): Promise<boolean> {
  try {
    return (await fetchRooms()).hlsEnabled;
  } catch {
    return true;
  }
}

/** Gives up on WebRTC for HLS (auto mode), unless HLS cannot help here. */
async function fallBackToHls(reason: FallbackReason, error?: FloodlightError): Promise<void> {
  if (switching || !room || playback?.transport !== 'webrtc') return;
  switching = true;
  render();
  try {
    const hlsPossible = browserCanPlayHls(video) && (await serverHasHls());
    if (!hlsPossible) {
      // Stay on WebRTC: a failing connection keeps retrying by itself; a refusal is shown.
      console.warn(`[floodlight] WebRTC trouble (${reason}) but HLS is not available here`);
      watchdog?.close();
      watchdog = null;
      if (error) fatalMessage = describeFatal(error);
      return;
    }
    console.info(`[floodlight] switching to HLS: ${reason}`);
    fallbackReason = reason;
    await startHls(room);
    if (reason === 'room-full') {
      seatProbe?.stop();
      seatProbe = new SeatProbe({ room, ...(token ? { token } : {}) }, (viewer) => {
        // A WebRTC seat is free again: back to sub-second.
        console.info('[floodlight] a WebRTC seat is free again: switching back from HLS');
        seatProbe = null;
        fallbackReason = null;
        startWebRtc(room, viewer);
      });
    }
  } catch (failure) {
    fatalMessage = describeError(failure);
  } finally {
    switching = false;
    render();
  }
}

function startPlayback(roomId: string): void {
  video.dataset['transport'] = preference === 'hls' ? 'hls' : 'webrtc';
  qoe = new QoeReporter({ room: roomId, video, expectFrames });
  if (preference === 'hls')
    void startHls(roomId).catch((failure: unknown) => {
      fatalMessage = describeError(failure);
      render();
    });
  else startWebRtc(roomId);
  setInterval(() => {
    // Only while frames render: before that the playhead is not at its live position yet.
    const latency = video.dataset['state'] === 'playing' ? (playback?.latency() ?? null) : null;
    if (latency !== null) updateLatency(latency);
    renderTransportBadge();
  }, BADGE_REFRESH_MS);
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
    // iOS Safari has no element fullscreen: the button then does nothing.
    else if ('requestFullscreen' in player) void player.requestFullscreen().catch(() => undefined);
  });
  // Double-click the picture for fullscreen, as on every other player.
  video.addEventListener('dblclick', () => fullscreenButton.click());
  window.addEventListener('pagehide', () => {
    seatProbe?.stop();
    watchdog?.close();
    playback?.close();
  });
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
