/** The machine a benchmark ran on, as docs/performance.md reports it. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpuModel: string;
  /** `free -h` as printed. */
  memory: string;
  memoryTotalGiB: number;
  kernel: string;
  node: string;
  chromium: string | null;
  loadAverage: number[];
}

function run(command: string, args: string[]): string | null {
  try {
    return execFileSync(command, args, { encoding: 'utf8', timeout: 5_000, stdio: ['ignore', 'pipe', 'ignore'] }).trimEnd();
  } catch {
    return null;
  }
}

function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (match) return match[1]!.trim();
  } catch {
    // not Linux
  }
  return os.cpus()[0]?.model ?? 'unknown';
}

/** @param chromium the browser's version (playwright's browser.version()), when one ran. */
export function machineInfo(chromium: string | null = null): MachineInfo {
  return {
    date: new Date().toISOString(),
    nproc: Number(run('nproc', [])?.trim()) || os.availableParallelism(),
    cpuModel: cpuModel(),
    memory: run('free', ['-h']) ?? `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total`,
    memoryTotalGiB: Number((os.totalmem() / 2 ** 30).toFixed(1)),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    chromium,
    loadAverage: os.loadavg().map((v) => Number(v.toFixed(2))),
  };
}

/** One line for the console and the docs. */
export function describeMachine(info: MachineInfo): string {
  return [
    `${info.nproc} cores (${info.cpuModel})`,
    `${info.memoryTotalGiB} GiB RAM`,
    `Node ${info.node}`,
    info.chromium ? `Chromium ${info.chromium}` : null,
    `load ${info.loadAverage.join(' ')}`,
  ]
    .filter(Boolean)
    .join(', ');
}
