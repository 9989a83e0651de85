/**
 * For SDP unit tests (WHIP, WHEP): a router's RTP capabilities as mediasoup
 * derives them from routerMediaCodecs (payload types from 100, an RTX per
 * video codec), and a transport description with one UDP and one TCP
 * candidate — no worker needed.
 */
import { getSupportedRtpCapabilities, type types as ms } from 'mediasoup';
import { routerMediaCodecs } from '../../server/media/mediaCodecs.js';

/** The router's capabilities as mediasoup derives them from routerMediaCodecs (payload types from 100, RTX per video codec). */
export function routerCapabilities(): ms.RtpCapabilities {
  const supported = getSupportedRtpCapabilities();
  let payloadType = 100;
  const codecs: ms.RtpCodecCapability[] = [];
  for (const codec of routerMediaCodecs) {
    const base = supported.codecs!.find((c) => c.mimeType.toLowerCase() === codec.mimeType.toLowerCase())!;
    const preferred = payloadType++;
    codecs.push({ ...codec, preferredPayloadType: preferred, rtcpFeedback: base.rtcpFeedback ?? [] });
    if (codec.kind === 'video')
      codecs.push({
        kind: 'video',
        mimeType: 'video/rtx',
        clockRate: 90000,
        preferredPayloadType: payloadType++,
        parameters: { apt: preferred },
        rtcpFeedback: [],
      });
  }
  return { codecs, headerExtensions: supported.headerExtensions! };
}

export const fakeTransport = {
  iceParameters: { usernameFragment: 'srvufrag', password: 'srvpassword', iceLite: true },
  iceCandidates: [
    { foundation: 'udpcandidate', priority: 1076302079, address: '127.0.0.1', ip: '127.0.0.1', protocol: 'udp', port: 40001, type: 'host' },
    { foundation: 'tcpcandidate', priority: 1076276479, address: '127.0.0.1', ip: '127.0.0.1', protocol: 'tcp', port: 40001, type: 'host', tcpType: 'passive' },
  ] as ms.IceCandidate[],
  dtlsParameters: { role: 'auto', fingerprints: [{ algorithm: 'sha-256', value: 'AB:CD:EF:01' }] } as ms.DtlsParameters,
};
