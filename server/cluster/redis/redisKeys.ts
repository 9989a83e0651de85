/**
 * Every Redis key and channel Floodlight uses, in one place (docs/cluster.md
 * lists them). All start with the configured prefix. Room and node ids cannot
 * contain ':' (their patterns forbid it), so the separators are unambiguous.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  /** The room's origin lease: "<epoch> <node>", with the lease TTL. */
  origin(room: string): string {
    return `${this.prefix}room:${room}:origin`;
  }

  /** The room's last epoch (INCR): outlives the lease so epochs never go back. */
  epoch(room: string): string {
    return `${this.prefix}room:${room}:epoch`;
  }

  /** One node's report on a room (JSON), with the report TTL. */
  report(room: string, node: string): string {
    return `${this.prefix}room:${room}:report:${node}`;
  }

  /** Index: the nodes reporting on a room (members whose report expired are pruned on read). */
  reporters(room: string): string {
    return `${this.prefix}room:${room}:reporters`;
  }

  /** Index: rooms someone reports on. */
  get rooms(): string {
    return `${this.prefix}rooms`;
  }

  /** A node's announcement (JSON), with the node TTL. */
  node(id: string): string {
    return `${this.prefix}node:${id}`;
  }

  /** Index: announced node ids. */
  get nodes(): string {
    return `${this.prefix}nodes`;
  }

  /** Hash of runtime settings (operator-set, kept until cleared: no TTL). */
  get settings(): string {
    return `${this.prefix}settings`;
  }

  /** Channel: a runtime setting changed (the field name). */
  get settingsChannel(): string {
    return `${this.prefix}settings:changed`;
  }

  /** Channel: room events, to every node. */
  get eventsChannel(): string {
    return `${this.prefix}bus:events`;
  }

  /** Channel: requests to one node. */
  requestChannel(node: string): string {
    return `${this.prefix}bus:request:${node}`;
  }

  /** Channel: replies to one node's requests. */
  replyChannel(node: string): string {
    return `${this.prefix}bus:reply:${node}`;
  }
}
