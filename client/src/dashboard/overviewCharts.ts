/**
 * The overview's time charts (viewers, bitrate, loss, CPU per worker): one
 * point per overview snapshot, the last 5 min kept. All charts of the page,
 * the drill-down's included, are registered in `charts` (tests read it).
 */
import type { Overview, RoomStats, WorkerOverview } from '../../../server/contracts/adminApi';
import { byId } from '../ui/dom';
import { epochMs, formatNumber } from './format';
import { CHART_COLORS, TimeChart } from './timeChart';

export const charts: Record<string, TimeChart> = {};

/** Axis/legend figures in Mbit/s: "12", "3.5", "0.25". */
export function formatMbps(value: number): string {
  return value >= 10 ? value.toFixed(0) : String(Number(value.toFixed(2)));
}

/** Packet loss over the live rooms (null without any). */
export function lossFigures(rooms: RoomStats[]): { worst: number | null; average: number | null } {
  const values = rooms.filter((room) => room.live).map((room) => room.lossPercent);
  if (values.length === 0) return { worst: null, average: null };
  return { worst: Math.max(...values), average: values.reduce((a, b) => a + b, 0) / values.length };
}

function createOverviewCharts(): void {
  if (charts['viewers']) return;
  charts['viewers'] = new TimeChart(byId('chart-viewers', HTMLDivElement), {
    series: [
      { label: 'WebRTC', color: CHART_COLORS[1]!, fill: true },
      { label: 'HLS', color: CHART_COLORS[0]!, fill: true },
    ],
    format: (v) => formatNumber(v),
    minMax: 4,
  });
  charts['bitrate'] = new TimeChart(byId('chart-bitrate', HTMLDivElement), {
    series: [
      { label: 'In', color: CHART_COLORS[0]!, fill: true },
      { label: 'Out', color: CHART_COLORS[2]!, fill: true },
    ],
    format: formatMbps,
    minMax: 1,
  });
  charts['loss'] = new TimeChart(byId('chart-loss', HTMLDivElement), {
    series: [
      { label: 'Worst room', color: CHART_COLORS[4]! },
      { label: 'Average', color: CHART_COLORS[0]!, dash: [4, 4] },
    ],
    format: (v) => v.toFixed(1),
    minMax: 2,
  });
}

/** One line per worker; rebuilt (history dropped) if the number of workers changes. */
function ensureCpuChart(workers: WorkerOverview[]): TimeChart {
  const container = byId('chart-cpu', HTMLDivElement);
  const existing = charts['cpu'];
  if (existing && container.dataset['workers'] === String(workers.length)) return existing;
  existing?.destroy();
  container.replaceChildren();
  container.dataset['workers'] = String(workers.length);
  const chart = new TimeChart(container, {
    series: workers.map((worker, i) => ({ label: `Worker ${worker.index}`, color: CHART_COLORS[(i + 2) % CHART_COLORS.length]! })),
    format: (v) => v.toFixed(0),
    minMax: 20,
  });
  charts['cpu'] = chart;
  return chart;
}

export function pushOverviewCharts(overview: Overview): void {
  createOverviewCharts();
  const t = epochMs(overview.at) ?? Date.now();
  const { totals } = overview;
  charts['viewers']!.push(t, [totals.webrtcViewers, totals.hlsViewers]);
  charts['bitrate']!.push(t, [totals.bitrateInBps / 1e6, totals.bitrateOutBps / 1e6]);
  const loss = lossFigures(overview.rooms);
  // No live room: loss is 0 rather than a gap, so the line keeps going.
  charts['loss']!.push(t, [loss.worst ?? 0, loss.average ?? 0]);
  ensureCpuChart(overview.workers).push(
    t,
    overview.workers.map((worker) => (worker.alive ? worker.cpu * 100 : null)),
  );
}
