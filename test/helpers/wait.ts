/**
 * Polling waits for tests: `waitFor` retries a predicate until it returns a
 * truthy value, printing progress every few seconds (so a slow media test
 * shows what it is stuck on) and throwing an error that names what it waited
 * for, the last progress line and the last error the predicate threw.
 */

export interface WaitForOptions {
  /** What we wait for, in words: "viewer 2 to receive 30 video frames". Required. */
  description: string;
  /** Give up after this long. Default 15 000 ms. */
  timeoutMs?: number;
  /** Poll period. Default 100 ms. */
  intervalMs?: number;
  /** Print "still waiting" this often (0 = never). Default 3 000 ms. */
  progressEveryMs?: number;
  /** Extra state shown in progress lines and in the timeout error, e.g. counters. */
  progress?: () => string;
  /** Where progress lines go. Default console.error (test runners show stderr). */
  log?: (line: string) => void;
  /** Abort the wait early (e.g. test cancelled). */
  signal?: AbortSignal;
}

export class WaitTimeoutError extends Error {
  constructor(
    message: string,
    readonly description: string,
    readonly elapsedMs: number,
    readonly lastError: unknown,
  ) {
    super(message);
    this.name = 'WaitTimeoutError';
  }
}

/** An AbortSignal's reason as an Error (a bare abort() gives a DOMException, which is one). */
function abortReason(signal: AbortSignal | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new Error('aborted');
}

export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(abortReason(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

function safeProgress(progress: (() => string) | undefined): string | undefined {
  if (!progress) return undefined;
  try {
    return progress();
  } catch (error) {
    return `<progress() threw: ${describeError(error)}>`;
  }
}

/**
 * Resolves with the predicate's first truthy result. A predicate that throws
 * counts as "not yet" (its error is reported if the wait times out).
 */
export async function waitFor<T>(predicate: () => T | Promise<T>, options: WaitForOptions): Promise<NonNullable<T>> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 100;
  const progressEveryMs = options.progressEveryMs ?? 3_000;
  const log = options.log ?? ((line: string) => console.error(line));
  const started = performance.now();
  let nextProgressAt = started + progressEveryMs;
  let lastError: unknown;

  for (;;) {
    if (options.signal?.aborted) {
      throw new Error(`wait for ${options.description} was aborted`);
    }
    try {
      const value = await predicate();
      if (value) return value;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    const now = performance.now();
    const elapsed = now - started;
    if (elapsed >= timeoutMs) {
      const state = safeProgress(options.progress);
      const parts = [`Timed out after ${(elapsed / 1000).toFixed(1)}s waiting for ${options.description}`];
      if (state !== undefined) parts.push(`last state: ${state}`);
      if (lastError !== undefined) parts.push(`last error: ${describeError(lastError)}`);
      throw new WaitTimeoutError(parts.join('; '), options.description, elapsed, lastError);
    }
    if (progressEveryMs > 0 && now >= nextProgressAt) {
      nextProgressAt = now + progressEveryMs;
      const state = safeProgress(options.progress);
      log(
        `[waitFor] still waiting for ${options.description} ` +
          `(${(elapsed / 1000).toFixed(1)}s of ${(timeoutMs / 1000).toFixed(0)}s)` +
          (state !== undefined ? `: ${state}` : '') +
          (lastError !== undefined ? ` [last error: ${describeError(lastError)}]` : ''),
      );
    }
    await sleep(Math.min(intervalMs, Math.max(0, timeoutMs - elapsed)), options.signal);
  }
}

/** Rejects with a clear message if `promise` does not settle within `timeoutMs`. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, description: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Timed out after ${(timeoutMs / 1000).toFixed(1)}s: ${description}`)), timeoutMs);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}
