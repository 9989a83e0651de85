/**
 * Runs one ffmpeg command (through fluent-ffmpeg) and keeps it running:
 * an unexpected exit is recorded (exit code or signal, error text, last
 * stderr lines) and followed by a restart after a backoff that grows with
 * quick successive deaths (250 ms → 10 s) and resets after a long healthy run.
 * Each running ffmpeg has a pid file (FfmpegPidFiles) so that one orphaned
 * by a crashed server is reaped at the next start.
 *
 * Generic: it knows nothing of what the command does. The recorder is one
 * user; ingests that run ffmpeg are the next.
 *
 *   const ffmpeg = new FfmpegSupervisor({ label, job: () => ({ input, inputOptions, outputs }), logger });
 *   ffmpeg.on('started', ({ pid }) => …).on('exited', (exit) => …);
 *   ffmpeg.start();
 *   ffmpeg.close();   // idempotent: kills it, no restart
 */
import { EventEmitter } from 'node:events';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ffmpeg from 'fluent-ffmpeg';
import type { Logger } from '../observability/logger.js';
import type { FfmpegPidFiles } from './ffmpegPidFiles.js';
import type { FfmpegStats } from './ffmpegStats.js';

/** What to run: rebuilt by `job()` before every (re)start. */
export interface FfmpegJob {
  input: string;
  inputOptions: readonly string[];
  complexFilter?: string;
  outputs: readonly { url: string; options: readonly string[] }[];
}

export interface FfmpegSupervisorOptions {
  /** For logs and pid files, e.g. "recorder room1". */
  label: string;
  job: () => FfmpegJob;
  logger: Logger;
  ffmpegPath?: string;
  pidFiles?: FfmpegPidFiles;
  stats?: FfmpegStats;
  /** Delays before the 1st, 2nd, … restart of a run of quick deaths. Default 250, 1000, 2000, 5000, 10000 ms. */
  backoffMs?: readonly number[];
  /** A run at least this long resets the backoff. Default 30 s. */
  healthyRunMs?: number;
  /** stderr lines kept. Default 50. */
  stderrLines?: number;
}

export type FfmpegExitKind = 'code' | 'signal' | 'error' | 'ended';

export interface FfmpegExit {
  pid: number | undefined;
  /** `code`: nonzero exit code; `signal`: killed; `error`: did not start or failed otherwise; `ended`: exit code 0. */
  kind: FfmpegExitKind;
  code: number | null;
  signal: NodeJS.Signals | null;
  message: string;
  /** The last stderr lines, oldest first. */
  stderr: string[];
  ranForMs: number;
  /** Restarts of this supervisor so far, this one included. */
  restarts: number;
  restartInMs: number;
}

export interface FfmpegSupervisorEvents {
  started: [{ pid: number; starts: number }];
  /** An unexpected exit; a restart follows after `restartInMs`. */
  exited: [FfmpegExit];
}

/** One attempt to run ffmpeg; also the token that tells a current run's callbacks from a stale one's. */
interface Run {
  command: ffmpeg.FfmpegCommand | undefined;
  process: ChildProcess | undefined;
}

const DEFAULT_BACKOFF_MS = [250, 1000, 2000, 5000, 10000];
/** Options every supervised ffmpeg gets: no banner in the stderr ring, never reads a terminal. */
const BASE_INPUT_OPTIONS = ['-hide_banner', '-nostdin'];

export class FfmpegSupervisor extends EventEmitter<FfmpegSupervisorEvents> {
  readonly #options: FfmpegSupervisorOptions;
  readonly #log: Logger;
  readonly #backoff: readonly number[];
  readonly #stderr: string[] = [];
  #current: Run | undefined;
  #process: ChildProcess | undefined;
  #startedAt = 0;
  #starts = 0;
  #restarts = 0;
  /** Quick deaths in a row (reset by a healthy run): indexes the backoff. */
  #quickDeaths = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #lastExit: FfmpegExit | undefined;
  #closed = false;

