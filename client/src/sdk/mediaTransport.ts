import type { Device, types as mediasoupTypes } from 'mediasoup-client';
import type { Attempt } from './attempt.js';
import { IceRecovery } from './iceRecovery.js';
import type { SignalingClient } from './signalingClient.js';

type Transport = mediasoupTypes.Transport;

export interface MediaTransportOptions {
  direction: 'send' | 'recv';
  device: Device;
  signaling: SignalingClient;
  /** The join this transport belongs to: its requests are dropped once the attempt is stale. */
  attempt: Attempt;
  /** Every connection state change (the owner derives its public state from it). */
  onConnectionState: (state: mediasoupTypes.ConnectionState) => void;
  /** ICE recovery gave up: the owner should rejoin from scratch. */
  onUnrecoverable: (reason: string) => void;
}

/**
 * One WebRTC transport of a join, as both the Publisher and the Viewer use it:
 * created on the server (`createTransport`), mirrored by the local Device,
 * DTLS parameters sent on mediasoup-client's `connect`, and healed by
 * IceRecovery. close() closes the transport and everything on it.
 */
export class MediaTransport {
  readonly transport: Transport;
  readonly #ice: IceRecovery;
  #everConnected = false;

  private constructor(transport: Transport, options: MediaTransportOptions) {
    this.transport = transport;
    const { signaling } = options;
    transport.on('connect', ({ dtlsParameters }, callback, errback) => {
      signaling.request('connectTransport', { transportId: transport.id, dtlsParameters }).then(() => callback(), errback);
    });
    transport.on('connectionstatechange', (state) => {
      if (state === 'connected') this.#everConnected = true;
      options.onConnectionState(state);
    });
    this.#ice = new IceRecovery({
      transport,
      requestIceRestart: (transportId) => signaling.request('restartIce', { transportId }),
      onUnrecoverable: (reason) => options.onUnrecoverable(`${options.direction} transport: ${reason}`),
    });
  }

  /** Asks the server for the transport and builds its local half. Rejects with the server's error (e.g. NOT_LIVE). */
  static async open(options: MediaTransportOptions): Promise<MediaTransport> {
    const { attempt, device, direction, signaling } = options;
    const info = await attempt.guard(signaling.request('createTransport', { direction }));
    const parameters = {
      id: info.id,
      iceParameters: info.iceParameters,
      iceCandidates: info.iceCandidates,
      dtlsParameters: info.dtlsParameters,
    };
    const transport = direction === 'send' ? device.createSendTransport(parameters) : device.createRecvTransport(parameters);
    return new MediaTransport(transport, options);
  }

  get id(): string {
    return this.transport.id;
  }

  get connected(): boolean {
    return this.transport.connectionState === 'connected';
  }

  /** Whether DTLS ever came up: a transport that has not yet is 'connecting', one that lost it 'reconnecting'. */
  get everConnected(): boolean {
    return this.#everConnected;
  }

  /** Closes the transport and with it every producer/consumer on it (idempotent). */
  close(): void {
    this.#ice.close();
    this.transport.close();
  }
}

/** Joined, media not flowing yet: 'connecting' until the transport first came up, 'reconnecting' once it has lost it. */
export function mediaPendingState(transport: MediaTransport | null | undefined): 'connecting' | 'reconnecting' {
  return transport?.everConnected ? 'reconnecting' : 'connecting';
}
