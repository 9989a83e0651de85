/**
 * The drill-down of one room: GET /api/rooms/<room>/stats every 2 s, its
 * figures (media, audience, QoE, HLS), history graphs, alerts and thumbnail;
 * its ingest section (ProgramSection: which encoder is on air, both
 * slots' health, the last switch) from the admin GET /api/rooms/<room>/program,
 * and its stream keys (streamKeysSection.ts).
 */
import type { RoomStats } from '../../../server/contracts/adminApi';
import type { ProgramSlotStatus, ProgramStatus } from '../../../server/contracts/programApi';
import type { IngestHealth, RoomIngestStats } from '../../../server/contracts/ingestHealth';
import { fetchRoomStats } from '../api/admin';
import { ApiError, getJson } from '../api/http';
import { takeToken } from './adminToken';
import { byId, el, setVisible } from '../ui/dom';
import { byRecency } from './alertBook';
import { alertItem } from './alertItem';
import { DASH, formatBitrate, formatDuration, formatMs, formatNumber, formatPercent, formatVideo, secondsSince } from './format';
import { charts, formatMbps } from './overviewCharts';
import { RoomThumbnail } from './roomThumbnail';
import { StreamKeysSection } from './streamKeysSection';
import { CHART_COLORS, TimeChart } from './timeChart';

const POLL_MS = 2_000;

/** One label/value pair (a div per pair: allowed inside <dl>, keeps them together in the grid). */
function figure(label: string, value: string, hint?: string): HTMLElement {
  const dd = el('dd', { text: value });
  if (hint) dd.title = hint;
  return el('div', { className: 'figure' }, [el('dt', { text: label }), dd]);
}

function figures(stats: RoomStats): HTMLElement[] {
  const q = stats.qoe;
  const hlsAge = stats.hls.playlistAgeSeconds;
  return [
    figure('Video', stats.live ? formatVideo(stats.video) : DASH),
    figure('Video bitrate', formatBitrate(stats.video.bitrateBps)),
    figure('Audio bitrate', formatBitrate(stats.audio.bitrateBps)),
    figure('Stream score', stats.video.score === null ? DASH : `${stats.video.score} / 10`, "mediasoup's score of the publisher's video"),
    figure('Packet loss', formatPercent(stats.lossPercent)),
    figure('RTT', formatMs(stats.rttMs)),
    figure('Jitter', formatMs(stats.jitterMs)),
    figure('Viewers', `${stats.viewers.webrtc} WebRTC · ${stats.viewers.hls} HLS`),
    figure('Joins / leaves', `${formatNumber(stats.joins)} / ${formatNumber(stats.leaves)}`),
    figure('Watch time', formatDuration(stats.watchTimeSeconds)),
    figure('QoE sessions', formatNumber(q.sessions)),
    figure('Freezes / min', formatNumber(q.freezesPerMinute, 2)),
    figure('Dropped frames', formatPercent(q.droppedFramesPercent, 2)),
    figure('Jitter buffer', formatMs(q.jitterBufferDelayMs)),
    figure('HLS latency', formatMs(q.latencyMs)),
    figure('First frame (p50)', formatMs(q.firstFrameMsP50)),
    figure('HLS', stats.hls.available ? `ready · playlist ${hlsAge === null ? DASH : `${hlsAge.toFixed(1)} s old`}` : 'not available'),
  ];
}

const PROTOCOL_NAMES: Record<IngestHealth['protocol'], string> = { webrtc: 'Browser', whip: 'WHIP', rtmp: 'RTMP', srt: 'SRT', cascade: 'Cascade' };

/** One ingest: what the encoder sends, what the server does with it, and what to fix. */
function ingestCard(ingest: IngestHealth): HTMLElement {
  const v = ingest.video;
  const size = v?.width && v.height ? `${v.width}×${v.height}${v.fps ? ` @ ${formatNumber(v.fps, 0)}` : ''}` : DASH;
  const handling = v
    ? `${v.handling === 'transcode' ? 'Re-encoded' : v.handling === 'copy' ? 'Copied' : 'Forwarded'}${ingest.cpuPercent === null ? '' : ` · ${formatNumber(ingest.cpuPercent, 0)} % CPU`}`
    : DASH;
  const list = el('dl', { className: 'figures' }, [
    figure('Video', v ? [v.codec ?? DASH, v.profile].filter(Boolean).join(' ') : DASH),
    figure('Resolution', size),
    figure('Bitrate', formatBitrate(ingest.bitrateBps)),
    figure('Key frames', ingest.keyFrameIntervalMs === null ? DASH : `every ${(ingest.keyFrameIntervalMs / 1000).toFixed(1)} s`),
    figure('B-frames', v?.bFrames === null || v === null ? DASH : v.bFrames ? 'yes' : 'no'),
    figure('Handling', handling, v?.reason ?? undefined),
    figure('Audio', ingest.audio ? `${ingest.audio.codec ?? DASH}${ingest.audio.handling === 'transcode' ? ' → Opus' : ''}` : DASH),
    figure('Packet loss', formatPercent(ingest.packetLossPercent)),
  ]);
  const warnings = el(
    'ul',
    { className: 'ingest-warnings' },
    ingest.warnings.map((text) => el('li', { text })),
  );
  const title = `${PROTOCOL_NAMES[ingest.protocol]} · ${ingest.slot}${ingest.remoteAddress ? ` · ${ingest.remoteAddress}` : ''}`;
  const card = el('section', { className: 'ingest' }, [el('h4', { text: title }), list, warnings]);
  card.dataset['protocol'] = ingest.protocol;
  return card;
}

