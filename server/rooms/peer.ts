/**
 * One participant's media state in a room: its WebRTC transports, producers
 * and consumers. Signaling-agnostic: events for the client go through the
 * `notify` callback the signaling session provides.
 */
import type { types as ms } from 'mediasoup';
import type { Role, ServerEventName, ServerEvents } from '../contracts/signaling.js';
import type { RouterEntry } from './routerEntry.js';

export type Notify = <E extends ServerEventName>(event: E, data: ServerEvents[E]) => void;

/** Why a peer left its room; the signaling session tells the client accordingly. */
export type EvictionReason = { kind: 'reconnect'; reason: string } | { kind: 'kicked'; reason: string } | { kind: 'roomClosed'; reason: string };

export const peerLimits = {
  transports: 2,
  producersPerKind: 2,
  /** A transport that has not completed DTLS by then is closed. */
  transportConnectTimeoutMs: 30_000,
} as const;

export class Peer {
  readonly transports = new Map<string, ms.WebRtcTransport>();
  readonly producers = new Map<string, ms.Producer>();
  /** Keyed by consumer id. */
  readonly consumers = new Map<string, ms.Consumer>();
  /** Router this peer's transports live on (viewers: a consumer router). */
  routerEntry: RouterEntry | undefined;
  #closed = false;

  constructor(
    readonly id: string,
    readonly role: Role,
    readonly notify: Notify,
    /** Called once when the room removes this peer for a reason other than leave. */
    readonly onEvicted: (reason: EvictionReason) => void,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  consumerForProducer(producerId: string): ms.Consumer | undefined {
    for (const consumer of this.consumers.values()) {
      if (consumer.appData['sourceProducerId'] === producerId) return consumer;
    }
    return undefined;
  }

  /** Closes every transport (which closes their producers and consumers). Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const transport of this.transports.values()) transport.close();
    this.transports.clear();
    this.producers.clear();
    this.consumers.clear();
  }
}
