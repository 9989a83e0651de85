/**
 * Who used the CPU during a measurement window (Linux /proc): this process and
 * its descendants (server, mediasoup workers, Chromium) versus everything else
 * on the machine. Benchmarks report it so a figure taken on a busy machine is
 * recognisable as such.
 */
import fs from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSnapshot {
  at: number;
  /** Busy ticks of the whole machine (all cores). */
  machineBusy: number;
  /** utime + stime of this process tree. */
  ours: number;
}

export interface CpuUsage {
  seconds: number;
  /** Cores' worth of CPU (1.0 = one core fully busy). */
  machineCores: number;
  oursCores: number;
  othersCores: number;
}

function readProcessTable(): Map<number, { ppid: number; ticks: number }> {
  const table = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after "(comm)": state ppid … utime(14) stime(15), numbered from 1 with pid.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      table.set(Number(entry), { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) });
    } catch {
      // exited meanwhile
    }
  }
  return table;
}

export function cpuSnapshot(): CpuSnapshot | null {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const values = line.trim().split(/\s+/).slice(1).map(Number);
    const total = values.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (values[3] ?? 0) + (values[4] ?? 0);
    const table = readProcessTable();
    const children = new Map<number, number[]>();
    for (const [pid, { ppid }] of table) children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    let ours = 0;
    const stack = [process.pid];
    while (stack.length) {
      const pid = stack.pop()!;
      ours += table.get(pid)?.ticks ?? 0;
      stack.push(...(children.get(pid) ?? []));
    }
    return { at: Date.now(), machineBusy: total - idle, ours };
  } catch {
    return null; // not Linux
  }
}

export function cpuUsage(before: CpuSnapshot | null, after: CpuSnapshot | null): CpuUsage | null {
  if (!before || !after || after.at <= before.at) return null;
  const seconds = (after.at - before.at) / 1000;
  const cores = (ticks: number) => Number((ticks / TICKS_PER_SECOND / seconds).toFixed(2));
  const machine = after.machineBusy - before.machineBusy;
  const ours = after.ours - before.ours;
  return { seconds, machineCores: cores(machine), oursCores: cores(ours), othersCores: cores(Math.max(0, machine - ours)) };
}

/**
 * CPU time of single processes, for benchmarks that attribute CPU to one
 * component (a mediasoup worker, ffmpeg, a child process): utime + stime of
 * the whole thread group from /proc/<pid>/stat, in seconds. Unlike wall-clock
 * figures this hardly changes when other work competes for the cores (only
 * cache and frequency effects remain), which is why the viewers and HLS
 * benchmarks report it.
 */
export function processCpuSeconds(pid: number): number | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) / TICKS_PER_SECOND;
  } catch {
    return null; // exited, or not Linux
  }
}

/** The same, split into user and kernel (system) time, seconds. */
export function processCpuSplit(pid: number): { user: number; system: number } | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(rest[11]) / TICKS_PER_SECOND, system: Number(rest[12]) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/** Sum of processCpuSeconds over `pids` (processes that are gone count 0). */
export function processesCpuSeconds(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + (processCpuSeconds(pid) ?? 0), 0);
}
