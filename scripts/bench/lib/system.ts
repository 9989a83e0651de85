/**
 * Linux process and socket helpers for benchmarks that run a load generator
 * next to the system under test on one machine:
 *
 *   descendants(pid)            every process below pid (from /proc)
 *   renice(pids, nice)          sets the nice value of every thread of those
 *                               processes (Linux nice values are per thread;
 *                               threads created later inherit their creator's)
 *   udpSocketDrops()            per-socket receive-queue drops (/proc/net/udp
 *                               and udp6): datagrams the kernel discarded
 *                               because the socket's buffer was full, i.e. the
 *                               reading process did not keep up
 *
 * All return empty results off Linux.
 */
import fs from 'node:fs';
import os from 'node:os';

export function descendants(root: number): number[] {
  const children = new Map<number, number[]>();
  try {
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
      } catch {
        // exited meanwhile
      }
    }
  } catch {
    return [];
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** The command name (/proc/<pid>/comm), or null. */
export function commandName(pid: number): string | null {
  try {
    return fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Renices every thread of `pids`; returns how many threads were changed. */
export function renice(pids: readonly number[], nice: number): number {
  let changed = 0;
  for (const pid of pids) {
    let tids: string[] = [];
    try {
      tids = fs.readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tids) {
      try {
        os.setPriority(Number(tid), nice);
        changed++;
      } catch {
        // exited, or not permitted
      }
    }
  }
  return changed;
}

export interface UdpSocket {
  inode: string;
  port: number;
  drops: number;
}

export function udpSocketDrops(): UdpSocket[] {
  const sockets: UdpSocket[] = [];
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text = '';
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 13) continue;
      const port = parseInt(f[1]!.split(':')[1] ?? '', 16);
      sockets.push({ inode: f[9]!, port, drops: Number(f[12]) });
    }
  }
  return sockets;
}

/** Drops between two udpSocketDrops() looks, for sockets present in both, split by `isOurs(port)`. */
export function udpDropsBetween(before: UdpSocket[], after: UdpSocket[], isSfu: (port: number) => boolean): { sfu: number; other: number } {
  const earlier = new Map(before.map((s) => [s.inode, s]));
  let sfu = 0;
  let other = 0;
  for (const s of after) {
    const b = earlier.get(s.inode);
    if (!b) continue;
    const d = Math.max(0, s.drops - b.drops);
    if (isSfu(s.port)) sfu += d;
    else other += d;
  }
  return { sfu, other };
}

/**
 * Renices every Chromium process below this one (browser, renderers, GPU and
 * utility processes; call again after opening pages: each gets a renderer).
 * Benchmarks use it so that a browser standing for a broadcaster or a viewer
 * on its own machine is not starved by the system under test or by whatever
 * else runs on a small shared machine.
 */
export function reniceBrowser(nice: number): number {
  const pids = descendants(process.pid).filter((pid) => /^(chromium|chrome)/.test(commandName(pid) ?? ''));
  return renice(pids, nice);
}
