/**
 * A live time-series chart (uPlot on a canvas) that keeps the last few
 * minutes of points client-side and scrolls: the x axis always ends at the
 * newest point. Styled for the dark theme through uPlot's options (colours go
 * to the canvas) and a few `.u-*` rules in style.css; uPlot only sets styles
 * through the CSSOM (element.style), which the pages' CSP allows.
 *
 *   const chart = new TimeChart(div, { series: [{ label: 'In', color: '#ffb547' }], unit: 'Mbit/s' });
 *   chart.push(Date.now(), [3.2]);
 */
import uPlot from 'uplot';

export interface LineSpec {
  label: string;
  color: string;
  /** Scale key (a second y axis on the right when `axes` names it). Default 'y'. */
  scale?: string;
  /** Fill under the line (translucent). */
  fill?: boolean;
  dash?: number[];
}

export interface TimeChartOptions {
  series: LineSpec[];
  /** Seconds of history shown and kept. Default 300. */
  windowSeconds?: number;
  height?: number;
  /** Value format for the legend and the y axis. */
  format?: (value: number) => string;
  /** A second scale drawn on the right (its values formatted with formatRight). */
  rightScale?: string;
  formatRight?: (value: number) => string;
  /** Lowest maximum of the y range (so a flat 0 line sits at the bottom, not the middle). */
  minMax?: number;
  minMaxRight?: number;
}

export const CHART_COLORS = ['#ffb547', '#34d399', '#60a5fa', '#c084fc', '#ff5d6c', '#22d3ee', '#facc15', '#f472b6'];

const AXIS_STROKE = '#8d95a9';
const GRID_STROKE = 'rgba(255, 255, 255, 0.06)';
const DEFAULT_WINDOW_S = 300;
const MIN_SPAN_S = 60;

function yRange(minMax: number): uPlot.Scale.Range {
  // uPlot passes null for an empty scale, although its types say number.
  return (_u, _min, max: number | null) => [0, Math.max(minMax, max === null || !Number.isFinite(max) ? 0 : max * 1.15)];
}

export class TimeChart {
  private readonly plot: uPlot;
  private readonly xs: number[] = [];
  private readonly ys: Array<Array<number | null>>;
  private readonly windowSeconds: number;
  private readonly resizeObserver: ResizeObserver;
  private destroyed = false;

  constructor(
    private readonly container: HTMLElement,
    private readonly options: TimeChartOptions,
  ) {
    this.windowSeconds = options.windowSeconds ?? DEFAULT_WINDOW_S;
    this.ys = options.series.map(() => []);
    const format = options.format ?? ((value: number) => value.toFixed(1));
    const formatRight = options.formatRight ?? format;
    const axisBase = {
      stroke: AXIS_STROKE,
      grid: { stroke: GRID_STROKE, width: 1 },
      ticks: { stroke: GRID_STROKE, width: 1 },
      font: '11px ui-sans-serif, system-ui, sans-serif',
    };
    const axes: uPlot.Axis[] = [{ ...axisBase }, { ...axisBase, scale: 'y', size: 48, values: (_u, splits) => splits.map((v) => format(v)) }];
    const scales: uPlot.Scales = {
      // The window ends at the newest point (the chart scrolls) and spans what is held, at least
      // MIN_SPAN_S and at most windowSeconds: a fresh page fills its charts instead of a sliver.
      x: {
        time: true,
        range: (_u, min, max) => [Math.max(max - this.windowSeconds, Math.min(min, max - MIN_SPAN_S)), max],
      },
      y: { range: yRange(options.minMax ?? 1) },
    };
    if (options.rightScale) {
      scales[options.rightScale] = { range: yRange(options.minMaxRight ?? 1) };
      axes.push({
        ...axisBase,
        scale: options.rightScale,
        // uPlot.Axis.Side.Right is an ambient const enum, which isolatedModules cannot read: its value.
        // eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment
        side: 1,
        size: 44,
        grid: { show: false },
        values: (_u, splits) => splits.map((v) => formatRight(v)),
      });
    }
    const series: uPlot.Series[] = [
      { value: (_u, v: number | null) => (v === null ? '–' : new Date(v * 1000).toLocaleTimeString()) },
      ...options.series.map((spec): uPlot.Series => {
        const fmt = spec.scale && spec.scale === options.rightScale ? formatRight : format;
        return {
          label: spec.label,
          stroke: spec.color,
          width: 2,
          scale: spec.scale ?? 'y',
          spanGaps: false,
          points: { show: false },
          value: (_u, v: number | null | undefined) => (v === null || v === undefined ? '–' : fmt(v)),
          ...(spec.fill ? { fill: `${spec.color}22` } : {}),
          ...(spec.dash ? { dash: spec.dash } : {}),
        };
      }),
    ];
    this.plot = new uPlot(
      {
        width: Math.max(200, container.clientWidth),
        height: options.height ?? 180,
        series,
        axes,
        scales,
        legend: { show: true, live: true },
        cursor: { points: { show: false }, drag: { x: false, y: false } },
      },
      [this.xs, ...this.ys] as uPlot.AlignedData,
      container,
    );
    this.resizeObserver = new ResizeObserver(() => this.resize());
    this.resizeObserver.observe(container);
  }

  /** Points held now. */
  get points(): number {
    return this.xs.length;
  }

  /** The newest point's time (ms), null when empty. */
  get lastTime(): number | null {
    const last = this.xs.at(-1);
    return last === undefined ? null : last * 1000;
  }

  /** Appends a point (ms epoch; one value per series, null for a gap) and drops what left the window. */
  push(timeMs: number, values: Array<number | null>): void {
    if (this.destroyed) return;
    const t = timeMs / 1000;
    const last = this.xs.at(-1);
    // Same or older snapshot (socket and polling may both deliver it): ignore.
    if (last !== undefined && t <= last) return;
    this.xs.push(t);
    this.ys.forEach((column, i) => column.push(values[i] ?? null));
    const oldest = t - this.windowSeconds;
    let drop = 0;
    while (drop < this.xs.length && this.xs[drop]! < oldest) drop++;
    if (drop > 0) {
      this.xs.splice(0, drop);
      for (const column of this.ys) column.splice(0, drop);
    }
    this.redraw();
  }

  /** Replaces everything (e.g. a room's history from the server). */
  setPoints(points: Array<{ t: number; values: Array<number | null> }>): void {
    if (this.destroyed) return;
    this.xs.length = 0;
    for (const column of this.ys) column.length = 0;
    const newest = points.at(-1)?.t;
    for (const point of points) {
      if (newest !== undefined && point.t / 1000 < newest / 1000 - this.windowSeconds) continue;
      const t = point.t / 1000;
      if (this.xs.length > 0 && t <= this.xs.at(-1)!) continue;
      this.xs.push(t);
      this.ys.forEach((column, i) => column.push(point.values[i] ?? null));
    }
    this.redraw();
  }

  clear(): void {
    this.setPoints([]);
  }

  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.resizeObserver.disconnect();
    this.plot.destroy();
  }

  private redraw(): void {
    this.plot.setData([this.xs, ...this.ys] as uPlot.AlignedData);
    this.container.dataset['points'] = String(this.xs.length);
  }

  private resize(): void {
    if (this.destroyed) return;
    const width = Math.max(200, Math.floor(this.container.clientWidth));
    if (width !== this.plot.width) this.plot.setSize({ width, height: this.options.height ?? 180 });
  }
}
