// @ts-check
/**
 * Publishes a MediaStream over WHIP (RFC 9725) the way browser WHIP clients
 * do: one sendonly transceiver per track, the chosen video codec first in the
 * offer (the server takes the first it supports), every ICE candidate in the
 * offer (no trickle), `fetch` POST with the stream key as Bearer token, the
 * answer applied. Like OBS, the video keeps its resolution under CPU or
 * bandwidth pressure (degradationPreference maintain-resolution) and is one
 * encoding at up to 2.5 Mbit/s (the SDK's single-encoding cap).
 *
 * Used by webrtcLatencyPage.js (`source.start({ whip })`).
 */

/**
 * @param {MediaStream} stream
 * @param {{ url: string, key: string, codec: 'vp8' | 'h264' }} options
 * @returns {Promise<{ pc: RTCPeerConnection, location: string | null }>}
 */
export async function publishWhip(stream, options) {
  const pc = new RTCPeerConnection({ bundlePolicy: 'max-bundle' });
  try {
    for (const track of stream.getTracks()) {
      const transceiver = pc.addTransceiver(track, {
        direction: 'sendonly',
        streams: [stream],
        ...(track.kind === 'video' ? { sendEncodings: [{ maxBitrate: 2_500_000 }] } : {}),
      });
      if (track.kind === 'video') transceiver.setCodecPreferences(codecsPreferring(`video/${options.codec}`));
    }
    await pc.setLocalDescription();
    await new Promise((resolve) => {
      if (pc.iceGatheringState === 'complete') resolve(undefined);
      pc.addEventListener('icegatheringstatechange', () => pc.iceGatheringState === 'complete' && resolve(undefined));
    });
    const response = await fetch(options.url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', Authorization: `Bearer ${options.key}` },
      body: pc.localDescription?.sdp ?? '',
    });
    const answer = await response.text();
    if (response.status !== 201) throw new Error(`WHIP POST answered ${response.status}: ${answer.slice(0, 300)}`);
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
    for (const sender of pc.getSenders()) {
      if (sender.track?.kind !== 'video') continue;
      const parameters = /** @type {RTCRtpSendParameters & { degradationPreference?: string }} */ (sender.getParameters());
      parameters.degradationPreference = 'maintain-resolution';
      await sender.setParameters(parameters);
    }
    return { pc, location: response.headers.get('location') };
  } catch (error) {
    pc.close();
    throw error;
  }
}

/**
 * The browser's video codecs with `mimeType` (every profile of it) first.
 * @param {string} mimeType
 */
function codecsPreferring(mimeType) {
  const codecs = RTCRtpSender.getCapabilities('video')?.codecs ?? [];
  const wanted = codecs.filter((c) => c.mimeType.toLowerCase() === mimeType);
  if (!wanted.length) throw new Error(`this browser cannot send ${mimeType}`);
  return [...wanted, ...codecs.filter((c) => c.mimeType.toLowerCase() !== mimeType)];
}
