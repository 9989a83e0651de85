/**
 * werift RTCPeerConnection factory with the settings every headless peer
 * needs on a test machine:
 *   - `iceServers: []` (werift's default pings stun.l.google.com);
 *   - host candidates on loopback only: `iceUseIpv4/6: false` empties werift's
 *     interface scan, `iceAdditionalHostAddresses: ['127.0.0.1']` adds the one
 *     candidate we want, `iceInterfaceAddresses` binds its socket to 127.0.0.1;
 *   - never ICE-lite (mediasoup is the lite side; we must be a full agent).
 * Also a guard that refuses to send media to anything but this machine.
 */
import os from 'node:os';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import type { types as ms } from 'mediasoup';
import { RTCPeerConnection, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters } from 'werift';

// werift 0.23 leaves one ICE UDP socket open per peer connection after
// close() (created while gathering, never added to the list it closes).
// Unref every UDP socket of this (test) process once bound, so such a
// socket can never keep a test file's process from exiting. Server-side
// code closes its own sockets; this only changes whether they hold the loop.
const dgram = createRequire(import.meta.url)('node:dgram') as typeof import('node:dgram');
const originalCreateSocket = dgram.createSocket;
(dgram as { createSocket: typeof dgram.createSocket }).createSocket = function createUnrefSocket(
  this: unknown,
  ...args: Parameters<typeof dgram.createSocket>
) {
  const socket = originalCreateSocket.apply(dgram, args);
  socket.once('listening', () => socket.unref());
  return socket;
} as typeof dgram.createSocket;
// werift's ESM build imports createSocket by name: make that binding see the wrapper.
syncBuiltinESMExports();

export interface WeriftPeerOptions {
  /** Gather only a 127.0.0.1 host candidate. Default true. */
  loopbackOnly: boolean;
  audioCodecs: RTCRtpCodecParameters[];
  videoCodecs: RTCRtpCodecParameters[];
  /** Header extension URIs with the id each must have (same id for both kinds, as BUNDLE requires). */
  headerExtensions?: { uri: string; id: number }[];
}

export function createPeerConnection(options: WeriftPeerOptions): RTCPeerConnection {
  // One list per kind: werift keeps them apart (same ids for both, as BUNDLE requires).
  const extensions = (): RTCRtpHeaderExtensionParameters[] =>
    (options.headerExtensions ?? []).map((e) => new RTCRtpHeaderExtensionParameters({ uri: e.uri, id: e.id }));
  const audioExtensions = extensions();
  const videoExtensions = extensions();
  const pc = new RTCPeerConnection({
    iceServers: [],
    ...(options.loopbackOnly
      ? {
          iceUseIpv4: false,
          iceUseIpv6: false,
          iceAdditionalHostAddresses: ['127.0.0.1'],
          iceInterfaceAddresses: { udp4: '127.0.0.1', udp6: undefined },
        }
      : { iceUseIpv6: false }),
    codecs: { audio: options.audioCodecs, video: options.videoCodecs },
    headerExtensions: { audio: audioExtensions, video: videoExtensions },
  });
  // werift renumbers configured extensions 1..N across audio+video in its
  // constructor; restore the ids we were asked for (the router's preferred ids).
  (options.headerExtensions ?? []).forEach((e, i) => {
    audioExtensions[i]!.id = e.id;
    videoExtensions[i]!.id = e.id;
  });
  disableFallbackStun(pc);
  return pc;
}

/**
 * werift-ice 0.2.x replaces a missing STUN server with stun.l.google.com:19302
 * (`this.stunServer = validateAddress(stunServer) ?? ['stun.l.google.com', 19302]`),
 * even with `iceServers: []`. Gathering then queries Google (off-machine
 * traffic), or, without Internet access, stalls setLocalDescription for its 5 s
 * STUN timeout. ICE connections are created per transceiver (also during
 * setRemoteDescription) and gather inside setLocalDescription, so clear the
 * field on every connection right before each setLocalDescription.
 */
function disableFallbackStun(pc: RTCPeerConnection): void {
  const original = pc.setLocalDescription.bind(pc);
  pc.setLocalDescription = (description) => {
    for (const transport of pc.iceTransports) {
      (transport.connection as { stunServer?: unknown }).stunServer = undefined;
    }
    return original(description);
  };
}

/** werift codec entries for receiving: matched by mimeType only, payload types come from the offer. */
export function receiveCodecs(kind: 'audio' | 'video', mimeTypes: string[]): RTCRtpCodecParameters[] {
  const codecs = mimeTypes
    .filter((m) => m.startsWith(`${kind}/`))
    .map(
      (mimeType) =>
        new RTCRtpCodecParameters({
          mimeType,
          clockRate: kind === 'audio' ? 48000 : 90000,
          ...(kind === 'audio' ? { channels: 2 } : {}),
          rtcpFeedback: kind === 'video' ? [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }] : [],
        }),
    );
  if (kind === 'video') codecs.push(new RTCRtpCodecParameters({ mimeType: 'video/rtx', clockRate: 90000 }));
  return codecs;
}

function localAddresses(): Set<string> {
  const set = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) set.add(a.address);
  }
  return set;
}

/**
 * Throws unless every UDP candidate of the SFU is an address of this machine,
 * so a misconfigured test (ANNOUNCED_IP of a remote box) fails loudly instead
 * of sending media off-host.
 */
export function assertLocalCandidates(candidates: ms.IceCandidate[], context: string): void {
  const udp = candidates.filter((c) => c.protocol === 'udp');
  if (udp.length === 0) throw new Error(`${context}: the SFU offered no UDP ICE candidate`);
  const local = localAddresses();
  const foreign = udp.filter((c) => !c.address.startsWith('127.') && !local.has(c.address));
  if (foreign.length > 0) {
    throw new Error(
      `${context}: ICE candidate(s) ${foreign.map((c) => `${c.address}:${c.port}`).join(', ')} are not on this ` +
        'machine; run the server with ANNOUNCED_IP=127.0.0.1 (or pass allowRemoteMedia: true)',
    );
  }
}
