/**
 * The recording side of a recorder placed on another node than the room's
 * origin (an `hls` node, issue 10): the origin asks this node to record a
 * room (`hls.record`, renewed every second); this node opens the room as an
 * edge of the origin (the cascade pipe brings the program here), keeps it
 * open although nobody watches here, and the HLS service records it. The
 * hold ends on `hls.release`, when the origin stops renewing (it died), or
 * when the room closes; the service is told each time (`onChange`).
 */
import type { Logger } from '../observability/logger.js';
import type { MessageBus } from '../cluster/messageBus.js';
import type { Room } from '../rooms/room.js';
import type { RoomRegistry } from '../rooms/roomRegistry.js';
import { HLS_RECORDER_METHODS, RECORD_EXPIRE_MS, parseHlsRecordRequest, parseHlsRoomRequest, type RecorderRank } from './hlsRecorderProtocol.js';

export interface RecorderHoldsOptions {
  bus: MessageBus;
  rooms: Pick<RoomRegistry, 'open' | 'hold'>;
  /** A room's assignment here began or ended, or its rank (leader, follower) changed. */
  onChange: (room: string) => void;
  logger: Logger;
  expireMs?: number;
}

interface Hold {
  room: Room;
  origin: string;
  release: () => void;
  renewedAt: number;
  rank: RecorderRank;
  leader: string;
}

export class RecorderHolds {
  readonly #options: RecorderHoldsOptions;
  readonly #log: Logger;
  readonly #holds = new Map<string, Hold>();
  /** Rooms being opened for a first `hls.record` (a renewal meanwhile waits for it). */
  readonly #opening = new Map<string, Promise<void>>();
  readonly #unhandle: Array<() => void>;
  readonly #timer: NodeJS.Timeout;
  #closed = false;

  constructor(options: RecorderHoldsOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'hls-holds' });
    this.#unhandle = [
      options.bus.handle(HLS_RECORDER_METHODS.record, (payload, from) => {
        const { room, rank, leader } = parseHlsRecordRequest(payload);
        return this.#record(room, from, rank, leader);
      }),
      options.bus.handle(HLS_RECORDER_METHODS.release, async (payload, from) => {
        const { room } = parseHlsRoomRequest(payload);
        if (this.#holds.get(room)?.origin === from) this.#drop(room, 'released by the origin');
        return { ok: true };
      }),
    ];
    const expireMs = options.expireMs ?? RECORD_EXPIRE_MS;
    this.#timer = setInterval(() => {
      const now = Date.now();
      for (const [room, hold] of this.#holds) {
        if (hold.room.closed) this.#drop(room, 'room closed');
        else if (now - hold.renewedAt > expireMs) this.#drop(room, 'the origin stopped renewing the assignment');
      }
    }, 1_000);
    this.#timer.unref();
  }

  /** This node should record the room (the origin asked, lately). */
  holds(room: string): boolean {
    const hold = this.#holds.get(room);
    return hold !== undefined && !hold.room.closed;
  }

  /** This node's rank for the room and the leader's node id, while it holds the room. */
  rankOf(room: string): { rank: RecorderRank; leader: string } | undefined {
    const hold = this.#holds.get(room);
    return hold && !hold.room.closed ? { rank: hold.rank, leader: hold.leader } : undefined;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#timer);
    for (const unhandle of this.#unhandle) unhandle();
    for (const room of [...this.#holds.keys()]) this.#drop(room, 'server shutting down', false);
  }

  async #record(room: string, origin: string, rank: RecorderRank, leader: string): Promise<{ ok: true }> {
    if (this.#closed) throw new Error('this node is shutting down');
    await this.#opening.get(room);
    const hold = this.#holds.get(room);
    if (hold && !hold.room.closed && hold.origin === origin) {
      hold.renewedAt = Date.now();
      if (hold.rank !== rank || hold.leader !== leader) {
        Object.assign(hold, { rank, leader });
        this.#log.info({ room, rank, leader }, 'the HLS recorder rank of the room changed');
        this.#options.onChange(room);
      }
      return { ok: true };
    }
    if (hold) this.#drop(room, hold.room.closed ? 'room closed' : `origin moved to ${origin}`);
    const opening = this.#open(room, origin, rank, leader).finally(() => this.#opening.delete(room));
    this.#opening.set(room, opening);
    await opening;
    return { ok: true };
  }

  async #open(id: string, origin: string, rank: RecorderRank, leader: string): Promise<void> {
    // An edge of the origin: the join path's open, piped before it resolves (throws when the origin can't be reached).
    const room = await this.#options.rooms.open(id);
    if (this.#closed) return;
    this.#holds.set(id, { room, origin, release: this.#options.rooms.hold(room), renewedAt: Date.now(), rank, leader });
    this.#log.info({ room: id, origin, rank, leader }, 'recording a room of another node here');
    this.#options.onChange(id);
  }

  #drop(room: string, reason: string, notify = true): void {
    const hold = this.#holds.get(room);
    if (!hold) return;
    this.#holds.delete(room);
    hold.release();
    this.#log.info({ room, reason }, 'no longer recording the room here');
    if (notify) this.#options.onChange(room);
  }
}
