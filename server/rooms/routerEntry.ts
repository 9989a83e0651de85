/**
 * A router serving one room, on one worker. The room's first router also
 * receives the publisher's producers; other routers get them through
 * `pipeToRouter` and hand them to the viewers placed on them.
 */
import type { types as ms } from 'mediasoup';

export class RouterEntry {
  /** Consumer slots reserved by viewers placed here (see Room.slotsPerViewer). */
  reserved = 0;
  /**
   * Original producer id → promise of the id of the producer on this router.
   * On the publisher router both ids are equal; piped routers get a new id
   * (a worker can't hold two producers with the same id, and a room may put
   * several consumer routers on one worker).
   */
  readonly localProducerIds = new Map<string, Promise<string>>();

  constructor(
    readonly router: ms.Router,
    readonly workerIndex: number,
    readonly isPublisherRouter: boolean,
  ) {}

  get id(): string {
    return this.router.id;
  }

  close(): void {
    this.router.close();
    this.localProducerIds.clear();
  }
}
