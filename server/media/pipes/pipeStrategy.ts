/**
 * How a room's tracks reach another router. Same host today (`LocalPipe`,
 * mediasoup's pipeToRouter between two workers of this process); a cross-host
 * PipeTransport pair negotiated over the cluster bus implements the same
 * contract for edge nodes.
 */
import type { types as ms } from 'mediasoup';

export interface PipeRequest {
  /** The producer to carry, on `from`. */
  producer: ms.Producer;
  from: ms.Router;
  to: ms.Router;
}

export interface PipeStrategy {
  /** Makes `producer` consumable on `to`; resolves to the producer created there. */
  pipe(request: PipeRequest): Promise<ms.Producer>;
}
