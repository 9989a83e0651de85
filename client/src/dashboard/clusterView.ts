/**
 * The cluster panel: every node of the cluster (state, region, roles, CPU,
 * audience, bitrate out, how fresh its announcement is) and every room by
 * node (origin with its epoch, edges fed by pipes, audience per node). Read
 * from GET /api/cluster every 2 s while the dashboard is signed in; a single
 * node without Redis shows itself alone.
 */
import { edgesOf, type ClusterNodeView, type ClusterOverview, type ClusterRoomView } from '../../../server/contracts/clusterApi';
import { fetchCluster } from '../api/admin';
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

function roomRow(room: ClusterRoomView): HTMLTableRowElement {
  const edges = edgesOf(room);
  const audience = Object.entries(room.viewersByNode)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([node, viewers]) => `${node}: ${viewers}`)
    .join(' · ');
  return el('tr', { attrs: { 'data-cluster-room': room.id } }, [
    el('th', { attrs: { scope: 'row' }, text: room.id }),
    cell(room.live ? 'live' : 'waiting'),
    cell(room.origin ? `${room.origin.node} (epoch ${room.origin.epoch})` : DASH),
    cell(edges.length > 0 ? edges.join(', ') : DASH),
    cell(audience || DASH),
  ]);
}

export class ClusterView {
  readonly #panel = byId('cluster', HTMLElement);
  readonly #summary = byId('cluster-summary', HTMLParagraphElement);
  readonly #nodes = byId('cluster-nodes', HTMLTableSectionElement);
  readonly #rooms = byId('cluster-rooms', HTMLTableSectionElement);
  readonly #noRooms = byId('cluster-rooms-none', HTMLParagraphElement);
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
        const overview = await fetchCluster(token);
        if (current === this.#generation) this.render(overview);
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
    this.#rooms.replaceChildren(...overview.rooms.map(roomRow));
    setVisible(this.#noRooms, overview.rooms.length === 0);
  }
}
