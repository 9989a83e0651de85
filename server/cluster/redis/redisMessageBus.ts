/**
 * The message bus of a cluster, on Redis pub/sub (channels in redisKeys.ts).
 * Room events go to one channel every node subscribes to; a request goes to
 * the target node's request channel and its answer comes back on the
 * caller's reply channel, matched by a correlation id. Subscriptions use a
 * dedicated connection (a subscribed Redis connection can do nothing else);
 * ioredis re-subscribes it by itself after a reconnect.
 *
 * Anything arriving on these channels is untrusted input: a message that does
 * not parse or has the wrong shape is dropped and counted, never thrown.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../../observability/logger.js';
import { BusRemoteError, BusTimeoutError, DEFAULT_BUS_TIMEOUT_MS, type MessageBus, HandlerTable, type RequestHandler } from '../messageBus.js';
import type { RoomEvent, RoomEventType } from '../roomEvents.js';
import type { RedisKeys } from './redisKeys.js';
import { duplicateConnection } from './redisConnection.js';

const ROOM_EVENT_TYPES = ['opened', 'sourceAdded', 'sourceRemoved', 'programChanged', 'audienceChanged', 'closed'] as const satisfies readonly RoomEventType[];
// Fails to compile when a room event type is added without being listed above.
const _allTypesListed: Exclude<RoomEventType, (typeof ROOM_EVENT_TYPES)[number]> extends never ? true : never = true;

/** The fields every room event has; the rest travels as sent by a node running the same code. */
const roomEventSchema = z.looseObject({
  type: z.enum(ROOM_EVENT_TYPES),
  room: z.string().min(1),
  node: z.string().min(1),
  at: z.number(),
});

const requestSchema = z.object({
  id: z.string().min(1),
  from: z.string().min(1),
  method: z.string().min(1),
  payload: z.unknown(),
});

const replySchema = z.union([
  z.object({ id: z.string().min(1), ok: z.literal(true), result: z.unknown() }),
  z.object({ id: z.string().min(1), ok: z.literal(false), code: z.string(), message: z.string() }),
]);

type Reply = z.infer<typeof replySchema>;

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

export interface RedisMessageBusOptions {
  nodeId: string;
  /** A connected client for publishing; shared, not owned. The subscriber connection is made from it and owned. */
  client: Redis;
  keys: RedisKeys;
  logger: Logger;
  onListenerError?: (error: unknown) => void;
}

export class RedisMessageBus implements MessageBus {
  readonly nodeId: string;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #keys: RedisKeys;
  readonly #log: Logger;
  readonly #listeners = new Set<(event: RoomEvent) => void>();
  readonly #handlers = new HandlerTable();
  readonly #pending = new Map<string, Pending>();
  readonly #onListenerError: (error: unknown) => void;
  #dropped = 0;
  #closed = false;

  /** A bus whose subscriptions are in place (events published after this resolves are seen). */
  static async create(options: RedisMessageBusOptions): Promise<RedisMessageBus> {
    const subscriber = await duplicateConnection(options.client, { name: `floodlight-bus-${options.nodeId}`, logger: options.logger });
    const bus = new RedisMessageBus(options, subscriber);
    try {
      await subscriber.subscribe(options.keys.eventsChannel, options.keys.requestChannel(options.nodeId), options.keys.replyChannel(options.nodeId));
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  private constructor(options: RedisMessageBusOptions, subscriber: Redis) {
    this.nodeId = options.nodeId;
    this.#client = options.client;
    this.#subscriber = subscriber;
    this.#keys = options.keys;
    this.#log = options.logger.child({ component: 'bus' });
    this.#onListenerError = options.onListenerError ?? ((error) => this.#log.error({ err: (error as Error).message }, 'a room event listener threw'));
    subscriber.on('message', (channel: string, message: string) => {
      this.#receive(channel, message);
    });
  }

  /** Messages dropped because they did not parse or had the wrong shape. */
  get droppedMessages(): number {
    return this.#dropped;
  }

  publish(event: RoomEvent): void {
    if (this.#closed) return;
    this.#send(this.#keys.eventsChannel, event);
  }

  subscribe(listener: (event: RoomEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  request(node: string, method: string, payload: unknown, timeoutMs = DEFAULT_BUS_TIMEOUT_MS): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('the message bus is closed'));
    const id = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new BusTimeoutError(node, method, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { resolve, reject, timer });
      this.#send(this.#keys.requestChannel(node), { id, from: this.nodeId, method, payload });
    });
  }

  handle(method: string, handler: RequestHandler): () => void {
    return this.#handlers.register(method, handler);
  }

  /** Pending requests fail at once; the subscriber connection closes. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error('the message bus closed'));
      this.#pending.delete(id);
    }
    this.#listeners.clear();
    this.#handlers.clear();
    this.#subscriber.disconnect();
  }

  #send(channel: string, message: unknown): void {
    this.#client.publish(channel, JSON.stringify(message)).catch((error: unknown) => {
      // Requests then time out; events are best effort, like the pub/sub they ride on.
      this.#log.warn({ channel, err: (error as Error).message }, 'bus publish failed');
    });
  }

  #receive(channel: string, message: string): void {
    if (this.#closed) return;
    let data: unknown;
    try {
      data = JSON.parse(message);
    } catch {
      this.#drop(channel, 'not JSON');
      return;
    }
    if (channel === this.#keys.eventsChannel) this.#deliver(data, channel);
    else if (channel === this.#keys.requestChannel(this.nodeId)) void this.#serve(data, channel);
    else if (channel === this.#keys.replyChannel(this.nodeId)) this.#settle(data, channel);
  }

  #deliver(data: unknown, channel: string): void {
    const parsed = roomEventSchema.safeParse(data);
    if (!parsed.success) {
      this.#drop(channel, 'not a room event');
      return;
    }
    const event = parsed.data as RoomEvent;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#onListenerError(error);
      }
    }
  }

  async #serve(data: unknown, channel: string): Promise<void> {
    const parsed = requestSchema.safeParse(data);
    if (!parsed.success) {
      this.#drop(channel, 'not a request');
      return;
    }
    const { id, from, method, payload } = parsed.data;
    const handler = this.#handlers.get(method);
    // Like the in-memory bus: nobody serves it here, the caller times out.
    if (!handler) return;
    let reply: Reply;
    try {
      reply = { id, ok: true, result: await handler(payload, from) };
    } catch (error) {
      reply = { id, ok: false, code: (error as { code?: string }).code ?? 'ERROR', message: (error as Error).message };
    }
    if (!this.#closed) this.#send(this.#keys.replyChannel(from), reply);
  }

  #settle(data: unknown, channel: string): void {
    const parsed = replySchema.safeParse(data);
    if (!parsed.success) {
      this.#drop(channel, 'not a reply');
      return;
    }
    const reply = parsed.data;
    const pending = this.#pending.get(reply.id);
    // A late answer (the caller timed out) is not malformed: just nobody waits for it.
    if (!pending) return;
    this.#pending.delete(reply.id);
    clearTimeout(pending.timer);
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(new BusRemoteError(reply.code, reply.message));
  }

  #drop(channel: string, why: string): void {
    this.#dropped++;
    this.#log.warn({ channel, why, dropped: this.#dropped }, 'malformed bus message dropped');
  }
}
