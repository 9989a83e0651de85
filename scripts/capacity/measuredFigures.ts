/**
 * The measured inputs of the capacity plan: from the newest result file of
 * each benchmark in the bench results directory (bench-results/, gitignored;
 * scripts/bench/lib/results.ts), figure by figure, and for any figure no
 * result file gives, from the checked-in scripts/capacity/measured.json
 * (figures recorded from runs on a named machine and date).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CapacityInputError, type MeasuredFigures, type Sourced } from './capacityInputs.js';

export const MEASURED_JSON = path.join(path.dirname(fileURLToPath(import.meta.url)), 'measured.json');

type Reader = (data: unknown) => Partial<Record<keyof MeasuredFigures, number | number[]>>;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const list = (value: unknown): Record<string, unknown>[] => (Array.isArray(value) ? value.filter(isObject) : []);
const at = (value: unknown, ...keys: string[]): unknown => keys.reduce<unknown>((v, k) => (isObject(v) ? v[k] : undefined), value);

/** What each benchmark's result file gives (its JSON as written by that benchmark). */
const READERS: Record<string, Reader> = {
  viewers: (data) => {
    // The bench's own verdict: the lower of the measured and the per-packet figure, lowest over the runs.
    const perCore = list(at(data, 'results'))
      .filter((r) => r['error'] === undefined)
      .map((r) => Math.min(num(r['viewersPerCore']) ?? Infinity, num(r['viewersPerCoreAtNominal']) ?? Infinity))
      .filter(Number.isFinite);
    return perCore.length ? { webrtcViewersPerCore: Math.min(...perCore) } : {};
  },
  'edge-cost': (data) => {
    const figures = at(data, 'figures');
    const edge = at(figures, 'perPipedBroadcastCores', 'edge');
    const edgeCores = (num(at(edge, 'node')) ?? Number.NaN) + (num(at(edge, 'worker')) ?? Number.NaN);
    return {
      // Per further viewer once a node has its pipe: the pipe's own cost is the separate edge figure.
      ...(num(at(figures, 'marginalOverheadPerViewer')) !== undefined ? { clusterOverheadPerViewer: num(at(figures, 'marginalOverheadPerViewer'))! } : {}),
      ...(num(at(figures, 'perPipedBroadcastCores', 'origin', 'worker')) !== undefined
        ? { originWorkerCoresPerPipe: num(at(figures, 'perPipedBroadcastCores', 'origin', 'worker'))! }
        : {}),
      ...(Number.isFinite(edgeCores) ? { edgeCoresPerPipedBroadcast: edgeCores } : {}),
    };
  },
  'hls-origin': (data) => {
    // The largest audience of LL-HLS clients that played without stalls: a saturated row measures the machine.
    const rows = list(at(data, 'clients'));
    const clean = rows.filter((r) => r['stalls'] === 0 && r['playing'] === r['clients']).at(-1);
    const rate = num(clean?.['rate']);
    const clients = num(clean?.['clients']);
    const per1000 = num(clean?.['serverCoresPer1000']);
    return {
      ...(per1000 !== undefined ? { originCoresPer1000Requests: per1000 } : {}),
      ...(rate !== undefined && clients ? { requestsPerLlHlsClient: rate / clients } : {}),
    };
  },
  'hls-edge': (data) => {
    const ratios = list(at(data, 'results'))
      .map((r) => num(at(r, 'collapse', 'originRequestsPerObject')))
      .filter((v) => v !== undefined);
    return ratios.length ? { edgeCollapseRatio: Math.max(...ratios) } : {};
  },
  'hls-latency': (data) => {
    const h264 = list(at(data, 'cpu'))
      .filter((r) => r['codec'] === 'h264' && r['error'] === undefined && num(r['ffmpegCores']) !== undefined)
      .sort((x, y) => (num(x['renditions']) ?? 0) - (num(y['renditions']) ?? 0));
    const byCount = h264.map((r) => num(r['ffmpegCores'])!);
    // Only a contiguous 1, 2, 3 … series can stand for "ladder of n renditions".
    const contiguous = h264.every((r, i) => num(r['renditions']) === i + 1);
    return contiguous && byCount.length ? { ffmpegCoresByRenditions: byCount } : {};
  },
};

