/** The workers panel: one card per mediasoup worker (CPU meter, counts, memory). */
import type { WorkerOverview } from '../../../server/contracts/adminApi';
import { el } from '../ui/dom';
import { formatBytes, formatNumber } from './format';

export function meter(fraction: number, label: string): HTMLElement {
  const fill = el('div', { className: 'meter-fill' });
  const value = Math.max(0, Math.min(1, fraction));
  // CSSOM, not a style attribute: allowed by the CSP.
  fill.style.width = `${(value * 100).toFixed(1)}%`;
  fill.dataset['level'] = value >= 0.85 ? 'high' : value >= 0.6 ? 'mid' : 'low';
  return el(
    'div',
    {
      className: 'meter',
      attrs: { role: 'meter', 'aria-label': label, 'aria-valuemin': '0', 'aria-valuemax': '100', 'aria-valuenow': String(Math.round(value * 100)) },
    },
    [fill],
  );
}

function stat(label: string, value: string): HTMLElement {
  return el('div', { className: 'worker-stat' }, [
    el('span', { className: 'worker-stat-value', text: value }),
    el('span', { className: 'worker-stat-label', text: label }),
  ]);
}

function workerItem(worker: WorkerOverview): HTMLLIElement {
  return el('li', { className: 'worker', attrs: { 'data-alive': String(worker.alive), 'data-worker': String(worker.index) } }, [
    el('div', { className: 'worker-head' }, [
      el('strong', { text: `Worker ${worker.index}` }),
      el('span', { className: `badge ${worker.alive ? 'badge-ok' : 'badge-critical'}`, text: worker.alive ? 'alive' : 'down' }),
      el('span', { className: 'muted small', text: worker.pid === null ? '' : `pid ${worker.pid}` }),
      el('span', { className: 'worker-cpu', text: `CPU ${Math.round(worker.cpu * 100)} %` }),
    ]),
    meter(worker.cpu, `Worker ${worker.index} CPU`),
    el('div', { className: 'worker-stats' }, [
      stat('consumers', formatNumber(worker.consumers)),
      stat('producers', formatNumber(worker.producers)),
      stat('transports', formatNumber(worker.transports)),
      stat('routers', formatNumber(worker.routers)),
      stat('memory', formatBytes(worker.memoryBytes)),
      stat('restarts', formatNumber(worker.restarts)),
    ]),
  ]);
}

export function renderWorkers(list: HTMLUListElement, workers: WorkerOverview[]): void {
  list.replaceChildren(...[...workers].sort((a, b) => a.index - b.index).map(workerItem));
}
