/**
 * /broadcast?room=R&token=T[&autostart=1] — camera/mic/screen capture, preview
 * and the Go live / Stop controls. CONTRACT: <main data-state="idle|live|error">,
 * 'live' only while the Publisher is actually sending.
 */
import { Publisher, type PublisherState } from '../sdk/publisher';
import type { VideoCodecName } from '../sdk/encoding';
import { byId, describeError, formatViewers, isValidRoomId, setVisible, watchUrl } from '../ui/dom';

declare global {
  interface Window {
    floodlight?: Record<string, unknown>;
  }
}

type PageState = 'idle' | 'live' | 'error';

const params = new URLSearchParams(location.search);
const room = params.get('room');
const token = params.get('token') ?? '';
const autostart = params.get('autostart') === '1';

const pageRoot = byId('app', HTMLElement);
const preview = byId('preview', HTMLVideoElement);
const previewEmpty = byId('preview-empty', HTMLDivElement);
const liveBadge = byId('live-badge', HTMLSpanElement);
const viewerBadge = byId('viewer-count', HTMLSpanElement);
const statusText = byId('status', HTMLParagraphElement);
const errorBox = byId('error', HTMLParagraphElement);
const roomTitle = byId('room-title', HTMLHeadingElement);
const setupForm = byId('setup-form', HTMLFormElement);
const controls = byId('controls', HTMLDivElement);
const cameraSelect = byId('camera-select', HTMLSelectElement);
const micSelect = byId('mic-select', HTMLSelectElement);
const codecSelect = byId('codec-select', HTMLSelectElement);
const screenButton = byId('share-screen', HTMLButtonElement);
const muteButton = byId('mute-mic', HTMLButtonElement);
const goLiveButton = byId('go-live', HTMLButtonElement);
const stopButton = byId('stop', HTMLButtonElement);
const watchLink = byId('watch-link', HTMLInputElement);
const openWatchLink = byId('open-watch', HTMLAnchorElement);
const copyButton = byId('copy-link', HTMLButtonElement);

/** Camera + microphone capture (either may be missing). */
let cameraStream = new MediaStream();
/** Screen capture while sharing, else null. */
let screenStream: MediaStream | null = null;
let publisher: Publisher | null = null;
/** A local problem (no camera, failed capture…) shown with the error style. */
let localError: string | null = null;
/** Go live could not even start (nothing to send): the page is in 'error'. */
let startFailed = false;
let retryNotice: string | null = null;

const CAPTURE_VIDEO: MediaTrackConstraints = {
  width: { ideal: 1280 },
  height: { ideal: 720 },
  frameRate: { ideal: 30 },
};
const CAPTURE_AUDIO: MediaTrackConstraints = {
  echoCancellation: true,
  noiseSuppression: true,
  autoGainControl: true,
};

// ---------------------------------------------------------------- capture

/** What goes on air: screen video (+ its audio, else the mic) while sharing, else camera + mic. */
function outgoingStream(): MediaStream {
  const mic = cameraStream.getAudioTracks();
  if (!screenStream) return cameraStream;
  const screenAudio = screenStream.getAudioTracks();
  return new MediaStream([...screenStream.getVideoTracks(), ...(screenAudio.length ? screenAudio : mic)]);
}

function selectedCodec(): VideoCodecName {
  return codecSelect.value === 'h264' ? 'h264' : 'vp8';
}

function publishOptions() {
  return {
    source: screenStream ? ('screen' as const) : ('camera' as const),
    videoCodec: selectedCodec(),
    ...(screenStream && screenStream.getAudioTracks().length === 0 ? { audioSource: 'microphone' as const } : {}),
  };
}

async function captureTrack(kind: 'audio' | 'video', deviceId?: string): Promise<MediaStreamTrack | null> {
  const base = kind === 'video' ? CAPTURE_VIDEO : CAPTURE_AUDIO;
  const constraints = deviceId ? { ...base, deviceId: { exact: deviceId } } : base;
  const stream = await navigator.mediaDevices.getUserMedia({ [kind]: constraints });
  return stream.getTracks()[0] ?? null;
}

/** First capture: both at once (one permission prompt), then each alone if that fails. */
async function openDefaultDevices(): Promise<void> {
  try {
    cameraStream = await navigator.mediaDevices.getUserMedia({ video: CAPTURE_VIDEO, audio: CAPTURE_AUDIO });
    return;
  } catch (error) {
    console.warn('[broadcast] camera+mic capture failed, trying separately', error);
  }
  const tracks: MediaStreamTrack[] = [];
  const problems: string[] = [];
  for (const kind of ['video', 'audio'] as const) {
    try {
      const track = await captureTrack(kind);
      if (track) tracks.push(track);
    } catch (error) {
      problems.push(`${kind === 'video' ? 'camera' : 'microphone'}: ${describeError(error)}`);
    }
  }
  cameraStream = new MediaStream(tracks);
  if (problems.length) localError = `Could not open ${problems.join('; ')}`;
}

