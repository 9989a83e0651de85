/**
 * Delivers events (alert.fired / alert.resolved) to the WEBHOOK_URLS.
 *
 * Each endpoint has its own bounded queue and delivers one event at a time,
 * in order: POST JSON `{ type, alert, sentAt }`, signed (webhookSignature.ts),
 * with `X-Floodlight-Event-Id` (the same on every retry, for de-duplication),
 * a 3 s timeout, and retries after 1, 2, 4, 8 and 16 s; then the event is
 * given up (logged). A full queue drops its oldest event (counted). A dead
 * endpoint shows up in logs, metrics and the admin overview, never as an
 * error elsewhere: `send()` only enqueues and returns at once, and all
 * network work is asynchronous, so delivery never blocks the media path.
 */
import { randomUUID } from 'node:crypto';
import type { WebhookEndpointStatus } from '../contracts/adminApi.js';
import type { Logger } from '../observability/logger.js';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, signWebhook } from './webhookSignature.js';

export interface WebhookDispatcherOptions {
  urls: readonly string[];
  secret: string;
  logger: Logger;
  /** Pending events per endpoint (besides the one being delivered). Default 100. */
  queueSize?: number;
  /** Per attempt. Default 3000 ms. */
  timeoutMs?: number;
  /** Waits before retries 1..n. Default 1, 2, 4, 8, 16 s. */
  backoffMs?: readonly number[];
  fetch?: typeof fetch;
}

/** Counters for metrics. */
export interface WebhookEndpointCounters {
  index: number;
  delivered: number;
  failedAttempts: number;
  gaveUp: number;
  dropped: number;
  queued: number;
  ok: boolean;
}

interface QueuedEvent {
  id: string;
  type: string;
  fields: Record<string, unknown>;
  attempts: number;
}

interface Endpoint {
  index: number;
  url: string;
  label: string;
  /** Pending events, oldest first (the one being delivered is `current`). */
  queue: QueuedEvent[];
  current: QueuedEvent | undefined;
  running: boolean;
  ok: boolean;
  lastError: string | null;
  delivered: number;
  failedAttempts: number;
  gaveUp: number;
  dropped: number;
  wake: (() => void) | undefined;
}

export const DEFAULT_BACKOFF_MS = [1000, 2000, 4000, 8000, 16000] as const;

