import type { types as mediasoupTypes } from 'mediasoup-client';
import { FloodlightError } from './errors.js';

export type VideoSource = 'camera' | 'screen';
export type VideoCodecName = 'vp8' | 'h264';

type RtpCodecCapability = mediasoupTypes.RtpCodecCapability;
type RtpEncodingParameters = mediasoupTypes.RtpEncodingParameters;
type ProducerCodecOptions = mediasoupTypes.ProducerCodecOptions;

/**
 * Camera: three simulcast layers (quarter, half, full resolution), listed
 * low → high as mediasoup expects; spatial layer 0/1/2 on the server side.
 * VP8 additionally gets three temporal layers so the SFU can also thin out
 * frame rate. Chrome's H.264 encoder has no reliable temporal layering, so
 * H.264 layers carry no scalabilityMode.
 */
export function cameraEncodings(codec: VideoCodecName): RtpEncodingParameters[] {
  const temporal = codec === 'vp8' ? { scalabilityMode: 'L1T3' } : {};
  return [
    { scaleResolutionDownBy: 4, maxBitrate: 150_000, ...temporal },
    { scaleResolutionDownBy: 2, maxBitrate: 500_000, ...temporal },
    { scaleResolutionDownBy: 1, maxBitrate: 1_500_000, ...temporal },
  ];
}

/**
 * Screen share: a single full-resolution encoding. Downscaled text is
 * unreadable anyway, so spatial layers would only cost upload; with VP8 the
 * temporal layers still let the SFU drop frame rate for slow viewers.
 */
export function screenEncodings(codec: VideoCodecName): RtpEncodingParameters[] {
  return [{ maxBitrate: 2_500_000, ...(codec === 'vp8' ? { scalabilityMode: 'L1T3' } : {}) }];
}

/**
 * Video: start at the camera layers' whole budget (150 + 500 + 1500 kbps, plus
 * headroom) instead of Chrome's 300 kbps: Chrome enables a simulcast layer only
 * once its estimate covers it, so a lower start kept the 720p layer off for up
 * to ~8 s after going live (the HLS ladder and the first viewers then started
 * at 360p). A weak uplink still backs off within a second or two.
 */
export const videoCodecOptions: ProducerCodecOptions = { videoGoogleStartBitrate: 2300 };

/** Audio: Opus with DTX off (continuous packets keep jitter buffers and HLS muxing steady), FEC on. */
export const audioCodecOptions: ProducerCodecOptions = { opusDtx: false, opusFec: true, opusStereo: false };

/**
 * Picks the codec to send from the device's capabilities (already intersected
 * with the router's). For H.264 prefer packetization-mode 1 and the
 * constrained-baseline profile every browser can decode.
 */
export function pickVideoCodec(rtpCapabilities: mediasoupTypes.RtpCapabilities, name: VideoCodecName): RtpCodecCapability {
  const mimeType = name === 'vp8' ? 'video/vp8' : 'video/h264';
  const candidates = (rtpCapabilities.codecs ?? []).filter((codec) => codec.mimeType.toLowerCase() === mimeType);
  const score = (codec: RtpCodecCapability): number => {
    if (name !== 'h264') return 0;
    const parameters = codec.parameters ?? {};
    const profileLevelId = parameters['profile-level-id'];
    const profile = typeof profileLevelId === 'string' ? profileLevelId.toLowerCase() : '';
    return (Number(parameters['packetization-mode']) === 1 ? 2 : 0) + (profile.startsWith('42e0') ? 1 : 0);
  };
  const best = candidates.sort((a, b) => score(b) - score(a))[0];
  if (!best) {
    throw new FloodlightError('CODEC_UNSUPPORTED', `${name.toUpperCase()} is not supported by this browser or server`);
  }
  return best;
}
