/**
 * The capacity plan, tier by tier, as a pure function of measured figures and
 * assumptions (capacityInputs.ts): ingest, origins and transcoding, origin
 * shield, CDN edges, players, the WebRTC interactive tier, Redis, and what
 * fails and what then happens. Every output figure carries its basis
 * (measured / assumed / code / computed) and where it came from, so the
 * report and docs/scaling.md can label it.
 */
import { validateInputs, type Assumptions, type MeasuredFigures, type Sourced } from './capacityInputs.js';
import { REDIS_OPS_PER_JOIN, redisLoad, type RedisLoad } from './redisLoad.js';

export type Basis = 'measured' | 'assumed' | 'code' | 'computed';

export interface Figure {
  label: string;
  value: number;
  unit: string;
  basis: Basis;
  /** Bench result or measured.json for measured figures, the assumption's note, the code's file, or the formula. */
  source: string;
}

export interface Tier {
  name: string;
  figures: Figure[];
  /** What fails in this tier and what happens then, with the numbers above. */
  failures: string[];
}

export interface CapacityPlan {
  tiers: Tier[];
  redis: RedisLoad;
  /** Problems the plan ran into: a limit of the code or of a server, not of the inputs. */
  warnings: string[];
}

/** Players' start: master, media playlist, init section, and the parts from PART-HOLD-BACK (3 parts) to the live edge. */
export const START_REQUESTS_PER_PLAYER = 6;
/** Master playlist max-age (server/hls/hlsRoutes.ts): a cache refreshes it every 2 s. */
const MASTER_MAX_AGE_SECONDS = 2;
/** Live playlist max-age (hlsRoutes.ts): a cache refreshes the plain playlist once a second. */
const PLAYLIST_MAX_AGE_SECONDS = 1;

const fig = (label: string, value: number, unit: string, basis: Basis, source: string): Figure => ({ label, value, unit, basis, source });
const measuredFig = (label: string, sourced: Sourced, unit: string): Figure => fig(label, sourced.value, unit, 'measured', sourced.source);

/** ffmpeg CPU for a ladder of `renditions`: the measured figure for that count, else extrapolated linearly from the last two. */
export function ffmpegCores(byRenditions: readonly Sourced[], renditions: number): Sourced {
  const exact = byRenditions[renditions - 1];
  if (exact) return exact;
  const last = byRenditions.at(-1)!;
  const step = byRenditions.length >= 2 ? last.value - byRenditions.at(-2)!.value : last.value;
  return { value: last.value + step * (renditions - byRenditions.length), source: `extrapolated from ${byRenditions.length} renditions (${last.source})` };
}

/** Distinct HLS objects per second of one room (what one cache asks its upstream for, once each). */
export function objectsPerSecond(renditions: number, partSeconds: number, segmentSeconds: number): number {
  // Per rendition: each part, each blocking-reload answer (one per part), the plain playlist, each segment.
  return renditions * (2 / partSeconds + 1 / PLAYLIST_MAX_AGE_SECONDS + 1 / segmentSeconds) + 1 / MASTER_MAX_AGE_SECONDS;
}

