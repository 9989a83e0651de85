/**
 * Makes sure no ffmpeg outlives the server that started it. Normal shutdown
 * kills them; a server that is itself killed leaves its ffmpeg children
 * running, so every running ffmpeg has a pid file here and the next start
 * (`reapOrphans()`) kills those still running.
 *
 * A pid file records the process's start time (from /proc) so that a pid the
 * kernel has since given to an unrelated process is never killed, and the
 * owning server's pid, so that a live server sharing the folder keeps its own
 * children: only ffmpegs no longer parented by their owner are orphans.
 */
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../observability/logger.js';

interface PidRecord {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot), if it could be read. */
  startTime: string | undefined;
  /** The server process that started it. */
  ownerPid: number;
  /** What runs (for logs): e.g. "recorder room1". */
  label: string;
}

export class FfmpegPidFiles {
  readonly #dir: string;
  readonly #log: Logger;

  constructor(dir: string, logger: Logger) {
    this.#dir = dir;
    this.#log = logger.child({ component: 'ffmpeg-pids' });
  }

  get dir(): string {
    return this.#dir;
  }

  /** Kills ffmpegs left by a crashed earlier run and forgets their files. Returns how many were killed. */
  async reapOrphans(): Promise<number> {
    await fsp.mkdir(this.#dir, { recursive: true, mode: 0o700 });
    let killed = 0;
    for (const name of await fsp.readdir(this.#dir)) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 1) continue;
      const file = path.join(this.#dir, name);
      const record = parseRecord(pid, await fsp.readFile(file, 'utf8').catch(() => ''));
      const proc = await readProcStat(pid);
      if (proc && record.ownerPid !== process.pid && proc.ppid === record.ownerPid) {
        continue; // another live server's child
      }
      if (proc && (await isSameFfmpeg(pid, record, proc.startTime))) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
          this.#log.warn({ pid, label: record.label }, 'killed an ffmpeg left over from a previous run');
        } catch {
          // already gone
        }
      }
      await fsp.rm(file, { force: true });
    }
    return killed;
  }

  /** Remembers a running ffmpeg. Best effort: it only matters after a crash. */
  track(pid: number, label: string): void {
    const record: PidRecord = { pid, startTime: readProcStatSync(pid)?.startTime, ownerPid: process.pid, label };
    try {
      fs.writeFileSync(path.join(this.#dir, String(pid)), JSON.stringify(record), { mode: 0o600 });
    } catch (error) {
      this.#log.warn({ pid, err: (error as Error).message }, 'could not write ffmpeg pid file');
    }
  }

  untrack(pid: number): void {
    fs.rmSync(path.join(this.#dir, String(pid)), { force: true });
  }

  /** Pids with a file (tests, drills). */
  tracked(): number[] {
    try {
      return fs
        .readdirSync(this.#dir)
        .map(Number)
        .filter((pid) => Number.isInteger(pid) && pid > 1);
    } catch {
      return [];
    }
  }
}

/** Pid files of older versions were empty: treat them as "started by a dead server, time unknown". */
function parseRecord(pid: number, text: string): PidRecord {
  try {
    const parsed = JSON.parse(text) as Partial<PidRecord>;
    return {
      pid,
      startTime: typeof parsed.startTime === 'string' ? parsed.startTime : undefined,
      ownerPid: typeof parsed.ownerPid === 'number' ? parsed.ownerPid : 0,
      label: typeof parsed.label === 'string' ? parsed.label : '',
    };
  } catch {
    return { pid, startTime: undefined, ownerPid: 0, label: '' };
  }
}

async function isSameFfmpeg(pid: number, record: PidRecord, startTime: string): Promise<boolean> {
  if (record.startTime !== undefined) return record.startTime === startTime;
  // No start time recorded: at least make sure it is an ffmpeg.
  const cmdline = await fsp.readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return path.basename(cmdline.split('\0')[0] ?? '').includes('ffmpeg');
}

interface ProcStat {
  ppid: number;
  startTime: string;
}

/** Fields of /proc/<pid>/stat after the command name (which may hold spaces and parentheses). */
function parseProcStat(text: string): ProcStat | undefined {
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, starttime field 22.
  const ppid = Number(fields[1]);
  const startTime = fields[19];
  if (!Number.isInteger(ppid) || !startTime) return undefined;
  return { ppid, startTime };
}

async function readProcStat(pid: number): Promise<ProcStat | undefined> {
  const text = await fsp.readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  return text === undefined ? undefined : parseProcStat(text);
}

function readProcStatSync(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}
