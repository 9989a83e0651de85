/**
 * The one WebRTC transport a browser-side participant has (a publisher's send
 * transport, a viewer's recv transport): created on its worker's WebRtcServer,
 * connected by the client, ICE-restartable, and closed if DTLS never completes.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { RoomError } from '../rooms/roomError.js';

/** A transport that has not completed DTLS by then is closed. */
export const TRANSPORT_CONNECT_TIMEOUT_MS = 30_000;

export interface WebRtcTransportDescription {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export class BrowserTransport {
  readonly #direction: 'send' | 'recv';
  readonly #log: Logger;
  #transport: ms.WebRtcTransport | undefined;
  #closed = false;

  constructor(direction: 'send' | 'recv', logger: Logger) {
    this.#direction = direction;
    this.#log = logger;
  }

  get current(): ms.WebRtcTransport | undefined {
    return this.#transport;
  }

  async open(router: ms.Router, webRtcServer: ms.WebRtcServer, appData: ms.AppData): Promise<WebRtcTransportDescription> {
    if (this.#transport) throw new RoomError('limit-reached', `a ${this.#direction} transport already exists`);
    const transport = await router.createWebRtcTransport({
      webRtcServer,
      enableUdp: true,
      enableTcp: true,
      preferUdp: true,
      initialAvailableOutgoingBitrate: 1_500_000,
      appData: { ...appData, direction: this.#direction },
    });
    if (this.#closed) {
      transport.close();
      throw new RoomError('not-joined', 'left the room while the transport was being created');
    }
    this.#transport = transport;
    transport.observer.once('close', () => {
      if (this.#transport === transport) this.#transport = undefined;
    });
    return { id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
  }

  async connect(transportId: string, dtlsParameters: ms.DtlsParameters): Promise<void> {
    const transport = this.byId(transportId);
    try {
      await transport.connect({ dtlsParameters });
    } catch (error) {
      throw new RoomError('bad-request', `cannot connect transport: ${(error as Error).message}`);
    }
  }

  async restartIce(transportId: string): Promise<ms.IceParameters> {
    return this.byId(transportId).restartIce();
  }

  /** Closes the transport unless DTLS completes within the deadline (armed now). */
  armConnectDeadline(timeoutMs = TRANSPORT_CONNECT_TIMEOUT_MS): void {
    const transport = this.#transport;
    if (!transport || transport.dtlsState === 'connected') return;
    const timer = setTimeout(() => {
      if (!transport.closed && transport.dtlsState !== 'connected') {
        this.#log.warn({ transport: transport.id }, 'transport not connected in time; closing it');
        transport.close();
      }
    }, timeoutMs);
    timer.unref();
    transport.observer.once('close', () => clearTimeout(timer));
    transport.on('dtlsstatechange', (state) => {
      if (state === 'connected') clearTimeout(timer);
      if (state === 'failed') this.#log.warn({ transport: transport.id }, 'DTLS failed');
    });
  }

  byId(transportId: string): ms.WebRtcTransport {
    const transport = this.#transport;
    if (this.#closed || transport?.id !== transportId) throw new RoomError('not-found', `no transport ${transportId}`);
    return transport;
  }

  /** Closes the transport (and so its producers or consumers). Idempotent. */
  close(): void {
    this.#closed = true;
    this.#transport?.close();
    this.#transport = undefined;
  }
}