function status(stats: RoomStats): string {
  if (!stats.live) return 'Offline';
  const viewers = stats.viewers.webrtc + stats.viewers.hls;
  const liveFor = secondsSince(stats.since);
  return `Live${liveFor === null ? '' : ` for ${formatDuration(liveFor)}`} · ${viewers} ${viewers === 1 ? 'viewer' : 'viewers'}`;
}

const slotName = (slot: string): string => (slot === 'primary' ? 'Primary' : 'Backup');

function slotFigure(slot: ProgramSlotStatus): HTMLElement {
  if (!slot.present) return figure(`${slotName(slot.slot)} encoder`, 'not connected');
  const age = slot.lastMediaAgeMs === null ? 'no media yet' : `last video ${formatMs(slot.lastMediaAgeMs)} ago`;
  const value = `${slot.healthy ? 'healthy' : 'stalled'} · ${slot.protocol ?? DASH} · ${formatBitrate(slot.bitrateBps ?? 0)}`;
  const gop = slot.keyFrameIntervalMs === null ? '' : ` · key frame every ${formatMs(slot.keyFrameIntervalMs)}`;
  return figure(`${slotName(slot.slot)} encoder`, value, `${age}${gop}`);
}

/**
 * The room's backup ingest, polled with the room (admin token): hidden for a
 * room without encoders on this node (404) or when the token is refused.
 */
class ProgramSection {
  readonly #root = el('div', { className: 'program-section' });
  readonly #figures = el('dl', { className: 'figures' });

