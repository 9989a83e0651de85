/**
 * Runs async tasks one at a time, in submission order. The headless peers
 * funnel every signaling + SDP step through one queue so that events arriving
 * mid-negotiation (newProducer during join, reconnect during consume…) never
 * interleave with another offer/answer round.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  push<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(task, task);
    // Keep the chain alive whatever this task does.
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** Resolves once everything queued so far has finished. */
  drain(): Promise<void> {
    return this.#tail.then(() => undefined);
  }
}
