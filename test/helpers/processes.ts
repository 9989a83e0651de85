/**
 * Child processes for tests that can never outlive the test run.
 *
 * Every process started with `spawnTracked` is registered here and killed:
 *   - by `TrackedProcess.stop()` / `stopAllTracked()` (call it in after hooks);
 *   - on `process.on('exit')` (synchronous SIGKILL of anything still running);
 *   - on SIGINT / SIGTERM / SIGHUP of this process (then the signal's default
 *     action proceeds unless somebody else also listens for it);
 *   - when this Node process dies without running any handler (SIGKILL, OOM,
 *     crash), twice over:
 *       · the child is started through util-linux `setpriv --pdeathsig KILL`,
 *         so the kernel kills it when its parent dies (Linux);
 *       · a watchdog `sh` (one per test process, own process group) holds the
 *         read end of a pipe on which we write every tracked process group id;
 *         when this process dies the pipe hits EOF and the watchdog SIGKILLs
 *         those groups — this also gets grandchildren, which pdeathsig misses.
 *
 * By default each child gets its own process group and is killed as a group,
 * so wrappers (npx → tsx → node, sh -c …) do not leave grandchildren behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';

export interface SpawnTrackedOptions {
  /** Label used in logs and errors. Default: the command's basename. */
  name?: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Own process group, killed as a whole. Default true. */
  processGroup?: boolean;
  /** Kernel-kill the child if this process dies (Linux, needs /usr/bin/setpriv). Default true. */
  dieWithParent?: boolean;
  /** Default 'ignore'. */
  stdin?: 'ignore' | 'pipe';
  /** Called for each line the child prints. */
  onStdoutLine?: (line: string) => void;
  onStderrLine?: (line: string) => void;
  /** Echo the child's output to this process's stderr, prefixed with the name. Default false. */
  echo?: boolean;
  /** How many recent output lines to keep for `output()` and error messages. Default 200. */
  keepLines?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all (ENOENT, EACCES…). */
  error?: Error;
}

const SETPRIV = '/usr/bin/setpriv';
const tracked = new Set<TrackedProcess>();
let hooksInstalled = false;

/**
 * The watchdog script: "<pgid>" lines register a group, "-<pgid>" lines
 * forget one (it exited; its id may be reused). On EOF, i.e. when every
 * writer (this process) is gone, kill what is left. (/bin/sh is dash: its
 * builtin kill takes "-PGID" but not "--".)
 */
const WATCHDOG_SCRIPT = `
trap '' INT HUP TERM
groups=" "
while IFS= read -r line; do
  case "$line" in
    -*) groups=$(printf '%s' "$groups" | sed "s/ \${line#-} / /") ;;
    *) groups="$groups$line " ;;
  esac
done
for g in $groups; do kill -KILL "-$g" 2>/dev/null; done
`;
let watchdog: ChildProcess | undefined;

function watchdogWrite(line: string): void {
  try {
    if (!watchdog) {
      watchdog = spawn('/bin/sh', ['-c', WATCHDOG_SCRIPT], { detached: true, stdio: ['pipe', 'ignore', 'ignore'] });
      watchdog.on('error', () => {
        watchdog = undefined;
      });
      watchdog.stdin?.on('error', () => {});
      // Never keep the event loop alive because of the watchdog.
      watchdog.unref();
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    }
    watchdog.stdin?.write(`${line}\n`);
  } catch {
    /* best effort: the exit hooks and pdeathsig still apply */
  }
}