  constructor(after: HTMLElement) {
    this.#root.append(el('h3', { className: 'panel-subtitle', text: 'Ingest (primary / backup)' }), this.#figures);
    after.after(this.#root);
    setVisible(this.#root, false);
  }

  clear(): void {
    this.#figures.replaceChildren();
    setVisible(this.#root, false);
  }

  async refresh(room: string, isCurrent: () => boolean): Promise<void> {
    let status: ProgramStatus | undefined;
    try {
      status = await getJson<ProgramStatus>(`/api/rooms/${encodeURIComponent(room)}/program`, { token: takeToken(), signal: AbortSignal.timeout(POLL_MS * 2) });
    } catch {
      status = undefined;
    }
    if (!isCurrent()) return;
    if (!status || status.slots.every((s) => !s.present)) {
      this.clear();
      return;
    }
    const last = status.lastSwitch;
    const lastAgo = last ? secondsSince(last.at) : null;
    this.#figures.replaceChildren(
      figure(
        'On air',
        status.active ? `${slotName(status.active)}${status.pinned ? ' (pinned by an operator)' : ''}` : DASH,
        status.relayed ? 'relayed: viewers keep their stream through a switch' : 'direct',
      ),
      ...status.slots.map(slotFigure),
      figure(
        'Last switch',
        last ? `${slotName(last.from)} → ${slotName(last.to)} · ${last.reason}${lastAgo === null ? '' : ` · ${formatDuration(lastAgo)} ago`}` : 'none',
        `stall after ${status.settings.stallMs} ms, fail-back after ${status.settings.failbackSeconds} s`,
      ),
      figure('Switches', formatNumber(status.switches)),
    );
    setVisible(this.#root, true);
  }
}

export class RoomDetail {
  readonly #panel = byId('room-detail', HTMLElement);
  readonly #title = byId('detail-title', HTMLHeadingElement);
  readonly #status = byId('detail-status', HTMLParagraphElement);
  readonly #watch = byId('detail-watch', HTMLAnchorElement);
  readonly #error = byId('detail-error', HTMLParagraphElement);
  readonly #initial = byId('detail-initial', HTMLSpanElement);
  readonly #figures = byId('detail-figures', HTMLDListElement);
  readonly #alerts = byId('detail-alerts', HTMLUListElement);
  readonly #noAlerts = byId('detail-alerts-none', HTMLParagraphElement);
  readonly #thumbnail = new RoomThumbnail(byId('detail-thumb', HTMLDivElement));
  readonly #program = new ProgramSection(byId('detail-figures', HTMLDListElement).parentElement ?? byId('detail-figures', HTMLDListElement));
  readonly #keys = new StreamKeysSection(byId('detail-figures', HTMLDListElement).parentElement ?? byId('detail-figures', HTMLDListElement));
  /** The room's ingests (encoders), right after its figures. */
  readonly #ingest = el('div', { className: 'detail-ingest' });
  #room: string | null = null;
  #timer: ReturnType<typeof setTimeout> | null = null;
  /** Bumped on every selection: stale answers are dropped. */
  #generation = 0;

  constructor(onClose: () => void) {
    byId('detail-close', HTMLButtonElement).addEventListener('click', onClose);
    this.#ingest.id = 'detail-ingest';
    this.#figures.after(this.#ingest);
  }

  get room(): string | null {
    return this.#room;
  }

  /** Shows (or with null hides) a room's drill-down; false when it is the one already shown. */
  select(room: string | null): boolean {
    if (room === this.#room) {
      if (room) this.#panel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
      return false;
    }
    this.#room = room;
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#thumbnail.drop();
    setVisible(this.#panel, room !== null);
    if (!room) {
      this.#keys.clear();
      return true;
    }
    this.#title.textContent = room;
    this.#initial.textContent = room.charAt(0).toUpperCase();
    this.#watch.href = `/watch?room=${encodeURIComponent(room)}`;
    this.#status.textContent = 'Loading…';
    this.#figures.replaceChildren();
    this.#ingest.replaceChildren();
    this.#alerts.replaceChildren();
    this.#program.clear();
    this.#keys.clear();
    void this.#keys.show(room);
    setVisible(this.#error, false);
    const { main, loss } = this.#charts();
    main.clear();
    loss.clear();
    void this.#refresh(room, this.#generation);
    this.#panel.scrollIntoView({ behavior: 'smooth', block: 'nearest' });
    return true;
  }

  #charts(): { main: TimeChart; loss: TimeChart } {
    charts['room'] ??= new TimeChart(byId('chart-room', HTMLDivElement), {
      series: [
        { label: 'In', color: CHART_COLORS[0]!, fill: true },
        { label: 'Out', color: CHART_COLORS[2]! },
        { label: 'Viewers', color: CHART_COLORS[1]!, scale: 'viewers' },
      ],
      rightScale: 'viewers',
      format: formatMbps,
      formatRight: (v) => v.toFixed(0),
      minMax: 1,
      minMaxRight: 4,
    });
    charts['roomLoss'] ??= new TimeChart(byId('chart-room-loss', HTMLDivElement), {
      series: [{ label: 'Loss', color: CHART_COLORS[4]!, fill: true }],
      format: (v) => v.toFixed(1),
      minMax: 2,
    });
    return { main: charts['room'], loss: charts['roomLoss'] };
  }

  async #refresh(room: string, current: number): Promise<void> {
    try {
      const stats = await fetchRoomStats(room);
      if (current !== this.#generation) return;
      setVisible(this.#error, false);
      this.#render(stats);
      await this.#program.refresh(room, () => current === this.#generation);
    } catch (error) {
      if (current !== this.#generation) return;
      this.#error.textContent =
        error instanceof ApiError && error.status === 404
          ? `Room ${room} does not exist (any more).`
          : `Cannot load the room's stats (${error instanceof Error ? error.message : String(error)}).`;
      setVisible(this.#error, true);
    } finally {
      if (current === this.#generation) this.#timer = setTimeout(() => void this.#refresh(room, current), POLL_MS);
    }
  }

  #render(stats: RoomStats): void {
    this.#status.textContent = status(stats);
    this.#panel.dataset['live'] = String(stats.live);
    this.#figures.replaceChildren(...figures(stats));
    // `ingest` is added by the stats route (contracts/ingestHealth.ts); a server before it has none.
    const ingests = (stats as RoomStats & Partial<RoomIngestStats>).ingest ?? [];
    this.#ingest.replaceChildren(...(ingests.length > 0 ? [el('h3', { text: 'Ingest' }), ...ingests.map(ingestCard)] : []));

    const { main, loss } = this.#charts();
    const mbps = (bps: number) => bps / 1e6;
    main.setPoints(stats.history.map((p) => ({ t: p.t, values: [mbps(p.bitrateInBps), mbps(p.bitrateOutBps), p.viewers] })));
    loss.setPoints(stats.history.map((p) => ({ t: p.t, values: [p.lossPercent] })));

    const alerts = [...stats.alerts].sort((a, b) => Number(b.state === 'firing') - Number(a.state === 'firing') || byRecency(a, b));
    this.#alerts.replaceChildren(...alerts.map(alertItem));
    setVisible(this.#noAlerts, alerts.length === 0);

    this.#thumbnail.show(stats.thumbnail, `Latest frame of ${stats.id}`);
  }
}
