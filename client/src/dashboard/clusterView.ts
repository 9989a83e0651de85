/**
 * The cluster panel: every node of the cluster (state, region, roles, CPU,
 * audience, bitrate out, how fresh its announcement is) and every room by
 * node (origin with its epoch, edges with the pipe that feeds each — per
 * track: kind, bitrate, packets, state — and audience per node). Read
 * from GET /api/cluster every 2 s while the dashboard is signed in; a single
 * node without Redis shows itself alone. Below them, the runtime settings
 * operators changed (GET /api/settings: viewer cap, HLS per room, drains).
 */
import {
  edgesOf,
  type ClusterNodeView,
  type ClusterOverview,
  type ClusterPipeView,
  type ClusterRoomView,
  type RuntimeSettingsSnapshot,
} from '../../../server/contracts/clusterApi';
import { fetchCluster, fetchSettings } from '../api/admin';
import { ApiError } from '../api/http';
import { byId, el, setVisible } from '../ui/dom';
import { DASH, formatAgo, formatBitrate, formatNumber } from './format';
import { meter } from './workersView';

const POLL_MS = 2_000;

function cell(text: string, className = ''): HTMLTableCellElement {
  return el('td', { className, text });
}

function nodeRow(node: ClusterNodeView, overview: ClusterOverview): HTMLTableRowElement {
  const origins = overview.rooms.filter((room) => room.origin?.node === node.id).length;
  const edges = overview.rooms.filter((room) => edgesOf(room).includes(node.id)).length;
  const cpu = el('td', { className: 'num' }, [
    meter(node.load.cpu, `${node.id} CPU`),
    el('span', { className: 'small', text: `${Math.round(node.load.cpu * 100)} %` }),
  ]);
  const name = el('th', { attrs: { scope: 'row' } }, [
    el('a', { text: node.id, attrs: { href: node.publicUrl, target: '_blank', rel: 'noopener' } }),
    ...(node.id === overview.node ? [el('span', { className: 'muted small', text: ' (this node)' })] : []),
  ]);
  return el('tr', { attrs: { 'data-node': node.id, 'data-state': node.state } }, [
    name,
    el('td', {}, [el('span', { className: `badge ${node.state === 'serving' ? 'badge-ok' : 'badge-warning'}`, text: node.state })]),
    cell(node.region),
    cell(node.roles.join(', ')),
    cpu,
    cell(formatNumber(node.load.viewers), 'num'),
    cell(formatNumber(node.load.consumers), 'num'),
    cell(formatBitrate(node.load.bitrateOutBps), 'num'),
    cell(`${origins} origin · ${edges} edge`, 'num'),
    cell(formatAgo(node.updatedAt), 'num'),
  ]);
}

/** "video 1.2 Mb/s · 3 456 pkts · flowing", one per track. */
function pipeTracks(pipe: ClusterPipeView): string {
  if (pipe.tracks.length === 0) return 'no tracks yet';
  return [...pipe.tracks]
    .sort((a, b) => a.kind.localeCompare(b.kind))
    .map((track) => `${track.kind} ${formatBitrate(track.bitrateBps)} · ${formatNumber(track.packets)} pkts · ${track.state}`)
    .join('; ');
}

/**
 * Each edge with the pipe that feeds it. An edge with viewers but no pipe
 * reported is shown as such (its origin did not answer, or the pipe is being set up).
 */
function edgesCell(room: ClusterRoomView, unreported: readonly string[]): HTMLTableCellElement {
  const pipes = room.pipes ?? [];
  const edges = [...new Set([...edgesOf(room), ...pipes.map((pipe) => pipe.edge)])].sort();
  if (edges.length === 0) return cell(DASH);
  const originSilent = room.origin !== null && unreported.includes(room.origin.node);
  return el(
    'td',
    {},
    edges.map((edge) => {
      const fed = pipes.filter((pipe) => pipe.edge === edge);
      const detail =
        fed.length > 0 ? fed.map((pipe) => `${pipe.origin} → ${edge}: ${pipeTracks(pipe)}`).join(' | ') : originSilent ? 'pipes not reported' : 'no pipe';
      return el('div', { className: 'small', attrs: { 'data-edge': edge, 'data-pipes': String(fed.length) } }, [
        el('strong', { text: edge }),
        el('span', { className: 'muted', text: ` ${detail}` }),
      ]);
    }),
  );
}