  constructor(options: FfmpegSupervisorOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: 'ffmpeg', label: options.label });
    this.#backoff = options.backoffMs && options.backoffMs.length > 0 ? options.backoffMs : DEFAULT_BACKOFF_MS;
  }

  get pid(): number | undefined {
    return this.#process?.pid;
  }

  get running(): boolean {
    return this.#process !== undefined;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get lastExit(): FfmpegExit | undefined {
    return this.#lastExit;
  }

  /** The last stderr lines of the current (or last) run, oldest first. */
  stderrTail(): string[] {
    return [...this.#stderr];
  }

  /** Starts ffmpeg (once; restarts are the supervisor's own). */
  start(): void {
    if (this.#closed) throw new Error(`ffmpeg supervisor ${this.#options.label} is closed`);
    if (this.#current || this.#restartTimer) return;
    this.#run();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    const command = this.#current?.command;
    this.#current = undefined;
    this.#process = undefined;
    try {
      command?.kill('SIGKILL');
    } catch {
      // already gone
    }
    // Its pid file goes when the process is seen to exit (the 'exit' listener in #run).
  }

  #run(): void {
    this.#starts++;
    if (this.#options.stats) this.#options.stats.starts++;
    this.#startedAt = Date.now();
    this.#stderr.length = 0;
    const missing = missingBinary(this.#options.ffmpegPath ?? process.env['FFMPEG_PATH'] ?? 'ffmpeg');
    // fluent-ffmpeg throws from inside the child's 'error' handler when the
    // spawn fails (an uncaught exception): never let it try.
    if (missing) {
      this.#failRun(missing);
      return;
    }
    let job: FfmpegJob;
    try {
      job = this.#options.job();
    } catch (error) {
      this.#failRun(`could not build the ffmpeg command: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    const command = ffmpeg(job.input).inputOptions([...BASE_INPUT_OPTIONS, ...job.inputOptions]);
    if (job.complexFilter) command.complexFilter(job.complexFilter);
    if (this.#options.ffmpegPath) command.setFfmpegPath(this.#options.ffmpegPath);
    for (const output of job.outputs) command.output(output.url).outputOptions([...output.options]);
    const stderrLines = this.#options.stderrLines ?? 50;
    const run: Run = { command, process: undefined };
    command.on('stderr', (line: string) => {
      if (this.#current !== run) return;
      this.#stderr.push(line);
      if (this.#stderr.length > stderrLines) this.#stderr.shift();
    });
    // fluent-ffmpeg spawns after probing its capabilities (asynchronously): 'start' is the spawn.
    command.on('start', () => {
      const proc = (command as unknown as { ffmpegProc?: ChildProcess }).ffmpegProc;
      if (!proc?.pid) return;
      const pid = proc.pid;
      run.process = proc;
      const stats = this.#options.stats;
      if (stats) stats.running++;
      this.#options.pidFiles?.track(pid, this.#options.label);
      proc.once('exit', () => {
        if (stats) stats.running--;
        this.#options.pidFiles?.untrack(pid);
        if (this.#process === proc) this.#process = undefined;
      });
      if (this.#current !== run) {
        // Closed between run() and the spawn.
        proc.kill('SIGKILL');
        return;
      }
      this.#process = proc;
      this.#log.info({ pid, starts: this.#starts }, 'ffmpeg started');
      this.#emit('started', { pid, starts: this.#starts });
    });
    command.on('error', (error: Error) => this.#onEnd(run, error.message));
    command.on('end', () => this.#onEnd(run, 'ffmpeg ended'));
    this.#current = run;
    command.run();
  }

  /** A run that could not even spawn: reported (and retried) like any other exit. */
  #failRun(message: string): void {
    const run: Run = { command: undefined, process: undefined };
    this.#current = run;
    setImmediate(() => this.#onEnd(run, message));
  }

  /** fluent-ffmpeg's 'error'/'end': the process exited and its output is drained (or it never started). */
  #onEnd(run: Run, message: string): void {
    if (this.#closed || this.#current !== run) return;
    this.#current = undefined;
    // fluent-ffmpeg reports only after the process exited (or failed to spawn).
    // (Its exit code and signal are set before any 'exit' listener runs.)
    const pid = run.process?.pid;
    const exit = run.process ? { code: run.process.exitCode, signal: run.process.signalCode } : undefined;
    this.#process = undefined;
    const ranForMs = Date.now() - this.#startedAt;
    this.#quickDeaths = ranForMs >= (this.#options.healthyRunMs ?? 30_000) ? 0 : this.#quickDeaths + 1;
    const delay = this.#backoff[Math.min(Math.max(this.#quickDeaths - 1, 0), this.#backoff.length - 1)]!;
    this.#restarts++;
    const kind: FfmpegExitKind = exit?.signal ? 'signal' : exit?.code ? 'code' : exit?.code === 0 ? 'ended' : 'error';
    const result: FfmpegExit = {
      pid,
      kind,
      code: exit?.code ?? null,
      signal: exit?.signal ?? null,
      message: message.split('\n')[0] ?? message,
      stderr: this.stderrTail(),
      ranForMs,
      restarts: this.#restarts,
      restartInMs: delay,
    };
    this.#lastExit = result;
    if (this.#options.stats) {
      this.#options.stats.restarts++;
      this.#options.stats.exits[kind]++;
    }
    this.#log.warn(
      {
        pid,
        kind,
        code: result.code,
        signal: result.signal,
        reason: result.message,
        ranForMs,
        restarts: this.#restarts,
        retryInMs: delay,
        stderr: result.stderr.slice(-5),
      },
      'ffmpeg exited; restarting',
    );
    this.#emit('exited', result);
    if (this.#closed) return;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#closed) this.#run();
    }, delay);
    this.#restartTimer.unref();
  }

  /** A throwing listener must not break supervision (nor surface inside fluent-ffmpeg's callbacks). */
  #emit<K extends keyof FfmpegSupervisorEvents>(event: K, ...args: FfmpegSupervisorEvents[K]): void {
    try {
      (this.emit as (event: K, ...args: FfmpegSupervisorEvents[K]) => boolean)(event, ...args);
    } catch (error) {
      this.#log.error({ err: error, event }, 'ffmpeg supervisor listener threw');
    }
  }
}

/** Why `binary` cannot be run (not found, not executable), or undefined if it can. */
function missingBinary(binary: string): string | undefined {
  const candidates = binary.includes('/')
    ? [binary]
    : (process.env['PATH'] ?? '')
        .split(path.delimiter)
        .filter(Boolean)
        .map((dir) => path.join(dir, binary));
  for (const candidate of candidates) {
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      if (fs.statSync(candidate).isFile()) return undefined;
    } catch {
      // try the next one
    }
  }
  return `ffmpeg binary ${binary} not found or not executable`;
}