export function planCapacity(measured: MeasuredFigures, a: Assumptions): CapacityPlan {
  validateInputs(measured, a);
  const warnings: string[] = [];
  const hlsViewers = a.viewers - a.webrtcViewers;
  const renditions = a.ladder.length;
  const meanBitrate = a.ladder.reduce((sum, rung) => sum + rung.share * rung.bitrate, 0);
  const ladderBitrate = a.ladder.reduce((sum, rung) => sum + rung.bitrate, 0);
  const assumed = (label: string, value: number, unit: string, note: string) => fig(label, value, unit, 'assumed', note);

  // ---- Players
  const playerRequests = measured.requestsPerLlHlsClient.value;
  const hlsJoinsPerSecond = (hlsViewers * a.joinSurgeShare) / a.joinSurgeSeconds;
  const players: Tier = {
    name: 'Players (LL-HLS)',
    figures: [
      fig('HLS viewers at peak', hlsViewers, 'viewers', 'computed', 'viewers − WebRTC viewers'),
      fig(
        'mean bitrate per player',
        meanBitrate,
        'bit/s',
        'computed',
        `bitrate mix over the ladder ${a.ladder.map((r) => `${r.height}p ${(r.share * 100).toFixed(0)} %`).join(', ')}; bitrates from recorderLadder.ts`,
      ),
      measuredFig('requests per player per second (blocking reloads + parts)', measured.requestsPerLlHlsClient, 'req/s'),
      fig(
        'joins per second in the kick-off window',
        hlsJoinsPerSecond,
        'joins/s',
        'computed',
        `${a.joinSurgeShare * 100} % of HLS viewers in ${a.joinSurgeSeconds} s`,
      ),
    ],
    failures: [
      'A player whose edge fails retries on another edge (DNS/anycast of the CDN) and restarts from the live playlist: ' +
        `${START_REQUESTS_PER_PLAYER} start requests, then the usual ${playerRequests.toFixed(1)}/s.`,
    ],
  };

  // ---- CDN edges
  const egress = hlsViewers * meanBitrate;
  const edgeRequests = hlsViewers * playerRequests + hlsJoinsPerSecond * START_REQUESTS_PER_PLAYER;
  const edgesByBandwidth = egress / (a.cdnEdgeBps * a.utilisation);
  const edgesByRequests = edgeRequests / (a.cdnEdgeRequestsPerSecond * a.utilisation);
  const edges = Math.max(1, Math.ceil(Math.max(edgesByBandwidth, edgesByRequests)));
  const playersPerEdge = hlsViewers / edges;
  const cdn: Tier = {
    name: 'CDN edges',
    figures: [
      fig('egress to players at peak', egress, 'bit/s', 'computed', 'HLS viewers × mean bitrate'),
      fig(
        'requests at peak (steady + kick-off starts)',
        edgeRequests,
        'req/s',
        'computed',
        `HLS viewers × req/player/s + joins/s × ${START_REQUESTS_PER_PLAYER}`,
      ),
      assumed('edge server capacity', a.cdnEdgeBps, 'bit/s', 'cdnEdgeBps'),
      assumed('edge server request capacity', a.cdnEdgeRequestsPerSecond, 'req/s', 'cdnEdgeRequestsPerSecond'),
      assumed('planned utilisation', a.utilisation, '', 'utilisation'),
      fig('edge servers (by bandwidth)', Math.ceil(edgesByBandwidth), 'servers', 'computed', 'egress / (capacity × utilisation)'),
      fig('edge servers (by requests)', Math.ceil(edgesByRequests), 'servers', 'computed', 'requests / (capacity × utilisation)'),
      fig('edge servers', edges, 'servers', 'computed', 'the larger of the two'),
      fig('players per edge server', playersPerEdge, 'players', 'computed', 'HLS viewers / edge servers'),
    ],
    failures: [
      `An edge server lost: its ~${Math.round(playersPerEdge).toLocaleString('en')} players restart on others ` +
        `(${Math.round(playersPerEdge * START_REQUESTS_PER_PLAYER).toLocaleString('en')} start requests, spread over the others); ` +
        `at ${a.utilisation * 100} % planned the others absorb ${edges > 1 ? (100 / (edges - 1)).toFixed(3) : '—'} % more each.`,
      'A whole CDN (or region) lost: players switch by content steering / redundant variants (issue 12) to another CDN, which must then hold their share.',
    ],
  };

  // ---- Origin shield
  // What one origin's Node process serves at the planned utilisation of its one core.
  const originCapacity = (a.utilisation * 1000) / measured.originCoresPer1000Requests.value;
  const objects = objectsPerSecond(renditions, a.partSeconds, a.segmentSeconds) * a.rooms;
  const collapse = measured.edgeCollapseRatio.value;
  // Tier by tier towards the origin: each tier's servers are the tier below / fan-in; above the first, at least 2 (no single point of failure).
  const shieldTiers: number[] = [];
  for (let below = edges, tier = 0; tier < a.shieldTiers; tier++) {
    below = Math.max(tier === 0 ? 1 : 2, Math.ceil(below / a.shieldFanIn));
    shieldTiers.push(below);
  }
  const topShields = shieldTiers.at(-1) ?? edges;
  const servedPerShield = Math.min(edges, a.shieldFanIn);
  const shieldRequests = servedPerShield * objects * collapse;
  const shieldEgress = servedPerShield * ladderBitrate * a.rooms;
  const shield: Tier = {
    name: 'Origin shield',
    figures: [
      fig(
        'distinct objects per second (parts, blocking-reload answers, playlists, segments, master)',
        objects,
        'objects/s',
        'code',
        `ladder of ${renditions}, part ${a.partSeconds} s, segment ${a.segmentSeconds} s (recorderFfmpegArgs.ts), max-ages (hlsRoutes.ts), × ${a.rooms} room(s)`,
      ),
      measuredFig('upstream requests per object per cache (request collapsing)', measured.edgeCollapseRatio, 'req/object'),
      assumed('caches per shield server (each tier)', a.shieldFanIn, 'servers', 'shieldFanIn'),
      assumed('shield tiers between the edges and the origins', a.shieldTiers, 'tiers', 'shieldTiers'),
      ...shieldTiers.map((n, i) =>
        fig(
          `shield servers, tier ${i + 1}${i === shieldTiers.length - 1 ? ' (asks the origins)' : ''}`,
          n,
          'servers',
          'computed',
          i === 0 ? 'edge servers / fan-in' : `tier ${i} / fan-in, at least 2`,
        ),
      ),
      fig('requests per shield server (at most)', shieldRequests, 'req/s', 'computed', 'fan-in × objects/s × collapse'),
      fig('egress per shield server', shieldEgress, 'bit/s', 'computed', 'fan-in × every rendition once'),
    ],
    failures: [
      `A shield server lost: the up to ${servedPerShield} caches below it go to another server of its tier, never straight to the origins ` +
        `(+${Math.round(shieldRequests).toLocaleString('en')} req/s there, over an origin's ${Math.round(originCapacity).toLocaleString('en')}). ` +
        'Segments already cached stay servable (stale-if-error); parts and playlists need the tier above within their hold.',
    ],
  };
  if (shieldRequests > a.cdnEdgeRequestsPerSecond * a.utilisation) {
    warnings.push(
      `a shield server gets ${Math.round(shieldRequests).toLocaleString('en')} req/s, over a server's request capacity at ${a.utilisation * 100} %: lower the fan-in`,
    );
  }
  if (shieldEgress > a.serverNetworkBps * a.utilisation)
    warnings.push(`a shield server's egress (${(shieldEgress / 1e9).toFixed(1)} Gbit/s) is over its network at ${a.utilisation * 100} %: lower the fan-in`);

  // ---- Origins and transcoding
  // Per room: its origins each hold every request alone (the other may die); rooms are spread over as many origin servers as needed.
  const perRoomRequests = topShields * (objects / a.rooms) * collapse;
  const per1000 = measured.originCoresPer1000Requests.value;
  const perRoomHttpCores = (perRoomRequests / 1000) * per1000;
  const ffmpeg = ffmpegCores(measured.ffmpegCoresByRenditions, renditions);
  // One origin server: one Node process serving /hls (one core) and the rooms' ffmpegs on its other cores.
  const roomsPerOriginServer = Math.max(
    1,
    Math.min(Math.floor(a.utilisation / perRoomHttpCores), Math.floor((a.coresPerServer * a.utilisation) / ffmpeg.value)),
  );
  const originServers = Math.ceil(a.rooms / roomsPerOriginServer) * a.origins;
  const originEgress = topShields * ladderBitrate * a.rooms * collapse;
  const origins: Tier = {
    name: 'Origins and transcoding',
    figures: [
      assumed('origins recording each room (active-active)', a.origins, 'origins', 'origins'),
      fig(
        'origin requests per room (the top shield tier; one origin holds them alone)',
        perRoomRequests,
        'req/s',
        'computed',
        'top-tier shields × objects/s of a room × collapse',
      ),
      measuredFig('origin server CPU per 1,000 req/s (LL-HLS client mix)', measured.originCoresPer1000Requests, 'cores'),
      fig('origin HTTP CPU per room (one Node process)', perRoomHttpCores, 'cores', 'computed', 'requests / 1000 × CPU per 1,000'),
      fig('requests one origin serves at planned utilisation', originCapacity, 'req/s', 'computed', 'utilisation × 1000 / CPU per 1,000 (one core)'),
      fig('ffmpeg per room for the ladder', ffmpeg.value, 'cores', ffmpeg.source.startsWith('extrapolated') ? 'computed' : 'measured', ffmpeg.source),
      fig(
        'rooms per origin server',
        roomsPerOriginServer,
        'rooms',
        'computed',
        `the fewer of: one core's HTTP, ${a.coresPerServer} cores of ffmpeg, at utilisation`,
      ),
      fig('origin servers', originServers, 'servers', 'computed', 'rooms / rooms per server × origins per room'),
      fig('origin egress to the shields (all rooms)', originEgress, 'bit/s', 'computed', 'top-tier shields × every rendition once'),
    ],
    failures: [
      a.origins > 1
        ? `An origin lost (SIGKILL): the shields take every object from the other origin(s) (issue 12: at most one stall ≤ 2 s per player); each origin is planned to hold its rooms' ${Math.round(perRoomRequests * roomsPerOriginServer).toLocaleString('en')} req/s alone.`
        : 'The only origin lost: no new parts or segments; players stall once the cached ones run out, then stop. Run two (--assume origins=2).',
      'The recorder ffmpeg lost: the origin restarts it (ffmpegSupervisor.ts); that origin misses objects until it is back, the other origin serves them.',
    ],
  };
  if (perRoomHttpCores > a.utilisation) {
    warnings.push(
      `one room's origin HTTP needs ${perRoomHttpCores.toFixed(2)} cores but /hls is served by one Node process (one core): add a shield tier (--assume shieldTiers=…) so that fewer caches ask the origins`,
    );
  }
  if (ffmpeg.value > a.coresPerServer * a.utilisation)
    warnings.push(`one room's transcoding (${ffmpeg.value.toFixed(1)} cores) does not fit one origin server`);

  // ---- Ingest
  const ingest: Tier = {
    name: 'Ingest',
    figures: [
      assumed('contribution bitrate per feed', a.contributionBitrate, 'bit/s', 'contributionBitrate'),
      fig('feeds (primary + backup) per room', 2, 'feeds', 'code', 'a room has a primary and a backup source slot (server/rooms)'),
      fig('ingest bandwidth', 2 * a.contributionBitrate * a.rooms, 'bit/s', 'computed', 'rooms × 2 feeds × contribution'),
    ],
    failures: [
      'Primary feed lost: the program follows the backup slot (docs/architecture.md); WebRTC viewers and the recorder take it like any source. ' +
        'Both feeds lost: the room goes off air; the recorder ends the stream.',
    ],
  };

  // ---- WebRTC interactive tier
  const perViewerCores = (1 / measured.webrtcViewersPerCore.value) * (1 + Math.max(0, measured.clusterOverheadPerViewer.value));
  const webrtcCores = a.webrtcViewers * perViewerCores;
  // Each node also holds one pipe per room (its fixed cost as an edge), whatever its audience.
  const pipeCoresPerNode = a.rooms * measured.edgeCoresPerPipedBroadcast.value;
  const nodesByCpu = webrtcCores / (a.coresPerServer * a.utilisation - pipeCoresPerNode);
  const nodesByNetwork = (a.webrtcViewers * a.webrtcViewerBps) / (a.serverNetworkBps * a.utilisation);
  const webrtcNodes = a.webrtcViewers > 0 ? Math.max(1, Math.ceil(Math.max(nodesByCpu, nodesByNetwork))) : 0;
  const pipes = Math.max(0, webrtcNodes - 1) * a.rooms;
  const originPipeCores = (pipes / a.rooms) * measured.originWorkerCoresPerPipe.value;
  const maxPipesPerOriginWorker = Math.floor(a.utilisation / measured.originWorkerCoresPerPipe.value);
  const originPipeEgress = (pipes / a.rooms) * a.webrtcSimulcastBps;
  const webrtcJoins = (a.webrtcViewers * a.joinSurgeShare) / a.joinSurgeSeconds;
  const viewersPerNode = webrtcNodes > 0 ? a.webrtcViewers / webrtcNodes : 0;
  const webrtc: Tier = {
    name: 'WebRTC interactive tier',
    figures: [
      assumed('WebRTC viewers', a.webrtcViewers, 'viewers', 'webrtcViewers'),
      measuredFig('viewers per core (mediasoup worker)', measured.webrtcViewersPerCore, 'viewers'),
      measuredFig('cluster overhead per viewer on a piped node (spread vs one node)', measured.clusterOverheadPerViewer, 'fraction'),
      fig('worker CPU for the viewers', webrtcCores, 'cores', 'computed', 'viewers / viewers per core × (1 + overhead)'),
      measuredFig('edge CPU per piped broadcast (no viewer)', measured.edgeCoresPerPipedBroadcast, 'cores'),
      fig('nodes (by CPU)', Math.ceil(nodesByCpu), 'nodes', 'computed', `viewer cores / (${a.coresPerServer} × utilisation − rooms × pipe cost)`),
      fig('nodes (by network)', Math.ceil(nodesByNetwork), 'nodes', 'computed', 'viewers × viewer bitrate / (NIC × utilisation)'),
      fig('nodes', webrtcNodes, 'nodes', 'computed', 'the larger of the two'),
      fig('viewers per node', viewersPerNode, 'viewers', 'computed', 'viewers / nodes'),
      fig('pipes from the origin (one per edge node per room)', pipes, 'pipes', 'code', 'cascadeEdges.ts: one pipe per source track per edge node'),
      measuredFig('origin worker CPU per pipe', measured.originWorkerCoresPerPipe, 'cores'),
      fig("origin worker CPU for the room's pipes", originPipeCores, 'cores', 'computed', 'pipes × CPU per pipe'),
      fig('pipes one origin worker can feed', maxPipesPerOriginWorker, 'pipes', 'computed', 'utilisation / CPU per pipe'),
      fig('origin egress to the pipes', originPipeEgress, 'bit/s', 'computed', 'pipes × simulcast bitrate'),
      fig(
        'joins per second in the kick-off window',
        webrtcJoins,
        'joins/s',
        'computed',
        `${a.joinSurgeShare * 100} % of WebRTC viewers in ${a.joinSurgeSeconds} s`,
      ),
    ],
    failures: [
      `A node lost (SIGKILL): its ~${Math.round(viewersPerNode).toLocaleString('en')} viewers rejoin other nodes by themselves (drill node-edge: p95 3.0 s); ` +
        `${webrtcNodes > 1 ? `the ${webrtcNodes - 1} others take ${(100 / (webrtcNodes - 1)).toFixed(2)} % more each` : 'there is no other node'}, ` +
        `and placement reads Redis ${REDIS_OPS_PER_JOIN} times per rejoin (${Math.round((viewersPerNode / 3) * REDIS_OPS_PER_JOIN).toLocaleString('en')} ops/s over ~3 s).`,
      `The room's origin node lost: lease gone within 3 s, the publisher republishes through another node, and all ${pipes} edge nodes re-pipe from it at once (drill node-origin: media ≤ 5 s after the publisher is back).`,
      'A node draining (SIGTERM / admin API): it takes no joins and moves its viewers; drill: no viewer interrupted > 1 s.',
    ],
  };
  if (originPipeCores > a.utilisation) {
    warnings.push(
      `the WebRTC origin feeds ${pipes / a.rooms} pipes from one worker: ${originPipeCores.toFixed(2)} cores, more than one core at ${a.utilisation * 100} % (at most ${maxPipesPerOriginWorker} pipes). ` +
        'The code pipes origin → edges in one level; this tier needs relay nodes (a pipe tree) or fewer, larger nodes',
    );
  }
  if (originPipeEgress > a.serverNetworkBps * a.utilisation)
    warnings.push(`the WebRTC origin's pipe egress (${(originPipeEgress / 1e9).toFixed(1)} Gbit/s) is over its network`);

  // ---- Redis
  const clusterNodes = webrtcNodes + a.origins;
  const redis = redisLoad({ nodes: clusterNodes, rooms: a.rooms, nodesPerRoom: Math.max(1, webrtcNodes) + (a.origins - 1), joinsPerSecond: webrtcJoins });
  const redisTier: Tier = {
    name: 'Redis',
    figures: [
      fig('cluster nodes', clusterNodes, 'nodes', 'computed', 'WebRTC nodes + HLS origins'),
      ...redis.lines.map((line) => fig(line.what, line.opsPerSecond, 'ops/s', 'code', line.where)),
      fig('Redis commands at the kick-off peak', redis.opsPerSecond, 'ops/s', 'computed', 'sum of the lines above'),
      fig('pub/sub deliveries', redis.pubsubDeliveriesPerSecond, 'msg/s', 'computed', 'room events × subscribed nodes + bus requests'),
      assumed('one Redis primary', a.redisOpsPerSecond, 'ops/s', 'redisOpsPerSecond'),
    ],
    failures: [
      'Redis down: rooms keep playing on every node; new cross-node joins answer UNAVAILABLE (drill redis: after 4.0 s, no pipe dropped) and recover by themselves; ' +
        'a Sentinel switch of the primary loses no room (docs/cluster.md). HLS through the CDN never touches Redis.',
    ],
  };
  if (redis.opsPerSecond > a.redisOpsPerSecond * a.utilisation)
    warnings.push(`Redis at ${Math.round(redis.opsPerSecond).toLocaleString('en')} ops/s is over one primary at ${a.utilisation * 100} %`);

  return { tiers: [ingest, origins, shield, cdn, players, webrtc, redisTier], redis, warnings };
}
