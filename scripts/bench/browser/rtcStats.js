// @ts-check
/**
 * Keeps every RTCPeerConnection a page creates (must run before the page's
 * own scripts: page.addInitScript) and boils their getStats() down to the
 * cumulative counters the benchmarks difference over a window. Read-only:
 * the connections behave exactly as before.
 */

/** @type {RTCPeerConnection[]} */
const connections = [];

/** Wraps the constructor once per page. */
export function trackPeerConnections() {
  const w = /** @type {any} */ (window);
  if (w.__benchPcTracked) return;
  w.__benchPcTracked = true;
  const Original = window.RTCPeerConnection;
  class TrackedPeerConnection extends Original {
    /** @param {RTCConfiguration} [config] */
    constructor(config) {
      super(config);
      connections.push(this);
    }
  }
  window.RTCPeerConnection = TrackedPeerConnection;
}

/**
 * @typedef {{
 *   rid: string | null, ssrc: number, active: boolean | null, frameWidth: number | null, frameHeight: number | null,
 *   framesPerSecond: number | null, framesEncoded: number, totalEncodeTime: number, framesSent: number,
 *   packetsSent: number, totalPacketSendDelay: number, bytesSent: number, targetBitrate: number | null,
 *   qualityLimitationReason: string | null, qualityLimitationDurations: Record<string, number> | null, keyFramesEncoded: number,
 *   encoderImplementation: string | null, scalabilityMode: string | null, nackCount: number, pliCount: number,
 *   mimeType: string | null
 * }} OutboundVideo
 * @typedef {{
 *   ssrc: number, frameWidth: number | null, frameHeight: number | null, framesPerSecond: number | null,
 *   framesReceived: number, framesDecoded: number, framesDropped: number, keyFramesDecoded: number,
 *   jitterBufferDelay: number, jitterBufferTargetDelay: number, jitterBufferMinimumDelay: number, jitterBufferEmittedCount: number,
 *   totalDecodeTime: number, totalProcessingDelay: number, totalAssemblyTime: number, framesAssembledFromMultiplePackets: number,
 *   packetsReceived: number, packetsLost: number, bytesReceived: number, nackCount: number, pliCount: number, freezeCount: number,
 *   totalFreezesDuration: number, decoderImplementation: string | null, mimeType: string | null
 * }} InboundVideo
 * @typedef {{ at: number, connections: number, outboundVideo: OutboundVideo[], inboundVideo: InboundVideo[], roundTripTimes: number[], availableOutgoingBitrates: number[] }} StatsSnapshot
 */

/** @param {unknown} v */
const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
/** @param {unknown} v */
const numOrNull = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
/** @param {unknown} v */
const strOrNull = (v) => (typeof v === 'string' ? v : null);

/** @returns {Promise<StatsSnapshot>} */
export async function snapshot() {
  /** @type {StatsSnapshot} */
  const result = {
    at: performance.timeOrigin + performance.now(),
    connections: 0,
    outboundVideo: [],
    inboundVideo: [],
    roundTripTimes: [],
    availableOutgoingBitrates: [],
  };
  for (const pc of connections) {
    if (pc.connectionState === 'closed') continue;
    result.connections++;
    const report = await pc.getStats();
    /** @type {Map<string, any>} */
    const byId = new Map();
    report.forEach((entry) => byId.set(entry.id, entry));
    const mimeOf = (/** @type {any} */ entry) => strOrNull(byId.get(entry.codecId)?.mimeType);
    report.forEach((/** @type {any} */ s) => {
      if (s.type === 'outbound-rtp' && s.kind === 'video') {
        result.outboundVideo.push({
          rid: strOrNull(s.rid),
          ssrc: num(s.ssrc),
          active: typeof s.active === 'boolean' ? s.active : null,
          frameWidth: numOrNull(s.frameWidth),
          frameHeight: numOrNull(s.frameHeight),
          framesPerSecond: numOrNull(s.framesPerSecond),
          framesEncoded: num(s.framesEncoded),
          totalEncodeTime: num(s.totalEncodeTime),
          framesSent: num(s.framesSent),
          packetsSent: num(s.packetsSent),
          totalPacketSendDelay: num(s.totalPacketSendDelay),
          bytesSent: num(s.bytesSent),
          targetBitrate: numOrNull(s.targetBitrate),
          qualityLimitationReason: strOrNull(s.qualityLimitationReason),
          qualityLimitationDurations: s.qualityLimitationDurations ?? null,
          keyFramesEncoded: num(s.keyFramesEncoded),
          encoderImplementation: strOrNull(s.encoderImplementation),
          scalabilityMode: strOrNull(s.scalabilityMode),
          nackCount: num(s.nackCount),
          pliCount: num(s.pliCount),
          mimeType: mimeOf(s),
        });
      } else if (s.type === 'inbound-rtp' && s.kind === 'video') {
        result.inboundVideo.push({
          ssrc: num(s.ssrc),
          frameWidth: numOrNull(s.frameWidth),
          frameHeight: numOrNull(s.frameHeight),
          framesPerSecond: numOrNull(s.framesPerSecond),
          framesReceived: num(s.framesReceived),
          framesDecoded: num(s.framesDecoded),
          framesDropped: num(s.framesDropped),
          keyFramesDecoded: num(s.keyFramesDecoded),
          jitterBufferDelay: num(s.jitterBufferDelay),
          jitterBufferTargetDelay: num(s.jitterBufferTargetDelay),
          jitterBufferMinimumDelay: num(s.jitterBufferMinimumDelay),
          jitterBufferEmittedCount: num(s.jitterBufferEmittedCount),
          totalDecodeTime: num(s.totalDecodeTime),
          totalProcessingDelay: num(s.totalProcessingDelay),
          totalAssemblyTime: num(s.totalAssemblyTime),
          framesAssembledFromMultiplePackets: num(s.framesAssembledFromMultiplePackets),
          packetsReceived: num(s.packetsReceived),
          packetsLost: num(s.packetsLost),
          bytesReceived: num(s.bytesReceived),
          nackCount: num(s.nackCount),
          pliCount: num(s.pliCount),
          freezeCount: num(s.freezeCount),
          totalFreezesDuration: num(s.totalFreezesDuration),
          decoderImplementation: strOrNull(s.decoderImplementation),
          mimeType: mimeOf(s),
        });
      } else if (s.type === 'candidate-pair' && s.nominated) {
        if (typeof s.currentRoundTripTime === 'number') result.roundTripTimes.push(s.currentRoundTripTime);
        // The sender's bandwidth estimate (only on connections that send).
        if (typeof s.availableOutgoingBitrate === 'number') result.availableOutgoingBitrates.push(s.availableOutgoingBitrate);
      }
    });
  }
  return result;
}
