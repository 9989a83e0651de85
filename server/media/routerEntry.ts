/**
 * A router serving one room, on one worker. The room's origin router holds
 * its program (the active source's producers); other routers get the
 * program's tracks through pipes and hand them to the viewers placed on them.
 */
import type { types as ms } from 'mediasoup';

export class RouterEntry {
  /** Consumer slots reserved by viewers placed here (see SLOTS_PER_VIEWER). */
  reserved = 0;
  /**
   * Program track id → promise of the id of the producer carrying it on this
   * router. On the origin both ids are equal; piped routers get a new id.
   */
  readonly localProducerIds = new Map<string, Promise<string>>();

  constructor(
    readonly router: ms.Router,
    readonly workerIndex: number,
    readonly isOrigin: boolean,
  ) {}

  get id(): string {
    return this.router.id;
  }

  close(): void {
    this.router.close();
    this.localProducerIds.clear();
  }
}
