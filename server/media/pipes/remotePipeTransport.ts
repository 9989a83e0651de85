/**
 * One side of a cross-host pipe: a PipeTransport on the announced address in
 * the node's RTC port range, with RTX (NACK over the pipe) and SRTP (the pipe
 * crosses the network), described as the PipeEndpoint the other side connects to.
 */
import type { types as ms } from 'mediasoup';
import type { PipeEndpoint } from '../../contracts/pipeProtocol.js';

export async function openRemotePipeTransport(
  router: ms.Router,
  listenInfo: ms.TransportListenInfo,
): Promise<{ transport: ms.PipeTransport; endpoint: PipeEndpoint }> {
  const transport = await router.createPipeTransport({ listenInfo, enableRtx: true, enableSrtp: true, enableSctp: false });
  const srtp = transport.srtpParameters;
  if (!srtp) {
    transport.close();
    throw new Error('pipe transport has no SRTP parameters');
  }
  return {
    transport,
    endpoint: { ip: transport.tuple.localAddress, port: transport.tuple.localPort, srtpParameters: srtp },
  };
}
