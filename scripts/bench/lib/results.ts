/**
 * Shared output for benchmarks: statistics, progress lines, tables (Markdown,
 * so they paste straight into docs/performance.md) and the JSON result file
 * (bench-results/<name>-<timestamp>.json, gitignored).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const RESULTS_DIR = path.join(REPO_ROOT, 'bench-results');

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

export interface Summary {
  count: number;
  min: number;
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const sum = sorted.reduce((a, b) => a + b, 0);
  return {
    count: sorted.length,
    min: sorted[0] ?? Number.NaN,
    mean: sorted.length ? sum / sorted.length : Number.NaN,
    p50: percentile(sorted, 50),
    p95: percentile(sorted, 95),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
  };
}

/** "12.3" / "—" for missing values. */
export function fmt(value: number | null | undefined, digits = 1): string {
  return value === null || value === undefined || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

/** A Markdown table with padded columns (readable in a terminal too). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(headers), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...rows.map(line)].join('\n');
}

const started = Date.now();

/** One progress line on stderr: `[name +12.3s] message`. */
export function progress(name: string, message: string): void {
  process.stderr.write(`[${name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}\n`);
}

/** Writes `data` to bench-results/<name>-<timestamp>.json and returns the path. */
export function writeResult(name: string, data: unknown): string {
  fs.mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*$/, '');
  const file = path.join(RESULTS_DIR, `${name}-${stamp}.json`);
  fs.writeFileSync(file, `${JSON.stringify(data, null, 2)}\n`);
  return file;
}

/** `--key=value` / `--flag` arguments → map (anything else is an error). */
export function parseArgs(argv: readonly string[], known: readonly string[]): Map<string, string> {
  const args = new Map<string, string>();
  for (const arg of argv) {
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (!match || !known.includes(match[1]!)) {
      throw new Error(`unknown argument ${arg}; known: ${known.map((k) => `--${k}=…`).join(' ')}`);
    }
    args.set(match[1]!, match[2] ?? 'true');
  }
  return args;
}

/** A comma list (`--key=a,b`) whose items must each be one of `choices`; case does not matter. */
export function choicesArg<T extends string>(args: Map<string, string>, key: string, fallback: string, choices: readonly T[]): T[] {
  return (args.get(key) ?? fallback).split(',').map((item) => {
    const choice = choices.find((c) => c === item.trim().toLowerCase());
    if (choice === undefined) throw new Error(`--${key}: unknown value ${item}; choose from ${choices.join(', ')}`);
    return choice;
  });
}

export function numberArg(args: Map<string, string>, key: string, fallback: number): number {
  const raw = args.get(key);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${key} must be a positive number, got ${raw}`);
  return value;
}
