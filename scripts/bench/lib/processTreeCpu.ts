/**
 * CPU of one server process and of everything below it (its mediasoup
 * workers, its ffmpeg), over a measurement window: CPU time from /proc, so a
 * figure hardly moves when other work competes for the cores (see cpu.ts).
 *
 *   const window = new TreeCpuWindow(pid);   // snapshot now
 *   …
 *   window.cores()                           // { main, children } since the snapshot, in cores
 */
import { processCpuSeconds, processesCpuSeconds } from './cpu.js';
import { commandName, descendants } from './system.js';

export interface TreeCpuSeconds {
  /** The process itself (all its threads). */
  main: number;
  /** Its descendants, optionally only those whose command name matches. */
  children: number;
}

export function treeCpuSeconds(pid: number, childCommand?: RegExp): TreeCpuSeconds {
  const below = descendants(pid).filter((child) => !childCommand || childCommand.test(commandName(child) ?? ''));
  return { main: processCpuSeconds(pid) ?? 0, children: processesCpuSeconds(below) };
}

/** A window opened now; cores() is the average CPU since, in cores (1.0 = one core busy). */
export class TreeCpuWindow {
  readonly #pid: number;
  readonly #childCommand: RegExp | undefined;
  readonly #startedAt = Date.now();
  readonly #start: TreeCpuSeconds;

  constructor(pid: number, childCommand?: RegExp) {
    this.#pid = pid;
    this.#childCommand = childCommand;
    this.#start = treeCpuSeconds(pid, childCommand);
  }

  cores(): TreeCpuSeconds & { seconds: number } {
    const seconds = (Date.now() - this.#startedAt) / 1000;
    const now = treeCpuSeconds(this.#pid, this.#childCommand);
    // A child that exited during the window takes its ticks with it; never report less than nothing.
    return {
      seconds,
      main: Math.max(0, now.main - this.#start.main) / seconds,
      children: Math.max(0, now.children - this.#start.children) / seconds,
    };
  }
}
