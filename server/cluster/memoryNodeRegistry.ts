/**
 * Nodes in one process. Registries on one `MemoryNodeHub` see each other (tests
 * run several nodes in one process this way); expiry works as in Redis: an
 * entry not renewed within its TTL is gone.
 */
import { NODE_RENEW_MS, NODE_TTL_MS, NodeIdTakenError, parseAnnouncement, type NodeAnnouncement, type NodeRecord, type NodeRegistry } from './nodeRegistry.js';

interface HubEntry {
  record: NodeRecord;
  owner: MemoryNodeRegistry;
  expiresAt: number;
}

export class MemoryNodeHub {
  readonly entries = new Map<string, HubEntry>();

  live(): HubEntry[] {
    const now = Date.now();
    return [...this.entries.values()].filter((entry) => entry.expiresAt > now);
  }
}

export interface NodeRegistryTiming {
  ttlMs?: number;
  renewEveryMs?: number;
}

export class MemoryNodeRegistry implements NodeRegistry {
  readonly #hub: MemoryNodeHub;
  readonly #ttlMs: number;
  readonly #renewEveryMs: number;
  #node: NodeAnnouncement | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(options: NodeRegistryTiming & { hub?: MemoryNodeHub } = {}) {
    this.#hub = options.hub ?? new MemoryNodeHub();
    this.#ttlMs = options.ttlMs ?? NODE_TTL_MS;
    this.#renewEveryMs = options.renewEveryMs ?? NODE_RENEW_MS;
  }

  async announce(node: NodeAnnouncement): Promise<void> {
    if (this.#closed) throw new Error('the node registry is closed');
    if (this.#node) throw new Error(`this registry already announced node ${this.#node.id}`);
    const announced = parseAnnouncement(node);
    const holder = this.#hub.entries.get(announced.id);
    if (holder && holder.owner !== this && holder.expiresAt > Date.now()) throw new NodeIdTakenError(holder.record);
    this.#node = announced;
    this.#renew();
    this.#timer = setInterval(() => this.#renew(), this.#renewEveryMs);
    this.#timer.unref();
  }

  update(change: Partial<Pick<NodeAnnouncement, 'state' | 'load'>>): void {
    if (!this.#node) throw new Error('announce the node first');
    this.#node = parseAnnouncement({ ...this.#node, ...change });
  }

  async nodes(): Promise<NodeRecord[]> {
    return this.#hub
      .live()
      .map((entry) => structuredClone(entry.record))
      .sort((a, b) => a.id.localeCompare(b.id));
  }

  async get(id: string): Promise<NodeRecord | undefined> {
    return (await this.nodes()).find((node) => node.id === id);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    if (this.#node && this.#hub.entries.get(this.#node.id)?.owner === this) this.#hub.entries.delete(this.#node.id);
  }

  #renew(): void {
    if (!this.#node || this.#closed) return;
    const holder = this.#hub.entries.get(this.#node.id);
    // Another registry took the id after ours expired: it is theirs now.
    if (holder && holder.owner !== this && holder.expiresAt > Date.now()) return;
    this.#hub.entries.set(this.#node.id, {
      record: { ...this.#node, updatedAt: new Date().toISOString() },
      owner: this,
      expiresAt: Date.now() + this.#ttlMs,
    });
  }
}