/** The newest result file of a benchmark: bench-results/<name>-<ISO timestamp>.json sorts by time. */
function newestResult(dir: string, name: string): string | undefined {
  let files: string[];
  try {
    files = fs.readdirSync(dir);
  } catch {
    return undefined;
  }
  const pattern = new RegExp(`^${name}-\\d{4}-\\d{2}-\\d{2}T[\\d-]+\\.json$`);
  return files
    .filter((f) => pattern.test(f))
    .sort()
    .at(-1);
}

/** Figures recorded in measured.json (validated: every figure a value and a source). */
export function readMeasuredJson(file = MEASURED_JSON): MeasuredFigures {
  const data = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const figures = at(data, 'figures');
  const sourced = (value: unknown, key: string): Sourced => {
    const v = num(at(value, 'value'));
    const source = at(value, 'source');
    if (v === undefined || typeof source !== 'string' || !source) throw new CapacityInputError(`${file}: ${key} needs a numeric value and a source`);
    return { value: v, source: `${source} (measured.json)` };
  };
  const ffmpegList = (): Sourced[] => {
    const ffmpeg = at(figures, 'ffmpegCoresByRenditions');
    if (!Array.isArray(ffmpeg) || ffmpeg.length === 0) throw new CapacityInputError(`${file}: ffmpegCoresByRenditions needs a list`);
    return ffmpeg.map((item, i) => sourced(item, `ffmpegCoresByRenditions[${i}]`));
  };
  return {
    webrtcViewersPerCore: sourced(at(figures, 'webrtcViewersPerCore'), 'webrtcViewersPerCore'),
    clusterOverheadPerViewer: sourced(at(figures, 'clusterOverheadPerViewer'), 'clusterOverheadPerViewer'),
    originWorkerCoresPerPipe: sourced(at(figures, 'originWorkerCoresPerPipe'), 'originWorkerCoresPerPipe'),
    edgeCoresPerPipedBroadcast: sourced(at(figures, 'edgeCoresPerPipedBroadcast'), 'edgeCoresPerPipedBroadcast'),
    originCoresPer1000Requests: sourced(at(figures, 'originCoresPer1000Requests'), 'originCoresPer1000Requests'),
    requestsPerLlHlsClient: sourced(at(figures, 'requestsPerLlHlsClient'), 'requestsPerLlHlsClient'),
    edgeCollapseRatio: sourced(at(figures, 'edgeCollapseRatio'), 'edgeCollapseRatio'),
    ffmpegCoresByRenditions: ffmpegList(),
  };
}

/**
 * measured.json, with every figure that a newest bench result gives replaced by it.
 * `resultsDir` null: measured.json only.
 */
export function loadMeasuredFigures(resultsDir: string | null, measuredFile = MEASURED_JSON): MeasuredFigures {
  const figures = readMeasuredJson(measuredFile);
  if (resultsDir === null) return figures;
  for (const [bench, read] of Object.entries(READERS)) {
    const file = newestResult(resultsDir, bench);
    if (!file) continue;
    let found: ReturnType<Reader>;
    try {
      found = read(JSON.parse(fs.readFileSync(path.join(resultsDir, file), 'utf8')));
    } catch {
      continue; // an unreadable result file: measured.json stands
    }
    const source = `${bench} bench, ${path.join(path.basename(resultsDir), file)}`;
    for (const [key, value] of Object.entries(found) as [keyof MeasuredFigures, number | number[]][]) {
      if (Array.isArray(value)) figures.ffmpegCoresByRenditions = value.map((v, i) => ({ value: v, source: `${source}, ${i + 1} rendition(s)` }));
      else if (key !== 'ffmpegCoresByRenditions') figures[key] = { value, source };
    }
  }
  return figures;
}