function roomRow(room: ClusterRoomView, unreported: readonly string[]): HTMLTableRowElement {
  const audience = Object.entries(room.viewersByNode)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, viewers]) => `${node}: ${viewers}`)
    .join(' · ');
  return el('tr', { attrs: { 'data-cluster-room': room.id } }, [
    el('th', { attrs: { scope: 'row' }, text: room.id }),
    cell(room.live ? 'live' : 'waiting'),
    cell(room.origin ? `${room.origin.node} (epoch ${room.origin.epoch})` : DASH),
    edgesCell(room, unreported),
    cell(audience || DASH),
  ]);
}

/** One setting per line: what an operator changed, and what still follows the configuration. */
function settingItems(settings: RuntimeSettingsSnapshot): HTMLElement[] {
  const onOff = (map: Record<string, boolean> | undefined, on: string, off: string): string => {
    const entries = Object.entries(map ?? {}).sort(([a], [b]) => a.localeCompare(b));
    return entries.length ? entries.map(([name, value]) => `${name}: ${value ? on : off}`).join(' · ') : 'as configured';
  };
  const item = (name: string, value: string): HTMLElement =>
    el('li', { attrs: { 'data-setting': name } }, [el('strong', { text: `${name}: ` }), el('span', { text: value })]);
  return [
    item(
      'Max WebRTC viewers',
      settings.maxWebRtcViewers === undefined ? 'as configured' : settings.maxWebRtcViewers === 0 ? 'unlimited' : formatNumber(settings.maxWebRtcViewers),
    ),
    item('HLS per room', onOff(settings.hlsLadder, 'on', 'off')),
    item('Two HLS recorders', onOff(settings.hlsRedundant, 'yes', 'no')),
    item('Drain', onOff(settings.drain, 'draining', 'serving')),
  ];
}

export class ClusterView {
  readonly #panel = byId('cluster', HTMLElement);
  readonly #summary = byId('cluster-summary', HTMLParagraphElement);
  readonly #nodes = byId('cluster-nodes', HTMLTableSectionElement);
  readonly #rooms = byId('cluster-rooms', HTMLTableSectionElement);
  readonly #noRooms = byId('cluster-rooms-none', HTMLParagraphElement);
  readonly #settings = byId('cluster-settings', HTMLUListElement);
  #timer: ReturnType<typeof setTimeout> | null = null;
  #generation = 0;
  #last: ClusterOverview | null = null;

  get overview(): ClusterOverview | null {
    return this.#last;
  }

  start(token: string): void {
    this.stop();
    const current = this.#generation;
    const tick = async (): Promise<void> => {
      try {
        const [overview, settings] = await Promise.all([fetchCluster(token), fetchSettings(token)]);
        if (current === this.#generation) {
          this.render(overview);
          this.#settings.replaceChildren(...settingItems(settings));
        }
      } catch (error) {
        // A server without the cluster API (404) has no panel; auth and reachability are the live feed's to report.
        if (error instanceof ApiError && error.status === 404) setVisible(this.#panel, false);
      }
      if (current === this.#generation) this.#timer = setTimeout(() => void tick(), POLL_MS);
    };
    void tick();
  }

  stop(): void {
    this.#generation++;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  render(overview: ClusterOverview): void {
    this.#last = overview;
    setVisible(this.#panel, true);
    this.#summary.textContent =
      overview.mode === 'memory'
        ? 'Single node (no REDIS_URL): this node serves every room.'
        : `${overview.nodes.length} ${overview.nodes.length === 1 ? 'node' : 'nodes'} on Redis · ${overview.rooms.length} ${overview.rooms.length === 1 ? 'room' : 'rooms'} · answered by ${overview.node}`;
    const nodes = [...overview.nodes].sort((a, b) => a.id.localeCompare(b.id));
    this.#nodes.replaceChildren(...nodes.map((node) => nodeRow(node, overview)));
    const unreported = overview.pipesUnreported ?? [];
    this.#rooms.replaceChildren(...overview.rooms.map((room) => roomRow(room, unreported)));
    setVisible(this.#noRooms, overview.rooms.length === 0);
  }
}