/** The URL without credentials or query (they may hold secrets): safe for logs and the overview. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname}${u.search ? '?…' : ''}`;
  } catch {
    return '<invalid url>';
  }
}

function describeError(error: unknown): string {
  if (error instanceof Error) {
    if (error.name === 'TimeoutError') return 'timed out';
    const cause = (error as Error & { cause?: unknown }).cause;
    if (cause instanceof Error && cause.message) return cause.message.slice(0, 200);
    return error.message.slice(0, 200);
  }
  return String(error).slice(0, 200);
}

export class WebhookDispatcher {
  readonly #options: WebhookDispatcherOptions;
  readonly #log: Logger;
  readonly #endpoints: Endpoint[];
  readonly #queueSize: number;
  readonly #timeoutMs: number;
  readonly #backoff: readonly number[];
  readonly #fetch: typeof fetch;
  readonly #abort = new AbortController();
  #closed = false;

  constructor(options: WebhookDispatcherOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'webhooks' });
    this.#queueSize = options.queueSize ?? 100;
    this.#timeoutMs = options.timeoutMs ?? 3000;
    this.#backoff = options.backoffMs ?? DEFAULT_BACKOFF_MS;
    this.#fetch = options.fetch ?? fetch;
    this.#endpoints = options.urls.map((url, index) => ({
      index,
      url,
      label: redactUrl(url),
      queue: [],
      current: undefined,
      running: false,
      ok: true,
      lastError: null,
      delivered: 0,
      failedAttempts: 0,
      gaveUp: 0,
      dropped: 0,
      wake: undefined,
    }));
  }

  get size(): number {
    return this.#endpoints.length;
  }

  /** Queues an event for every endpoint and returns at once. */
  send(type: string, fields: Record<string, unknown>): void {
    if (this.#closed) return;
    const id = randomUUID();
    for (const endpoint of this.#endpoints) {
      if (endpoint.queue.length >= this.#queueSize) {
        const dropped = endpoint.queue.shift();
        endpoint.dropped++;
        this.#log.warn(
          { endpoint: endpoint.label, eventId: dropped?.id, type: dropped?.type, dropped: endpoint.dropped },
          'webhook queue full; dropped the oldest event',
        );
      }
      endpoint.queue.push({ id, type, fields, attempts: 0 });
      // Not on the caller's stack (a stats tick, a worker-death handler): the
      // first fetch() of a process even loads its HTTP client synchronously.
      if (!endpoint.running) setImmediate(() => void this.#pump(endpoint));
    }
  }

  endpoints(): WebhookEndpointStatus[] {
    return this.#endpoints.map((e) => ({ url: e.label, ok: e.ok, lastError: e.lastError, delivered: e.delivered, failed: e.failedAttempts }));
  }

  counters(): WebhookEndpointCounters[] {
    return this.#endpoints.map((e) => ({
      index: e.index,
      delivered: e.delivered,
      failedAttempts: e.failedAttempts,
      gaveUp: e.gaveUp,
      dropped: e.dropped,
      queued: e.queue.length + (e.current ? 1 : 0),
      ok: e.ok,
    }));
  }

  /** Stops delivering: in-flight requests are aborted and queued events dropped. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    for (const endpoint of this.#endpoints) {
      const pending = endpoint.queue.length + (endpoint.current ? 1 : 0);
      if (pending > 0) this.#log.info({ endpoint: endpoint.label, pending }, 'webhook events not delivered (shutting down)');
      endpoint.queue = [];
      endpoint.current = undefined;
      endpoint.wake?.();
    }
  }

  async #pump(endpoint: Endpoint): Promise<void> {
    if (endpoint.running) return;
    endpoint.running = true;
    try {
      for (let event = endpoint.queue.shift(); event && !this.#closed; event = endpoint.queue.shift()) {
        endpoint.current = event;
        await this.#deliver(endpoint, event);
        endpoint.current = undefined;
      }
    } finally {
      endpoint.running = false;
      endpoint.current = undefined;
    }
  }

  /** Attempts one event until it is delivered, given up, or the dispatcher closes. */
  async #deliver(endpoint: Endpoint, event: QueuedEvent): Promise<void> {
    while (!this.#closed) {
      event.attempts++;
      const error = await this.#attempt(endpoint, event);
      // TypeScript keeps the loop condition's narrowing across the await, but close() may run meanwhile.
      if (this.#closed) return;
      if (error === undefined) {
        endpoint.delivered++;
        endpoint.ok = true;
        endpoint.lastError = null;
        return;
      }
      endpoint.failedAttempts++;
      endpoint.ok = false;
      endpoint.lastError = error;
      const retryIn = this.#backoff[event.attempts - 1];
      if (retryIn === undefined) {
        endpoint.gaveUp++;
        this.#log.error(
          { endpoint: endpoint.label, eventId: event.id, type: event.type, attempts: event.attempts, err: error },
          'webhook delivery failed; giving up on this event',
        );
        return;
      }
      this.#log.warn(
        { endpoint: endpoint.label, eventId: event.id, type: event.type, attempt: event.attempts, retryInMs: retryIn, err: error },
        'webhook delivery failed; will retry',
      );
      await this.#sleep(endpoint, retryIn);
    }
  }

  /** One POST; resolves to an error description, or undefined on a 2xx. */
  async #attempt(endpoint: Endpoint, event: QueuedEvent): Promise<string | undefined> {
    const body = JSON.stringify({ type: event.type, ...event.fields, sentAt: new Date().toISOString() });
    try {
      const response = await this.#fetch(endpoint.url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'floodlight-webhooks/1',
          [SIGNATURE_HEADER]: signWebhook(this.#options.secret, body),
          [EVENT_ID_HEADER]: event.id,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.#timeoutMs), this.#abort.signal]),
      });
      // The answer's body is of no interest; don't keep the connection busy with it.
      await response.body?.cancel().catch(() => undefined);
      if (response.status >= 200 && response.status < 300) return undefined;
      return `HTTP ${response.status}`;
    } catch (error) {
      return describeError(error);
    }
  }

  #sleep(endpoint: Endpoint, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done(): void {
        clearTimeout(timer);
        endpoint.wake = undefined;
        resolve();
      }
      endpoint.wake = done;
    });
  }
}
