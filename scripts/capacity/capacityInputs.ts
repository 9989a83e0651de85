/**
 * What the capacity plan computes from: figures measured by this code's
 * benchmarks (each with where it came from) and stated assumptions (each with
 * why). The model (capacityModel.ts) takes nothing else, so every figure of
 * the plan traces back to one of these.
 */

/** A number and where it came from: a bench result file, measured.json, or the code itself. */
export interface Sourced {
  value: number;
  source: string;
}

export interface MeasuredFigures {
  /** WebRTC viewers per core of mediasoup worker CPU, 720p ~1.5 Mbit/s (viewers bench). */
  webrtcViewersPerCore: Sourced;
  /** Cluster overhead per viewer on a node that has its pipe, viewers spread over nodes vs on one (edge-cost bench), fraction. */
  clusterOverheadPerViewer: Sourced;
  /** CPU of the origin's worker per pipe it feeds, cores (edge-cost bench). */
  originWorkerCoresPerPipe: Sourced;
  /** CPU of an edge (node + worker) per piped broadcast with no viewer, cores (edge-cost bench). */
  edgeCoresPerPipedBroadcast: Sourced;
  /** Server CPU per 1,000 LL-HLS requests/s, the load tool's client mix, cores (hls-origin bench). */
  originCoresPer1000Requests: Sourced;
  /** Requests per second one LL-HLS client makes (hls-origin bench: rate / clients). */
  requestsPerLlHlsClient: Sourced;
  /** Origin requests per object per edge with request collapsing (hls-edge bench, worst audience). */
  edgeCollapseRatio: Sourced;
  /** Recorder ffmpeg CPU per room by number of renditions (1, 2, 3 …), H.264 source, cores (hls-latency bench). */
  ffmpegCoresByRenditions: Sourced[];
}

/** The ladder's bitrates from the recorder's own table (server/recorder/recorderLadder.ts). */
export interface LadderRung {
  height: number;
  /** Video + audio, bit/s. */
  bitrate: number;
  /** Share of HLS viewers on this rung (the mix sums to 1). */
  share: number;
}

export interface Assumptions {
  /** Peak concurrent viewers of the event (HLS + WebRTC). */
  viewers: number;
  /** Of them, on the WebRTC interactive tier. */
  webrtcViewers: number;
  /** Which rendition HLS viewers watch, with the ladder's bitrates. */
  ladder: LadderRung[];
  /** LL-HLS part duration (s) and segment duration (s): the recorder's constants. */
  partSeconds: number;
  segmentSeconds: number;
  /** Source (contribution) bitrate of the broadcast, bit/s, per ingest. */
  contributionBitrate: number;
  /** Active-active HLS origins recording the room (issue 12). */
  origins: number;
  /** Cores per server (origin, WebRTC node). */
  coresPerServer: number;
  /** Network per WebRTC node / origin server, bit/s. */
  serverNetworkBps: number;
  /** CDN edge server: deliverable bit/s and requests/s. */
  cdnEdgeBps: number;
  cdnEdgeRequestsPerSecond: number;
  /** Caches per origin-shield server (fan-in), at each shield tier. */
  shieldFanIn: number;
  /** Shield tiers between the CDN edges and the origins (regional caches, then an origin shield). */
  shieldTiers: number;
  /** Fraction of a server's capacity planned to be used at peak (headroom for failures and bursts). */
  utilisation: number;
  /** Share of the peak audience that joins in the kick-off window, and that window, s. */
  joinSurgeShare: number;
  joinSurgeSeconds: number;
  /** WebRTC broadcast: sum of the simulcast layers' bitrates (what one pipe carries), bit/s. */
  webrtcSimulcastBps: number;
  /** WebRTC viewer's bitrate (top layer + audio), bit/s. */
  webrtcViewerBps: number;
  /** Rooms of the event (the match, plus alternates). */
  rooms: number;
  /** Commands per second one Redis primary serves (single-threaded). */
  redisOpsPerSecond: number;
}

/** Each assumption's default, with why; `--key value` overrides (main.ts). */
export const ASSUMPTION_NOTES: Record<Exclude<keyof Assumptions, 'ladder' | 'partSeconds' | 'segmentSeconds'>, string> = {
  viewers: 'the event: --viewers',
  webrtcViewers: 'interactive tier (hosts, commentators, betting, watch parties): --webrtc-viewers',
  contributionBitrate: '1080p H.264 contribution feed',
  origins: 'active-active HLS origins per big room (issue 12)',
  coresPerServer: 'a common 1-socket server',
  serverNetworkBps: '25 GbE per server',
  cdnEdgeBps: 'one CDN edge server delivers 40 Gbit/s (2×25 GbE, TLS)',
  cdnEdgeRequestsPerSecond: 'one CDN edge server answers 100,000 small cached requests/s (HTTP/2, keep-alive)',
  shieldFanIn: 'caches behind one shield server, at each tier',
  shieldTiers: "regional caches, then an origin shield (a CDN's tiered distribution)",
  utilisation: 'plan servers to 70 % at peak: the survivors absorb a failed peer',
  joinSurgeShare: 'half the peak audience joins in the kick-off window',
  joinSurgeSeconds: 'the kick-off window',
  webrtcSimulcastBps: 'the SDK camera simulcast: 1.5 Mbit/s + ~0.5 + ~0.15 + audio',
  webrtcViewerBps: 'a WebRTC viewer on the top layer (the viewers bench stream)',
  rooms: 'the match room; alternates add rooms',
  redisOpsPerSecond: 'one Redis primary, small commands, pipelined: ~100,000/s on one core',
};

