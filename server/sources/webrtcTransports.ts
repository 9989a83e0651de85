/**
 * What a browser-facing WebRTC transport needs on the server side, shared by
 * publishers (send) and viewers (recv): creation on the worker's WebRtcServer,
 * the description the client needs, and a deadline for DTLS so a transport
 * nobody connects does not linger.
 */
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';

/** A transport that has not completed DTLS by then is closed. */
export const TRANSPORT_CONNECT_TIMEOUT_MS = 30_000;

export interface WebRtcTransportDescription {
  id: string;
  iceParameters: ms.IceParameters;
  iceCandidates: ms.IceCandidate[];
  dtlsParameters: ms.DtlsParameters;
}

export function describeTransport(transport: ms.WebRtcTransport): WebRtcTransportDescription {
  return { id: transport.id, iceParameters: transport.iceParameters, iceCandidates: transport.iceCandidates, dtlsParameters: transport.dtlsParameters };
}

export async function createBrowserTransport(router: ms.Router, webRtcServer: ms.WebRtcServer, appData: ms.AppData): Promise<ms.WebRtcTransport> {
  return router.createWebRtcTransport({
    webRtcServer,
    enableUdp: true,
    enableTcp: true,
    preferUdp: true,
    initialAvailableOutgoingBitrate: 1_500_000,
    appData,
  });
}

/** Closes `transport` unless DTLS completes within the deadline (armed now). */
export function armConnectDeadline(transport: ms.WebRtcTransport, log: Logger, timeoutMs = TRANSPORT_CONNECT_TIMEOUT_MS): void {
  if (transport.dtlsState === 'connected' || transport.closed) return;
  const timer = setTimeout(() => {
    if (!transport.closed && transport.dtlsState !== 'connected') {
      log.warn({ transport: transport.id }, 'transport not connected in time; closing it');
      transport.close();
    }
  }, timeoutMs);
  timer.unref();
  transport.observer.once('close', () => clearTimeout(timer));
  transport.on('dtlsstatechange', (state) => {
    if (state === 'connected') clearTimeout(timer);
    if (state === 'failed') log.warn({ transport: transport.id }, 'DTLS failed');
  });
}

export async function connectTransport(transport: ms.WebRtcTransport, dtlsParameters: ms.DtlsParameters): Promise<void> {
  await transport.connect({ dtlsParameters });
}