/** Swaps the camera or microphone track for another device, keeping the other one. */
async function switchDevice(kind: 'audio' | 'video', deviceId: string): Promise<void> {
  const old = kind === 'video' ? cameraStream.getVideoTracks() : cameraStream.getAudioTracks();
  if (old[0]?.getSettings().deviceId === deviceId) return;
  // Release the old device first: some cameras cannot be opened twice.
  for (const track of old) track.stop();
  try {
    const track = await captureTrack(kind, deviceId);
    const keep = kind === 'video' ? cameraStream.getAudioTracks() : cameraStream.getVideoTracks();
    cameraStream = new MediaStream([...(kind === 'video' && track ? [track] : []), ...keep, ...(kind === 'audio' && track ? [track] : [])]);
    localError = null;
  } catch (error) {
    localError = `Could not open that ${kind === 'video' ? 'camera' : 'microphone'}: ${describeError(error)}`;
    cameraStream = new MediaStream(kind === 'video' ? cameraStream.getAudioTracks() : cameraStream.getVideoTracks());
  }
  await mediaChanged();
}

async function startScreenShare(): Promise<void> {
  try {
    screenStream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 30 } }, audio: true });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'NotAllowedError') return; // user cancelled
    localError = `Screen sharing failed: ${describeError(error)}`;
    render();
    return;
  }
  // The browser's own "Stop sharing" button ends the track: fall back to the camera.
  screenStream.getVideoTracks()[0]?.addEventListener('ended', () => void stopScreenShare());
  await mediaChanged();
}

async function stopScreenShare(): Promise<void> {
  if (!screenStream) return;
  for (const track of screenStream.getTracks()) track.stop();
  screenStream = null;
  await mediaChanged();
}

/** Preview and (when on air) the publisher follow the capture. */
async function mediaChanged(): Promise<void> {
  showPreview();
  await populateDevicePickers();
  render();
  if (publisher && publisher.state !== 'idle' && publisher.state !== 'error' && publisher.state !== 'closed') {
    const stream = outgoingStream();
    if (stream.getTracks().length === 0) return;
    await publisher.publish(stream, publishOptions()).catch((error: unknown) => console.warn('[broadcast] switch failed', error));
  }
}

function showPreview(): void {
  const stream = outgoingStream();
  const videoTrack = stream.getVideoTracks()[0];
  preview.srcObject = videoTrack ? new MediaStream([videoTrack]) : null;
  setVisible(previewEmpty, !videoTrack);
  if (videoTrack) void preview.play().catch(() => undefined);
}

async function populateDevicePickers(): Promise<void> {
  let devices: MediaDeviceInfo[] = [];
  try {
    devices = await navigator.mediaDevices.enumerateDevices();
  } catch {
    return;
  }
  fillSelect(
    cameraSelect,
    devices.filter((d) => d.kind === 'videoinput'),
    cameraStream.getVideoTracks()[0],
    'Camera',
  );
  fillSelect(
    micSelect,
    devices.filter((d) => d.kind === 'audioinput'),
    cameraStream.getAudioTracks()[0],
    'Microphone',
  );
}

function fillSelect(select: HTMLSelectElement, devices: MediaDeviceInfo[], active: MediaStreamTrack | undefined, noun: string): void {
  const activeId = active?.getSettings().deviceId;
  select.replaceChildren(
    ...devices
      .filter((device) => device.deviceId !== '')
      .map((device, index) => {
        const option = new Option(device.label || `${noun} ${index + 1}`, device.deviceId);
        option.selected = device.deviceId === activeId;
        return option;
      }),
  );
  if (select.options.length === 0) select.append(new Option(`No ${noun.toLowerCase()} found`, ''));
}

// ---------------------------------------------------------------- publishing

function ensurePublisher(): Publisher {
  if (publisher) return publisher;
  const created = new Publisher({ room: room ?? '', token });
  created.on('state', () => {
    if (created.state !== 'connecting') retryNotice = null;
    render();
  });
  created.on('retry', ({ error, delayMs }) => {
    const when = delayMs === undefined ? '' : ` in ${Math.ceil(delayMs / 1000)} s`;
    retryNotice = `${error.code}: ${error.message} — retrying${when}`;
    render();
  });
  created.on('roomStatus', ({ viewers }) => (viewerBadge.textContent = formatViewers(viewers)));
  created.on('trackEnded', ({ kind, track }) => {
    // Screen tracks ending are handled by stopScreenShare(); only the camera/mic are news.
    if (!cameraStream.getTracks().includes(track)) return;
    localError = `Your ${kind === 'video' ? 'camera' : 'microphone'} stopped.`;
    render();
  });
  publisher = created;
  window.floodlight = { publisher: created };
  return created;
}

