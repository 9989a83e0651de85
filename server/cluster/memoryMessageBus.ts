/**
 * The in-process message bus. Nodes created on one `MemoryBusHub` see each
 * other (tests run several nodes in one process this way); a lone bus is a
 * single node. Delivery is asynchronous like a real bus, and a listener that
 * throws never affects the publisher or the other listeners.
 */
import { BusRemoteError, BusTimeoutError, DEFAULT_BUS_TIMEOUT_MS, type MessageBus, HandlerTable, type RequestHandler } from './messageBus.js';
import type { RoomEvent } from './roomEvents.js';

export class MemoryBusHub {
  readonly nodes = new Map<string, MemoryMessageBus>();
}

export class MemoryMessageBus implements MessageBus {
  readonly nodeId: string;
  readonly #hub: MemoryBusHub;
  readonly #listeners = new Set<(event: RoomEvent) => void>();
  readonly #handlers = new HandlerTable();
  readonly #onListenerError: (error: unknown) => void;
  #closed = false;

  constructor(nodeId: string, options: { hub?: MemoryBusHub; onListenerError?: (error: unknown) => void } = {}) {
    this.nodeId = nodeId;
    this.#hub = options.hub ?? new MemoryBusHub();
    this.#onListenerError = options.onListenerError ?? (() => undefined);
    if (this.#hub.nodes.has(nodeId)) throw new Error(`node ${nodeId} is already on this bus`);
    this.#hub.nodes.set(nodeId, this);
  }

  publish(event: RoomEvent): void {
    if (this.#closed) return;
    for (const bus of this.#hub.nodes.values()) bus.#deliver(event);
  }

  subscribe(listener: (event: RoomEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async request(node: string, method: string, payload: unknown, timeoutMs = DEFAULT_BUS_TIMEOUT_MS): Promise<unknown> {
    const target = this.#closed ? undefined : this.#hub.nodes.get(node);
    const handler = target ? target.#handlers.get(method) : undefined;
    if (!handler) {
      // Like a real bus: nobody answers, the caller times out.
      await new Promise((resolve) => setTimeout(resolve, timeoutMs));
      throw new BusTimeoutError(node, method, timeoutMs);
    }
    try {
      return await handler(structuredClone(payload), this.nodeId);
    } catch (error) {
      throw new BusRemoteError((error as { code?: string }).code ?? 'ERROR', (error as Error).message);
    }
  }

  handle(method: string, handler: RequestHandler): () => void {
    return this.#handlers.register(method, handler);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#listeners.clear();
    this.#handlers.clear();
    if (this.#hub.nodes.get(this.nodeId) === this) this.#hub.nodes.delete(this.nodeId);
  }

  #deliver(event: RoomEvent): void {
    if (this.#closed) return;
    const copy = structuredClone(event);
    queueMicrotask(() => {
      for (const listener of this.#listeners) {
        try {
          listener(copy);
        } catch (error) {
          this.#onListenerError(error);
        }
      }
    });
  }
}
