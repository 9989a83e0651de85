/**
 * An EventEmitter whose listeners cannot break the emitter: `safeEmit` calls
 * every listener, and one that throws is reported while the others still run,
 * so (for example) a faulty stats hook can never turn a viewer's join into an
 * INTERNAL error. Same idea as mediasoup's `safeEmit`.
 */
import { EventEmitter } from 'node:events';

/** Where listener failures go; the app points it at its logger. */
let reportListenerError = (event: string, error: unknown): void => {
  process.stderr.write(`floodlight: a "${event}" listener threw: ${error instanceof Error ? error.message : String(error)}\n`);
};

export function setListenerErrorReporter(report: (event: string, error: unknown) => void): void {
  reportListenerError = report;
}

export class SafeEmitter<T extends Record<keyof T, unknown[]>> extends EventEmitter<T> {
  protected safeEmit<K extends keyof T & string>(event: K, ...args: T[K]): void {
    // rawListeners keeps once() wrappers, which remove themselves when called.
    const listeners = (this as EventEmitter).rawListeners(event) as Array<(...a: unknown[]) => unknown>;
    for (const listener of listeners) {
      try {
        listener.apply(this, args);
      } catch (error) {
        reportListenerError(event, error);
      }
    }
  }
}
