/**
 * Node-to-node messaging: room events broadcast to every node (and to this
 * node's own services), and requests to one node with a timeout (to set up
 * and tear down pipes across hosts). Implementations: in memory (one node,
 * or several nodes in one process for tests) and Redis pub/sub.
 */
import type { RoomEvent } from './roomEvents.js';

export class BusTimeoutError extends Error {
  constructor(node: string, method: string, timeoutMs: number) {
    super(`node ${node} did not answer ${method} within ${timeoutMs} ms`);
    this.name = 'BusTimeoutError';
  }
}

/** The remote handler threw; its message travels back. */
export class BusRemoteError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BusRemoteError';
  }
}

export type RequestHandler = (payload: unknown, from: string) => Promise<unknown>;

export interface MessageBus {
  /** This node's id. */
  readonly nodeId: string;
  /** Delivered to every node, this one included, asynchronously and in order per sender. */
  publish(event: RoomEvent): void;
  subscribe(listener: (event: RoomEvent) => void): () => void;
  /** Calls `method` on `node`; rejects with BusTimeoutError or BusRemoteError. */
  request(node: string, method: string, payload: unknown, timeoutMs?: number): Promise<unknown>;
  /** Serves `method` for other nodes; returns an unsubscribe function. */
  handle(method: string, handler: RequestHandler): () => void;
  close(): Promise<void>;
}

export const DEFAULT_BUS_TIMEOUT_MS = 5_000;

/** The request handlers a bus serves, by method; both buses keep theirs in one. */
export class HandlerTable {
  readonly #handlers = new Map<string, RequestHandler>();

  /** Serves `method` with `handler` until the returned function is called. */
  register(method: string, handler: RequestHandler): () => void {
    this.#handlers.set(method, handler);
    return () => {
      if (this.#handlers.get(method) === handler) this.#handlers.delete(method);
    };
  }

  get(method: string): RequestHandler | undefined {
    return this.#handlers.get(method);
  }

  clear(): void {
    this.#handlers.clear();
  }
}
