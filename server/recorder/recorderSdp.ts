/**
 * The SDP ffmpeg reads to receive a room's RTP from mediasoup PlainTransports.
 * Built from the recorder consumers' rtpParameters, so payload types and
 * codec parameters are exactly what mediasoup sends.
 */
import type { types as ms } from 'mediasoup';

export interface SdpStream {
  kind: 'audio' | 'video';
  /** ffmpeg binds this port for RTP and port+1 for RTCP. */
  port: number;
  rtpParameters: ms.RtpParameters;
}

export function buildRecorderSdp(streams: readonly SdpStream[]): string {
  const lines = ['v=0', 'o=- 0 0 IN IP4 127.0.0.1', 's=floodlight-recorder', 'c=IN IP4 127.0.0.1', 't=0 0'];
  for (const stream of streams) {
    const codec = stream.rtpParameters.codecs[0];
    if (!codec) throw new Error(`${stream.kind} consumer has no codec`);
    const [, name] = codec.mimeType.split('/');
    lines.push(`m=${stream.kind} ${stream.port} RTP/AVP ${codec.payloadType}`);
    lines.push(`a=rtpmap:${codec.payloadType} ${name}/${codec.clockRate}${codec.channels && codec.channels > 1 ? `/${codec.channels}` : ''}`);
    const fmtp = Object.entries(codec.parameters ?? {})
      .map(([key, value]) => `${key}=${String(value)}`)
      .join(';');
    if (fmtp) lines.push(`a=fmtp:${codec.payloadType} ${fmtp}`);
    lines.push('a=recvonly');
  }
  return lines.join('\r\n') + '\r\n';
}
