/**
 * The load tool's report: one JSON document (`--json <file>`, the contract
 * CI reads) and the same figures as a terminal table. Built from the
 * clients' own counters (llHlsClient.ts, webrtcViewerPool.ts).
 */
import { fmt, formatTable, summarize, type Summary } from '../bench/lib/results.js';
import type { LlHlsClientStats } from './llHlsClient.js';
import type { WebrtcViewerStats } from './webrtcViewerPool.js';

export interface LoadReport {
  tool: 'floodlight-loadtest';
  version: 1;
  url: string;
  room: string;
  startedAt: string;
  elapsedSeconds: number;
  options: { hls: number; webrtc: number; publisher: boolean; durationSeconds: number; rampSeconds: number; variant: string };
  webrtc: {
    clients: number;
    /** Viewers that got a first frame. */
    playing: number;
    joinToFirstFrameMs: Summary;
    freezes: number;
    viewersWithFreezes: number;
    freezeSeconds: number;
    /** Per viewer, over its time since joining. */
    bitrateKbps: Summary;
    errors: Record<string, number>;
  };
  hls: {
    clients: number;
    /** Clients that got a first part. */
    playing: number;
    joinToFirstPartMs: Summary;
    stalls: number;
    clientsWithStalls: number;
    stallSeconds: number;
    /** Each stall's duration, ms, every client. */
    stallMs: Summary;
    bitrateKbps: Summary;
    /** now − program-date-time of the (simulated) playhead, every sample of every client. */
    latencyToLiveMs: Summary;
    /** Part arrival − its end per program-date-time. */
    arrivalLagMs: Summary;
    requests: number;
    playlistReloads: number;
    parts: number;
    segments: number;
    errors: Record<string, number>;
  };
  /** Every error by kind, prefixed with the client type. */
  errors: Record<string, number>;
  publisher: { state: string; sentVideoPackets: number } | null;
}

export interface ReportInput {
  url: string;
  room: string;
  startedAtWall: number;
  elapsedSeconds: number;
  options: LoadReport['options'];
  hls: ReadonlyArray<{ stats: LlHlsClientStats; activeSeconds: number }>;
  webrtc: ReadonlyArray<{ stats: WebrtcViewerStats; activeSeconds: number }>;
  publisher: LoadReport['publisher'];
}

function addErrors(into: Record<string, number>, from: Record<string, number>, prefix = ''): void {
  for (const [kind, n] of Object.entries(from)) into[prefix + kind] = (into[prefix + kind] ?? 0) + n;
}

const kbps = (bytes: number, seconds: number): number => (seconds > 0 ? (bytes * 8) / 1000 / seconds : Number.NaN);

export function buildReport(input: ReportInput): LoadReport {
  const hlsErrors: Record<string, number> = {};
  const webrtcErrors: Record<string, number> = {};
  for (const c of input.hls) addErrors(hlsErrors, c.stats.errors);
  for (const v of input.webrtc) addErrors(webrtcErrors, v.stats.errors);
  const errors: Record<string, number> = {};
  addErrors(errors, hlsErrors, 'hls ');
  addErrors(errors, webrtcErrors, 'webrtc ');
  const hls = input.hls.map((c) => c.stats);
  const webrtc = input.webrtc.map((v) => v.stats);
  const sum = <T>(items: readonly T[], f: (item: T) => number): number => items.reduce((total, item) => total + f(item), 0);
  return {
    tool: 'floodlight-loadtest',
    version: 1,
    url: input.url,
    room: input.room,
    startedAt: new Date(input.startedAtWall).toISOString(),
    elapsedSeconds: input.elapsedSeconds,
    options: input.options,
    webrtc: {
      clients: webrtc.length,
      playing: webrtc.filter((v) => v.joinToFirstFrameMs !== null).length,
      joinToFirstFrameMs: summarize(webrtc.flatMap((v) => (v.joinToFirstFrameMs === null ? [] : [v.joinToFirstFrameMs]))),
      freezes: sum(webrtc, (v) => v.freezes),
      viewersWithFreezes: webrtc.filter((v) => v.freezes > 0).length,
      freezeSeconds: sum(webrtc, (v) => v.freezeSeconds),
      bitrateKbps: summarize(input.webrtc.map((v) => kbps(v.stats.bytes, v.activeSeconds))),
      errors: webrtcErrors,
    },
    hls: {
      clients: hls.length,
      playing: hls.filter((c) => c.joinToFirstPartMs !== null).length,
      joinToFirstPartMs: summarize(hls.flatMap((c) => (c.joinToFirstPartMs === null ? [] : [c.joinToFirstPartMs]))),
      stalls: sum(hls, (c) => c.stalls),
      clientsWithStalls: hls.filter((c) => c.stalls > 0).length,
      stallSeconds: sum(hls, (c) => c.stallMs) / 1000,
      stallMs: summarize(hls.flatMap((c) => c.stallDurationsMs)),
      bitrateKbps: summarize(input.hls.map((c) => kbps(c.stats.bytes, c.activeSeconds))),
      latencyToLiveMs: summarize(hls.flatMap((c) => c.latencyMs)),
      arrivalLagMs: summarize(hls.flatMap((c) => c.arrivalLagMs)),
      requests: sum(hls, (c) => c.requests),
      playlistReloads: sum(hls, (c) => c.playlistReloads),
      parts: sum(hls, (c) => c.parts),
      segments: sum(hls, (c) => c.segments),
      errors: hlsErrors,
    },
    errors,
    publisher: input.publisher,
  };
}

const total = (errors: Record<string, number>): number => Object.values(errors).reduce((a, b) => a + b, 0);
const pair = (a: number, b: number, digits: number, scale = 1): string => `${fmt(a / scale, digits)} / ${fmt(b / scale, digits)}`;

/** The live table and the final one: one row per client type that ran. */
export function reportTable(report: LoadReport): string {
  const { webrtc: w, hls: h } = report;
  const rows: Array<string[] | false> = [
    w.clients > 0 && [
      'WebRTC',
      `${w.playing}/${w.clients}`,
      pair(w.joinToFirstFrameMs.p50, w.joinToFirstFrameMs.p95, 0),
      `${w.freezes} (${w.viewersWithFreezes} viewers)`,
      fmt(w.bitrateKbps.mean, 0),
      '—',
      String(total(w.errors)),
    ],
    h.clients > 0 && [
      'LL-HLS',
      `${h.playing}/${h.clients}`,
      pair(h.joinToFirstPartMs.p50, h.joinToFirstPartMs.p95, 0),
      h.stalls > 0 ? `${h.stalls} (${h.clientsWithStalls} clients; p95 ${fmt(h.stallMs.p95, 0)} ms, max ${fmt(h.stallMs.max, 0)} ms)` : '0',
      fmt(h.bitrateKbps.mean, 0),
      pair(h.latencyToLiveMs.p50, h.latencyToLiveMs.p95, 2, 1000),
      String(total(h.errors)),
    ],
  ];
  return formatTable(
    ['clients', 'playing', 'join→first ms p50 / p95', 'freezes / stalls', 'kbps (mean)', 'latency s p50 / p95', 'errors'],
    rows.filter((row) => row !== false),
  );
}

/** Errors by kind, most frequent first, as lines. */
export function errorLines(report: LoadReport): string[] {
  return Object.entries(report.errors)
    .sort((a, b) => b[1] - a[1])
    .map(([kind, n]) => `${String(n).padStart(6)}  ${kind}`);
}
