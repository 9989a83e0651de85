/** Thrown out of `Attempt.guard()` once the attempt has been superseded. */
export class StaleAttemptError extends Error {
  override readonly name = 'StaleAttemptError';
  constructor() {
    super('superseded by a newer join attempt');
  }
}

/**
 * One join attempt (join → transports → producers/consumers). When a rejoin
 * starts, the previous attempt is aborted; its pending steps then reject with
 * StaleAttemptError instead of touching state that now belongs to the new one.
 */
export class Attempt {
  private isAborted = false;
  private readonly abortListeners = new Set<() => void>();
  /** Resolves when the attempt is aborted. */
  readonly aborted: Promise<void>;

  constructor(readonly id: number) {
    this.aborted = new Promise((resolve) => this.abortListeners.add(resolve));
  }

  get active(): boolean {
    return !this.isAborted;
  }

  abort(): void {
    if (this.isAborted) return;
    this.isAborted = true;
    for (const listener of [...this.abortListeners]) listener();
    this.abortListeners.clear();
  }

  /** Throws StaleAttemptError if aborted; use after any await done without guard(). */
  assertActive(): void {
    if (this.isAborted) throw new StaleAttemptError();
  }

  /** Awaits `work`, but rejects with StaleAttemptError as soon as the attempt is aborted. */
  guard<T>(work: Promise<T>): Promise<T> {
    if (this.isAborted) {
      work.catch(() => undefined); // nobody will look at it any more
      return Promise.reject(new StaleAttemptError());
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new StaleAttemptError());
      this.abortListeners.add(onAbort);
      work.then(
        (value) => {
          this.abortListeners.delete(onAbort);
          if (this.isAborted) reject(new StaleAttemptError());
          else resolve(value);
        },
        (error: unknown) => {
          this.abortListeners.delete(onAbort);
          // The work's own rejection passes through unchanged (callers test its class and code).
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors
          reject(this.isAborted ? new StaleAttemptError() : error);
        },
      );
    });
  }
}