export const DEFAULT_ASSUMPTIONS: Omit<Assumptions, 'ladder' | 'partSeconds' | 'segmentSeconds' | 'viewers'> = {
  webrtcViewers: 1_000_000,
  contributionBitrate: 6_000_000,
  origins: 2,
  coresPerServer: 32,
  serverNetworkBps: 25e9,
  cdnEdgeBps: 40e9,
  cdnEdgeRequestsPerSecond: 100_000,
  shieldFanIn: 1000,
  shieldTiers: 2,
  utilisation: 0.7,
  joinSurgeShare: 0.5,
  joinSurgeSeconds: 600,
  webrtcSimulcastBps: 2_250_000,
  webrtcViewerBps: 1_550_000,
  rooms: 1,
  redisOpsPerSecond: 100_000,
};

/** Default share of HLS viewers per rendition of the server's default ladder (720,480,240). */
export const DEFAULT_BITRATE_MIX: Record<number, number> = { 720: 0.6, 480: 0.3, 240: 0.1 };

export class CapacityInputError extends Error {
  override name = 'CapacityInputError';
}

/** "720:0.6,480:0.3,240:0.1" → shares by height; must name distinct heights and sum to 1 (±0.001). */
export function parseBitrateMix(text: string): Record<number, number> {
  const mix: Record<number, number> = {};
  for (const item of text.split(',')) {
    const match = /^\s*(\d+)p?\s*:\s*([0-9.]+)\s*$/.exec(item);
    if (!match) throw new CapacityInputError(`--bitrate-mix: "${item}" is not height:share (e.g. 720:0.6)`);
    const height = Number(match[1]);
    const share = Number(match[2]);
    if (height in mix) throw new CapacityInputError(`--bitrate-mix: ${height} is listed twice`);
    if (!Number.isFinite(share) || share < 0 || share > 1) throw new CapacityInputError(`--bitrate-mix: share ${match[2]} of ${height} is not between 0 and 1`);
    mix[height] = share;
  }
  const sum = Object.values(mix).reduce((a, b) => a + b, 0);
  if (Math.abs(sum - 1) > 0.001) throw new CapacityInputError(`--bitrate-mix: shares sum to ${sum.toFixed(3)}, not 1`);
  return mix;
}

const positive = (value: number, name: string): void => {
  if (!Number.isFinite(value) || value <= 0) throw new CapacityInputError(`${name} must be a positive number, got ${value}`);
};

/** Throws a CapacityInputError naming the first input that cannot be planned with. */
export function validateInputs(measured: MeasuredFigures, assumptions: Assumptions): void {
  positive(assumptions.viewers, 'viewers');
  if (!Number.isFinite(assumptions.webrtcViewers) || assumptions.webrtcViewers < 0 || assumptions.webrtcViewers > assumptions.viewers) {
    throw new CapacityInputError(`webrtc viewers must be between 0 and the viewers (${assumptions.viewers}), got ${assumptions.webrtcViewers}`);
  }
  for (const key of [
    'contributionBitrate',
    'coresPerServer',
    'serverNetworkBps',
    'cdnEdgeBps',
    'cdnEdgeRequestsPerSecond',
    'shieldFanIn',
    'joinSurgeSeconds',
    'webrtcSimulcastBps',
    'webrtcViewerBps',
    'partSeconds',
    'segmentSeconds',
    'redisOpsPerSecond',
  ] as const) {
    positive(assumptions[key], key);
  }
  if (!Number.isInteger(assumptions.origins) || assumptions.origins < 1)
    throw new CapacityInputError(`origins must be a whole number ≥ 1, got ${assumptions.origins}`);
  if (!Number.isInteger(assumptions.shieldTiers) || assumptions.shieldTiers < 1)
    throw new CapacityInputError(`shield tiers must be a whole number ≥ 1, got ${assumptions.shieldTiers}`);
  if (!Number.isInteger(assumptions.rooms) || assumptions.rooms < 1) throw new CapacityInputError(`rooms must be a whole number ≥ 1, got ${assumptions.rooms}`);
  if (!(assumptions.utilisation > 0 && assumptions.utilisation <= 1))
    throw new CapacityInputError(`utilisation must be in (0, 1], got ${assumptions.utilisation}`);
  if (!(assumptions.joinSurgeShare >= 0 && assumptions.joinSurgeShare <= 1))
    throw new CapacityInputError(`join surge share must be in [0, 1], got ${assumptions.joinSurgeShare}`);
  if (assumptions.ladder.length === 0) throw new CapacityInputError('the ladder has no rendition');
  const shares = assumptions.ladder.reduce((sum, rung) => sum + rung.share, 0);
  if (Math.abs(shares - 1) > 0.001) throw new CapacityInputError(`the bitrate mix sums to ${shares.toFixed(3)}, not 1`);
  for (const [key, figure] of Object.entries(measured)) {
    const list = Array.isArray(figure) ? (figure as Sourced[]) : [figure as Sourced];
    if (list.length === 0) throw new CapacityInputError(`measured ${key}: no figure`);
    for (const f of list) {
      // The overhead may be ≤ 0 (noise around no overhead); everything else is a cost or a rate.
      const ok = key === 'clusterOverheadPerViewer' ? Number.isFinite(f.value) && f.value > -1 : Number.isFinite(f.value) && f.value > 0;
      if (!ok) throw new CapacityInputError(`measured ${key} is not usable: ${f.value} (${f.source})`);
    }
  }
}
