/** Same-host pipes: pipeToRouter between routers of this process (any workers). */
import type { types as ms } from 'mediasoup';
import type { PipeRequest, PipeStrategy } from './pipeStrategy.js';

export class LocalPipe implements PipeStrategy {
  constructor(readonly listenInfo: ms.TransportListenInfo) {}

  async pipe({ producer, from, to }: PipeRequest): Promise<ms.Producer> {
    const { pipeProducer } = await from.pipeToRouter({
      producerId: producer.id,
      router: to,
      // Fresh ids always: a worker can't hold two producers with one id, and a
      // room may put several consumer routers on one worker. RouterEntry maps ids.
      keepId: false,
      enableSctp: false,
      listenInfo: this.listenInfo,
    });
    if (!pipeProducer) throw new Error('pipeToRouter returned no producer');
    return pipeProducer;
  }
}
