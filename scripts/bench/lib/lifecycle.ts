/**
 * Bounded, self-cleaning benchmark runs: everything started is registered with
 * `defer()` and closed in reverse order on success, error, SIGINT/SIGTERM or
 * when the hard deadline passes (then the process exits non-zero).
 */
import { progress } from './results.js';

type Cleanup = () => unknown;

export class BenchRun {
  private readonly cleanups: Array<{ label: string; fn: Cleanup }> = [];
  private cleaning: Promise<void> | null = null;
  private readonly deadline: NodeJS.Timeout;

  constructor(
    readonly name: string,
    deadlineMs: number,
  ) {
    const abort = (why: string, code: number) => {
      progress(name, `${why}: cleaning up`);
      void this.cleanup().finally(() => process.exit(code));
    };
    this.deadline = setTimeout(() => abort(`deadline of ${Math.round(deadlineMs / 1000)} s reached`, 124), deadlineMs);
    this.deadline.unref();
    process.once('SIGINT', () => abort('interrupted', 130));
    process.once('SIGTERM', () => abort('terminated', 143));
  }

  /** Registers something to close; returns `value` for chaining. */
  defer<T>(label: string, value: T, fn: (value: T) => unknown): T {
    this.cleanups.push({ label, fn: () => fn(value) });
    return value;
  }

  /** Closes everything registered, newest first, each bounded to 15 s. Idempotent. */
  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      clearTimeout(this.deadline);
      while (this.cleanups.length) {
        const { label, fn } = this.cleanups.pop()!;
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(fn),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error('timed out after 15 s')), 15_000);
            }),
          ]);
        } catch (error) {
          progress(this.name, `cleanup of ${label} failed: ${error instanceof Error ? error.message : String(error)}`);
        } finally {
          clearTimeout(timer);
        }
      }
    })();
    return this.cleaning;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