async function goLive(): Promise<void> {
  const stream = outgoingStream();
  if (stream.getTracks().length === 0) {
    localError = 'Nothing to send: allow the camera/microphone or share your screen.';
    startFailed = true;
    render();
    return;
  }
  localError = null;
  startFailed = false;
  const p = ensurePublisher();
  const going = p.publish(stream, publishOptions());
  render();
  try {
    await going;
  } catch (error) {
    console.warn('[broadcast] could not go live', error);
  }
  render();
}

function stop(): void {
  publisher?.stop();
  render();
}

// ---------------------------------------------------------------- rendering

const STATUS_TEXT: Record<PublisherState, string> = {
  idle: 'Ready to go live',
  connecting: 'Connecting…',
  live: 'You are live',
  reconnecting: 'Connection lost — reconnecting…',
  error: 'Could not go live',
  closed: 'Closed',
};

function pageState(state: PublisherState): PageState {
  if (state === 'live') return 'live';
  if (state === 'error') return 'error';
  return 'idle';
}

function render(): void {
  const state: PublisherState = publisher?.state ?? 'idle';
  const onAir = state === 'connecting' || state === 'live' || state === 'reconnecting';
  const sdkError = state === 'error' ? (publisher?.error ?? null) : null;

  pageRoot.dataset['state'] = startFailed && !onAir ? 'error' : pageState(state);
  pageRoot.dataset['publisherState'] = state;

  statusText.textContent = state === 'connecting' && retryNotice ? `Connecting… (${retryNotice})` : STATUS_TEXT[state];
  const message = sdkError ? describeError(sdkError) : localError;
  errorBox.textContent = message ?? '';
  setVisible(errorBox, message !== null);

  setVisible(liveBadge, state === 'live');
  goLiveButton.disabled = onAir;
  stopButton.disabled = !onAir;
  codecSelect.disabled = onAir; // a codec change needs a new producer; keep it simple
  cameraSelect.disabled = screenStream !== null;
  screenButton.textContent = screenStream ? 'Stop sharing' : 'Share screen';
  screenButton.setAttribute('aria-pressed', String(screenStream !== null));
  const micPaused = publisher?.isPaused('audio') ?? false;
  muteButton.textContent = micPaused ? 'Unmute mic' : 'Mute mic';
  muteButton.setAttribute('aria-pressed', String(micPaused));
}

function bindControls(): void {
  goLiveButton.addEventListener('click', () => void goLive());
  stopButton.addEventListener('click', stop);
  screenButton.addEventListener('click', () => void (screenStream ? stopScreenShare() : startScreenShare()));
  cameraSelect.addEventListener('change', () => void switchDevice('video', cameraSelect.value));
  micSelect.addEventListener('change', () => void switchDevice('audio', micSelect.value));
  muteButton.addEventListener('click', () => {
    const p = ensurePublisher();
    const paused = !p.isPaused('audio');
    // Disable the local track too, so muting works before going live as well.
    for (const track of outgoingStream().getAudioTracks()) track.enabled = !paused;
    void p.setPaused('audio', paused).then(render);
    render();
  });
  copyButton.addEventListener('click', () => {
    navigator.clipboard
      .writeText(watchLink.value)
      .then(() => {
        copyButton.textContent = 'Copied';
        setTimeout(() => (copyButton.textContent = 'Copy'), 1500);
      })
      .catch(() => watchLink.select());
  });
  watchLink.addEventListener('focus', () => watchLink.select());
  mediaDevices()?.addEventListener('devicechange', () => void populateDevicePickers());
  window.addEventListener('pagehide', () => publisher?.close());
  // Back/forward cache restores a page whose session was closed on pagehide: start fresh.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });
}

async function init(): Promise<void> {
  if (!isValidRoomId(room)) {
    setVisible(setupForm, true);
    setVisible(controls, false);
    statusText.textContent = room ? 'That room name is not valid.' : 'Choose a room to broadcast to.';
    return;
  }
  roomTitle.textContent = room;
  document.title = `Broadcast ${room} — Floodlight`;
  watchLink.value = watchUrl(room);
  openWatchLink.href = watchUrl(room);
  bindControls();
  ensurePublisher();
  render();

  if (!mediaDevices()) {
    localError = 'This browser cannot capture media (a secure context — https or localhost — is required).';
    render();
    return;
  }
  await openDefaultDevices();
  showPreview();
  await populateDevicePickers();
  render();
  if (autostart) await goLive();
}

/** navigator.mediaDevices is missing outside secure contexts, whatever lib.dom says. */
function mediaDevices(): MediaDevices | undefined {
  const devices: MediaDevices | undefined = navigator.mediaDevices;
  return devices;
}

void init();