export class TrackedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
  readonly #group: boolean;
  readonly #lines: string[] = [];
  readonly #keepLines: number;
  readonly #lineWaiters = new Set<(line: string) => void>();

  constructor(command: string, args: readonly string[], options: SpawnTrackedOptions = {}) {
    this.name = options.name ?? command.split('/').pop() ?? command;
    this.#group = options.processGroup ?? true;
    this.#keepLines = options.keepLines ?? 200;

    let file = command;
    let argv = [...args];
    if ((options.dieWithParent ?? true) && process.platform === 'linux' && existsSync(SETPRIV)) {
      // setpriv sets PR_SET_PDEATHSIG and then execs the command: same pid.
      file = SETPRIV;
      argv = ['--pdeathsig', 'KILL', '--', command, ...args];
    }

    this.child = spawn(file, argv, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      detached: this.#group,
      stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    });

    const handleLines = (stream: NodeJS.ReadableStream | null, onLine?: (line: string) => void): void => {
      if (!stream) return;
      let pending = '';
      stream.setEncoding('utf8');
      // Always drain the pipes: a child blocked on a full pipe looks like a hang.
      stream.on('data', (chunk: string) => {
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).replace(/\r$/, '');
          pending = pending.slice(newline + 1);
          this.#pushLine(line, onLine, options.echo ?? false);
        }
      });
      stream.on('end', () => {
        if (pending) this.#pushLine(pending, onLine, options.echo ?? false);
        pending = '';
      });
    };
    handleLines(this.child.stdout, options.onStdoutLine);
    handleLines(this.child.stderr, options.onStderrLine);

    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('error', (error) => {
        // 'error' without 'exit' means the process never started.
        if (this.child.pid === undefined) {
          this.exitInfo = { code: null, signal: null, error };
          tracked.delete(this);
          resolve(this.exitInfo);
        }
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        tracked.delete(this);
        // The group may still hold grandchildren; take them down too.
        this.#signalGroup('SIGKILL');
        resolve(this.exitInfo);
      });
    });

    tracked.add(this);
    installExitHooks();
    if (this.#group && this.child.pid !== undefined) {
      const pgid = this.child.pid;
      watchdogWrite(String(pgid));
      void this.exited.then(() => watchdogWrite(`-${pgid}`));
    }
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** The last `keepLines` lines of stdout+stderr, for error messages. */
  output(): string {
    return this.#lines.join('\n');
  }

  /** Resolves with the first output line (from now, or already kept) matching `pattern`. */
  waitForLine(pattern: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    for (const line of this.#lines) {
      const match = line.match(pattern);
      if (match) return Promise.resolve(match);
    }
    return new Promise((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#lineWaiters.delete(onLine);
      };
      const onLine = (line: string): void => {
        const match = line.match(pattern);
        if (match) {
          cleanup();
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name}: no output line matching ${pattern} within ${timeoutMs} ms; recent output:\n${this.output()}`));
      }, timeoutMs);
      this.#lineWaiters.add(onLine);
      void this.exited.then((info) => {
        if (!this.#lineWaiters.has(onLine)) return;
        cleanup();
        reject(new Error(`${this.name} exited (${describeExit(info)}) before printing a line matching ${pattern}; ` + `recent output:\n${this.output()}`));
      });
    });
  }

  /** Sends a signal (to the whole group by default). Synchronous, never throws. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.running) return;
    if (this.#group) this.#signalGroup(signal);
    else {
      try {
        this.child.kill(signal);
      } catch {
        /* already gone */
      }
    }
  }

  /** Signal, wait up to `timeoutMs`, then SIGKILL. Idempotent; resolves when the process is gone. */
  async stop({ signal = 'SIGTERM', timeoutMs = 5_000 }: { signal?: NodeJS.Signals; timeoutMs?: number } = {}): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') {
      this.kill('SIGKILL');
      return this.exited;
    }
    return first;
  }

  #pushLine(line: string, onLine: ((line: string) => void) | undefined, echo: boolean): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#keepLines) this.#lines.shift();
    if (echo) process.stderr.write(`[${this.name}] ${line}\n`);
    try {
      onLine?.(line);
    } catch (error) {
      process.stderr.write(`[${this.name}] output line handler threw: ${String(error)}\n`);
    }
    for (const waiter of [...this.#lineWaiters]) waiter(line);
  }

  #signalGroup(signal: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined || !this.#group) return;
    try {
      process.kill(-pid, signal);
    } catch {
      /* group already empty */
    }
  }
}

export function describeExit(info: ExitInfo): string {
  if (info.error) return `failed to start: ${info.error.message}`;
  if (info.signal) return `killed by ${info.signal}`;
  return `exit code ${info.code}`;
}

/** Starts a child process that is guaranteed to be killed at the end of the test run. */
export function spawnTracked(command: string, args: readonly string[], options?: SpawnTrackedOptions): TrackedProcess {
  return new TrackedProcess(command, args, options);
}

/** Processes started here and still running. */
export function listTracked(): TrackedProcess[] {
  return [...tracked];
}

/** Stops every tracked process (SIGTERM, then SIGKILL after `timeoutMs`). For after/afterEach hooks. */
export async function stopAllTracked(timeoutMs = 5_000): Promise<void> {
  await Promise.all([...tracked].map((p) => p.stop({ timeoutMs })));
}

/** Synchronous last resort: SIGKILL everything still running. */
export function killAllTrackedSync(): void {
  for (const p of [...tracked]) p.kill('SIGKILL');
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllTrackedSync);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      killAllTrackedSync();
      // If we are the only listener, restore the default action (terminate)
      // and re-raise so the process still dies of this signal.
      if (process.listenerCount(signal) === 1) {
        process.removeListener(signal, onSignal);
        process.kill(process.pid, signal);
      }
    };
    process.on(signal, onSignal);
  }
}
