/**
 * The per-viewer part of a cluster drill's report: where each viewer was
 * before and after, its joins, and its longest interruption around the
 * failure (last frame before → first frame after), with p50/p95/max over the
 * viewers. A viewer that never got a frame after the event counts as not back.
 */
import type { HeadlessViewer } from '../../test/helpers/headlessPeer.js';
import { fmt, formatTable, percentile, summarize, type Summary } from '../bench/lib/results.js';
import type { FrameTimeline, Interruption } from './frameTimeline.js';

export interface ViewerOutcome extends Interruption {
  name: string;
  nodeBefore: string;
  nodeAfter: string;
  joinsBefore: number;
  joinsAfter: number;
  /** A complete video frame arrived after the event. */
  back: boolean;
}

export interface ViewerReport {
  outcomes: ViewerOutcome[];
  /** Over the viewers' video interruptions (ms); a viewer not back counts as Infinity (so max/p95 show it). */
  interruption: Summary & { notBack: number };
  table: string;
}

export function viewerReport(options: {
  viewers: readonly HeadlessViewer[];
  timeline: FrameTimeline;
  nodesBefore: readonly string[];
  joinsBefore: readonly number[];
  nodeAt: (url: string | undefined) => string;
  /** performance.now() of the failure; the window is [eventAt, to]. */
  eventAt: number;
  to: number;
}): ViewerReport {
  const { viewers, timeline, eventAt, to } = options;
  const outcomes = viewers.map((viewer, i): ViewerOutcome => {
    const stats = viewer.stats();
    return {
      name: stats.name,
      nodeBefore: options.nodesBefore[i]!,
      nodeAfter: options.nodeAt(viewer.signaling.serverUrl),
      joinsBefore: options.joinsBefore[i]!,
      joinsAfter: stats.joins,
      back: timeline.firstFrameAfter(i, eventAt) !== undefined,
      ...timeline.interruption(i, eventAt, eventAt, to),
    };
  });
  const gaps = outcomes.map((o) => (o.back ? (o.videoGapMs ?? Infinity) : Infinity));
  const finite = summarize(gaps);
  const notBack = gaps.filter((g) => !Number.isFinite(g)).length;
  // summarize() drops the infinite values: a viewer that never came back must still dominate the tail.
  const sorted = [...gaps].sort((a, b) => a - b);
  const interruption = {
    ...finite,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    notBack,
  };
  const table = formatTable(
    ['Viewer', 'Node before → after', 'Joins', 'Last frame before', 'First frame after', 'Video gap', 'Audio gap'],
    outcomes.map((o) => [
      o.name,
      `${o.nodeBefore} → ${o.nodeAfter}`,
      `${o.joinsBefore} → ${o.joinsAfter}`,
      o.back ? fmt(o.lastFrameBefore, 0) : '—',
      o.back ? `+${fmt(o.firstFrameAfter, 0)}` : 'NOT BACK',
      o.back ? fmt(o.videoGapMs, 0) : '∞',
      fmt(o.audioGapMs, 0),
    ]),
  );
  return { outcomes, interruption, table };
}

/** "p50 … / p95 … / max … ms". */
export function describeInterruption(s: ViewerReport['interruption']): string {
  const show = (v: number) => (Number.isFinite(v) ? fmt(v, 0) : '∞');
  return `p50 ${show(s.p50)} / p95 ${show(s.p95)} / max ${show(s.max)} ms${s.notBack ? ` (${s.notBack} viewer(s) never got media back)` : ''}`;
}
