/**
 * Typed configuration from environment variables, validated once at start.
 * A bad value produces a ConfigError that names the variable; main.ts prints
 * it as one line and exits (never a stack trace).
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseLadder, type RenditionSpec } from '../recorder/recorderLadder.js';
import { parsePathwaysSetting, type PathwaysSetting } from '../hls/contentSteering.js';
import { parseIceServers, type IceServer } from '../ingest/whip/iceServerLinks.js';
import { DEFAULT_REQUEST_RATE_LIMIT, type RequestRateLimit } from '../webrtc/addressRateLimit.js';

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(1).max(65535);
// PORT may be 0 (an ephemeral port: tests and embedding).
const httpPort = z.coerce.number().int().min(0).max(65535);

const envSchema = z
  .object({
    PORT: httpPort.default(3000),
    HOST: z.string().min(1).default('0.0.0.0'),
    /** mediasoup workers; default one per CPU core. */
    NUM_WORKERS: z.coerce.number().int().min(1).max(256).default(os.availableParallelism()),
    /** Port range for WebRTC (WebRtcServer), plain and pipe transports. */
    RTC_MIN_PORT: port.default(40000),
    RTC_MAX_PORT: port.default(49999),
    /** IP the media sockets bind to. */
    LISTEN_IP: z.ipv4().or(z.ipv6()).default('0.0.0.0'),
    /** Address put in ICE candidates; default: this machine's first non-internal IPv4. */
    ANNOUNCED_IP: z.string().min(1).optional(),
    /** HS256 secret for JWTs; generated per process when absent. */
    AUTH_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Require a viewer token to watch (viewing is open by default). */
    REQUIRE_VIEWER_TOKEN: bool.default(false),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** Consumers a single router may carry before viewers go to another router. */
    MAX_CONSUMERS_PER_ROUTER: z.coerce.number().int().min(2).max(10000).default(500),
    /**
     * Shortest gap between two keyframe requests (PLI) sent to a publisher. Chrome and
     * Firefox ignore a keyframe request that comes < 300 ms after the last one, and the SFU
     * would then wait 1 s before asking again; a request inside this window is held and
     * sent when it closes instead. 0 sends every request at once.
     */
    KEYFRAME_REQUEST_DELAY_MS: z.coerce.number().int().min(0).max(5000).default(350),
    /**
     * Key frame cache (our mediasoup worker patch): a viewer starting out is handed the
     * latest key frame and the frames since, at once, while that key frame is at most this
     * old; otherwise the publisher is asked for a new one. 0 turns the cache off.
     */
    KEYFRAME_CACHE_MS: z.coerce.number().int().min(0).max(5000).default(500),
    /** This node's id in room events and the room directory; default: the host name. */
    NODE_ID: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -')
      .default(
        os
          .hostname()
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .slice(0, 64) || 'node',
      ),
    /** Region label this node announces (clients and operators see it; placement may prefer it). */
    REGION: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . -')
      .default('default'),
    /** What this node does in a cluster: `webrtc` (rooms, viewers), `hls` (records rooms, its own or other origins'). */
    NODE_ROLES: z
      .string()
      .transform((value) => [...new Set(value.split(',').map((role) => role.trim()))])
      .pipe(z.array(z.enum(['webrtc', 'hls'], { error: 'roles are webrtc and hls, comma-separated' })).min(1))
      .default(['webrtc', 'hls']),
    /** Rooms that never had a broadcast (cost no router, but memory): overall, per client address, per connection. */
    MAX_IDLE_ROOMS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
    MAX_IDLE_ROOMS_PER_ADDRESS: z.coerce.number().int().min(1).max(100_000).default(20),
    MAX_IDLE_ROOMS_PER_CONNECTION: z.coerce.number().int().min(1).max(1000).default(4),
    /** WebRTC viewers per room (0 = unlimited). */
    MAX_WEBRTC_VIEWERS: z.coerce.number().int().min(0).default(0),
    /** Cluster mode: how long SIGTERM waits for clients to move to other nodes before the node stops anyway. */
    DRAIN_TIMEOUT_SECONDS: z.coerce.number().min(0).max(3600).default(60),
    /** How long an empty room lingers before its routers close. */
    ROOM_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(10),
    /** Public base URL printed in links (default http://<announced ip>:<port>). */
    PUBLIC_URL: z.url().optional(),
    /** Record live rooms to HLS (needs ffmpeg). */
    HLS_ENABLED: bool.default(true),
    /** Where playlists and segments are written (served under /hls). */
    HLS_DIR: z.string().min(1).default(path.join(os.tmpdir(), 'floodlight-hls')),
    /** ABR ladder as heights, highest first after sorting; never above the source. */
    HLS_RENDITIONS: z
      .string()
      .default('720,480,240')
      .superRefine((value, ctx) => {
        try {
          parseLadder(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
        }
      }),
    /** Seconds of past stream kept in the playlists (0 = a short live window). */
    HLS_DVR_SECONDS: z.coerce
      .number()
      .int()
      .min(0)
      .max(24 * 3600)
      .default(0),
    /** After a room ends, its HLS files stay this long (ENDLIST playlists), then go. */
    HLS_RETAIN_SECONDS: z.coerce
      .number()
      .min(0)
      .max(7 * 24 * 3600)
      .default(60),
    FFMPEG_PATH: z.string().min(1).default('ffmpeg'),
    /**
     * When a publisher sends H.264, its stream becomes the top HLS rendition as-is
     * (no re-encode); the recorder then asks it for a keyframe every second.
     */
    HLS_H264_PASSTHROUGH: bool.default(true),
    /** Cluster mode: rooms with more WebRTC viewers than this are recorded on two nodes (0 = only when the hlsRedundant setting says so). */
    HLS_REDUNDANT_AUDIENCE: z.coerce.number().int().min(0).max(100_000_000).default(1000),
    /** Content steering: '' (off), 'recorders' (one pathway per recorder node), or id=url,id=url (CDN/edge bases). */
    HLS_PATHWAYS: z
      .string()
      .default('')
      .superRefine((value, ctx) => {
        try {
          parsePathwaysSetting(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
        }
      }),
    /** Log level of the mediasoup workers themselves. */
    MEDIASOUP_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('warn'),
    /** How often per-room media stats are sampled (producer/consumer getStats). */
    STATS_INTERVAL_SECONDS: z.coerce.number().min(0.5).max(10).default(2),
    /** GET /metrics needs an admin token. */
    METRICS_REQUIRE_ADMIN: bool.default(false),
    /** stream_stalled: a producing publisher sent no video bytes for this long. */
    ALERT_STALL_SECONDS: z.coerce.number().min(1).max(600).default(5),
    /** low_bitrate: video below this for ALERT_WINDOW_SECONDS. */
    ALERT_MIN_BITRATE_KBPS: z.coerce.number().min(0).max(1_000_000).default(150),
    /** high_loss: ingest packet loss above this for ALERT_WINDOW_SECONDS. */
    ALERT_MAX_LOSS_PERCENT: z.coerce.number().min(0).max(100).default(5),
    /** hls_stale: no media playlist update for this long while the room is live. */
    ALERT_HLS_STALE_SECONDS: z.coerce.number().min(1).max(600).default(6),
    /** viewer_drop: the audience fell by at least this share within ALERT_WINDOW_SECONDS. */
    ALERT_VIEWER_DROP_PERCENT: z.coerce.number().min(1).max(100).default(50),
    /** How long low_bitrate/high_loss must hold (and clear), and the viewer_drop window. */
    ALERT_WINDOW_SECONDS: z.coerce.number().min(1).max(600).default(10),
    /** Comma-separated http(s) URLs that receive alert events. */
    WEBHOOK_URLS: z
      .string()
      .transform((value) =>
        value
          .split(',')
          .map((url) => url.trim())
          .filter((url) => url.length > 0),
      )
      .pipe(z.array(z.url({ protocol: /^https?$/, error: 'each webhook URL must be an http(s) URL' })).max(10, 'at most 10 webhook URLs'))
      .default([]),
    /** HMAC-SHA256 key for X-Floodlight-Signature. */
    WEBHOOK_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
    /** Pending events per webhook endpoint; the oldest are dropped beyond it. */
    WEBHOOK_QUEUE_SIZE: z.coerce.number().int().min(1).max(10_000).default(100),
    /** Cluster mode: the shared Redis (redis:// or rediss://, with user, password and db in the URL). */
    REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'must be a redis:// or rediss:// URL' }).optional(),
    /** Cluster mode through Redis Sentinel: "host:port,host:port". */
    REDIS_SENTINELS: z
      .string()
      .transform((value) => value.split(',').map((entry) => entry.trim()))
      .pipe(
        z
          .array(
            z
              .string()
              .regex(/^[^\s:]+:\d{1,5}$/, 'each sentinel must be host:port')
              .transform((entry) => ({ host: entry.slice(0, entry.lastIndexOf(':')), port: Number(entry.slice(entry.lastIndexOf(':') + 1)) })),
          )
          .min(1),
      )
      .optional(),
    /** The primary's name the sentinels monitor. */
    REDIS_SENTINEL_NAME: z.string().min(1).optional(),
    /** Password of the sentinels themselves (not of the primary). */
    REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
    /** Password of the Redis primary and replicas when reached through Sentinel (with REDIS_URL, put it in the URL). */
    REDIS_PASSWORD: z.string().min(1).optional(),
    /** Every Floodlight key and channel starts with this (several clusters can share one Redis). */
    REDIS_KEY_PREFIX: z
      .string()
      .regex(/^[A-Za-z0-9_.:-]{1,64}$/, 'must be 1-64 characters of A-Z a-z 0-9 _ . : -')
      .default('floodlight:'),
    /** Ingest: where stream keys are kept on a single node (a JSON file; Redis holds them in cluster mode). */
    STREAM_KEYS_DIR: z.string().min(1).default(path.join(os.homedir(), '.floodlight')),
    /** Ingest: ICE servers offered to WHIP clients (Link headers): "url" or "url|username|credential", comma-separated. */
    WHIP_ICE_SERVERS: z
      .string()
      .transform((value, ctx) => {
        try {
          return parseIceServers(value);
        } catch (error) {
          ctx.addIssue({ code: 'custom', message: (error as Error).message });
          return z.NEVER;
        }
      })
      .default([]),
    /** Ingest: WHIP sessions still connecting (ICE/DTLS) at once; more get 503 + Retry-After. */
    WHIP_MAX_PENDING_SESSIONS: z.coerce.number().int().min(1).max(10_000).default(20),
    /** WHIP and WHEP: POSTs per minute per client address (PATCH: 10×); more get 429 + Retry-After. 0: no limit. */
    WHIP_WHEP_POSTS_PER_MINUTE: z.coerce.number().int().min(0).max(1_000_000).default(DEFAULT_REQUEST_RATE_LIMIT.perMinute),
    /** WHIP and WHEP: POSTs a client address may make at once before the per-minute rate applies. */
    WHIP_WHEP_POST_BURST: z.coerce.number().int().min(1).max(1_000_000).default(DEFAULT_REQUEST_RATE_LIMIT.burst),
    /** Backup ingest: the slot on air is left after this long without video, ms. */
    INGEST_STALL_MS: z.coerce.number().int().min(300).max(5000).default(1000),
    /** Backup ingest: back to the primary once it has been healthy this long, seconds. */
    INGEST_FAILBACK_S: z.coerce.number().min(0.5).max(3600).default(10),
    /** Playback: WHEP sessions still connecting (ICE/DTLS) at once; more get 503 + Retry-After. */
    WHEP_MAX_PENDING_SESSIONS: z.coerce.number().int().min(1).max(10_000).default(50),
    /** Ingest: the address the RTMP and SRT listeners bind to (default: HOST). */
    INGEST_HOST: z.ipv4().or(z.ipv6()).optional(),
    /** Ingest: RTMP port (rtmp://host:PORT/live/<key>); 0 turns RTMP off. */
    RTMP_PORT: z.coerce.number().int().min(0).max(65535).default(1935),
    /** Ingest: RTMP connections open at once (any state); more are refused. */
    RTMP_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(10_000).default(32),
    /** Ingest: SRT port (srt://host:PORT?streamid=<key>); 0 turns SRT off. */
    SRT_PORT: z.coerce.number().int().min(0).max(65535).default(9000),
    /** Ingest: SRT receive latency (the caller's own may be higher; the larger wins). */
    SRT_LATENCY_MS: z.coerce.number().int().min(20).max(8000).default(120),
    /** Ingest: SRT encryption passphrase (10-79 characters); callers without it are refused. */
    SRT_PASSPHRASE: z.string().min(10, 'SRT passphrases are 10-79 characters').max(79, 'SRT passphrases are 10-79 characters').optional(),
    /** Ingest: SRT callers connected at once; more are refused. */
    SRT_MAX_CONNECTIONS: z.coerce.number().int().min(1).max(1000).default(32),
  })
  .refine((c) => c.HLS_ENABLED || c.NODE_ROLES.includes('webrtc'), {
    error: 'a node with only the hls role needs HLS_ENABLED',
    path: ['NODE_ROLES'],
  })
  .refine((c) => c.RTC_MIN_PORT < c.RTC_MAX_PORT, {
    error: 'RTC_MIN_PORT must be lower than RTC_MAX_PORT',
    path: ['RTC_MIN_PORT'],
  })
  .refine((c) => c.WEBHOOK_URLS.length === 0 || c.WEBHOOK_SECRET !== undefined, {
    error: 'required when WEBHOOK_URLS is set (deliveries are signed)',
    path: ['WEBHOOK_SECRET'],
  })
  .refine((c) => c.REDIS_URL === undefined || c.REDIS_SENTINELS === undefined, {
    error: 'set either REDIS_URL or REDIS_SENTINELS, not both',
    path: ['REDIS_SENTINELS'],
  })
  .refine((c) => c.REDIS_SENTINELS === undefined || c.REDIS_SENTINEL_NAME !== undefined, {
    error: 'required when REDIS_SENTINELS is set (the name the sentinels monitor)',
    path: ['REDIS_SENTINEL_NAME'],
  })
  .refine((c) => c.REDIS_SENTINELS !== undefined || (c.REDIS_SENTINEL_NAME ?? c.REDIS_SENTINEL_PASSWORD ?? c.REDIS_PASSWORD) === undefined, {
    error: 'REDIS_SENTINEL_NAME, REDIS_SENTINEL_PASSWORD and REDIS_PASSWORD are for Sentinel: REDIS_SENTINELS is required with them',
    path: ['REDIS_SENTINELS'],
  });

/** Where the cluster's shared state lives; absent: one node, state in memory. */
export type RedisSettings = { keyPrefix: string } & (
  | { mode: 'url'; url: string }
  | {
      mode: 'sentinel';
      sentinels: { host: string; port: number }[];
      name: string;
      sentinelPassword: string | undefined;
      password: string | undefined;
    }
);

export interface Config {
  port: number;
  host: string;
  numWorkers: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  listenIp: string;
  announcedIp: string;
  authSecret: string | undefined;
  requireViewerToken: boolean;
  logLevel: string;
  maxConsumersPerRouter: number;
  /** Shortest gap between keyframe requests to a publisher, ms (KEYFRAME_REQUEST_DELAY_MS). */
  keyFrameRequestDelayMs: number;
  /** Oldest key frame a joining viewer may be started from, ms; 0 = off (KEYFRAME_CACHE_MS). */
  keyFrameCacheMs: number;
  maxWebRtcViewers: number;
  nodeId: string;
  region: string;
  /** Roles announced (NODE_ROLES; `hls` only while HLS is enabled). */
  roles: ('webrtc' | 'hls')[];
  /** Quotas for rooms that never had a broadcast (MAX_IDLE_ROOMS*). */
  idleRoomQuotas: { total: number; perAddress: number; perConnection: number };
  roomGraceMs: number;
  /** Cluster mode: SIGTERM drains this long at most before stopping (DRAIN_TIMEOUT_SECONDS). */
  drainTimeoutMs: number;
  publicUrl: string | undefined;
  mediasoupLogLevel: 'debug' | 'warn' | 'error' | 'none';
  hls: {
    enabled: boolean;
    dir: string;
    renditions: RenditionSpec[];
    dvrSeconds: number;
    retainMs: number;
    ffmpegPath: string;
    h264Passthrough: boolean;
    /** Cluster mode: more WebRTC viewers than this → two recorders (HLS_REDUNDANT_AUDIENCE; 0 = by setting only). */
    redundantAudience: number;
    /** HLS_PATHWAYS (server/hls/contentSteering.ts). */
    pathways: PathwaysSetting;
  };
  observability: {
    statsIntervalMs: number;
    metricsRequireAdmin: boolean;
    alerts: AlertThresholds;
    webhooks: { urls: string[]; secret: string | undefined; queueSize: number };
  };
  /** Cluster mode (REDIS_URL or REDIS_SENTINELS); undefined: a single node. */
  redis: RedisSettings | undefined;
  /** Encoder ingest (stream keys, WHIP). */
  ingest: {
    streamKeysDir: string;
    whip: { iceServers: IceServer[]; maxPendingSessions: number };
    /** RTMP and SRT listen on this address. */
    host: string;
    /** port 0: off. */
    rtmp: { port: number; maxConnections: number };
    srt: { port: number; latencyMs: number; passphrase: string | undefined; maxConnections: number };
  };
  /** Backup ingest's switching policy (INGEST_STALL_MS, INGEST_FAILBACK_S). */
  ingestFailover: { stallMs: number; failbackMs: number };
  /** WHEP playback (its ICE servers are WHIP's: one list for the server's WebRTC endpoints). */
  whep: { maxPendingSessions: number };
  /** WHIP and WHEP POST/PATCH limit per client address (WHIP_WHEP_POSTS_PER_MINUTE, WHIP_WHEP_POST_BURST). */
  whipWhepRateLimit: RequestRateLimit;
}

/** Alert rule thresholds (see docs/operations.md). */
export interface AlertThresholds {
  stallSeconds: number;
  minBitrateKbps: number;
  maxLossPercent: number;
  hlsStaleSeconds: number;
  viewerDropPercent: number;
  windowSeconds: number;
}

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

/** First non-internal IPv4 address, so browsers on the LAN (and this host) can reach media. */
export function detectAnnouncedIp(): string {
  for (const addresses of Object.values(os.networkInterfaces())) {
    for (const address of addresses ?? []) {
      if (address.family === 'IPv4' && !address.internal) return address.address;
    }
  }
  return '127.0.0.1';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  // Treat empty strings as unset so `FOO= npm start` falls back to defaults.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const received = cleaned[variable];
    throw new ConfigError(variable, `${issue.message}${received !== undefined ? ` (got "${received}")` : ''}`);
  }
  const c = parsed.data;
  const listenIsWildcard = c.LISTEN_IP === '0.0.0.0' || c.LISTEN_IP === '::';
  return {
    port: c.PORT,
    host: c.HOST,
    numWorkers: c.NUM_WORKERS,
    rtcMinPort: c.RTC_MIN_PORT,
    rtcMaxPort: c.RTC_MAX_PORT,
    listenIp: c.LISTEN_IP,
    announcedIp: c.ANNOUNCED_IP ?? (listenIsWildcard ? detectAnnouncedIp() : c.LISTEN_IP),
    authSecret: c.AUTH_SECRET,
    requireViewerToken: c.REQUIRE_VIEWER_TOKEN,
    logLevel: c.LOG_LEVEL,
    maxConsumersPerRouter: c.MAX_CONSUMERS_PER_ROUTER,
    keyFrameRequestDelayMs: c.KEYFRAME_REQUEST_DELAY_MS,
    keyFrameCacheMs: c.KEYFRAME_CACHE_MS,
    maxWebRtcViewers: c.MAX_WEBRTC_VIEWERS,
    nodeId: c.NODE_ID,
    region: c.REGION,
    roles: c.NODE_ROLES.filter((role) => role !== 'hls' || c.HLS_ENABLED),
    idleRoomQuotas: { total: c.MAX_IDLE_ROOMS, perAddress: c.MAX_IDLE_ROOMS_PER_ADDRESS, perConnection: c.MAX_IDLE_ROOMS_PER_CONNECTION },
    roomGraceMs: c.ROOM_GRACE_SECONDS * 1000,
    drainTimeoutMs: Math.round(c.DRAIN_TIMEOUT_SECONDS * 1000),
    publicUrl: c.PUBLIC_URL?.replace(/\/$/, ''),
    mediasoupLogLevel: c.MEDIASOUP_LOG_LEVEL,
    hls: {
      enabled: c.HLS_ENABLED,
      dir: path.resolve(c.HLS_DIR),
      renditions: parseLadder(c.HLS_RENDITIONS),
      dvrSeconds: c.HLS_DVR_SECONDS,
      retainMs: c.HLS_RETAIN_SECONDS * 1000,
      ffmpegPath: c.FFMPEG_PATH,
      h264Passthrough: c.HLS_H264_PASSTHROUGH,
      redundantAudience: c.HLS_REDUNDANT_AUDIENCE,
      pathways: parsePathwaysSetting(c.HLS_PATHWAYS),
    },
    observability: {
      statsIntervalMs: Math.round(c.STATS_INTERVAL_SECONDS * 1000),
      metricsRequireAdmin: c.METRICS_REQUIRE_ADMIN,
      alerts: {
        stallSeconds: c.ALERT_STALL_SECONDS,
        minBitrateKbps: c.ALERT_MIN_BITRATE_KBPS,
        maxLossPercent: c.ALERT_MAX_LOSS_PERCENT,
        hlsStaleSeconds: c.ALERT_HLS_STALE_SECONDS,
        viewerDropPercent: c.ALERT_VIEWER_DROP_PERCENT,
        windowSeconds: c.ALERT_WINDOW_SECONDS,
      },
      webhooks: { urls: c.WEBHOOK_URLS, secret: c.WEBHOOK_SECRET, queueSize: c.WEBHOOK_QUEUE_SIZE },
    },
    redis: redisSettings(c),
    ingest: {
      streamKeysDir: path.resolve(c.STREAM_KEYS_DIR),
      whip: { iceServers: c.WHIP_ICE_SERVERS, maxPendingSessions: c.WHIP_MAX_PENDING_SESSIONS },
      host: c.INGEST_HOST ?? c.HOST,
      rtmp: { port: c.RTMP_PORT, maxConnections: c.RTMP_MAX_CONNECTIONS },
      srt: { port: c.SRT_PORT, latencyMs: c.SRT_LATENCY_MS, passphrase: c.SRT_PASSPHRASE, maxConnections: c.SRT_MAX_CONNECTIONS },
    },
    ingestFailover: { stallMs: c.INGEST_STALL_MS, failbackMs: Math.round(c.INGEST_FAILBACK_S * 1000) },
    whep: { maxPendingSessions: c.WHEP_MAX_PENDING_SESSIONS },
    whipWhepRateLimit: { perMinute: c.WHIP_WHEP_POSTS_PER_MINUTE, burst: c.WHIP_WHEP_POST_BURST },
  };
}

function redisSettings(c: z.infer<typeof envSchema>): RedisSettings | undefined {
  const keyPrefix = c.REDIS_KEY_PREFIX;
  if (c.REDIS_URL !== undefined) return { mode: 'url', url: c.REDIS_URL, keyPrefix };
  if (c.REDIS_SENTINELS === undefined || c.REDIS_SENTINEL_NAME === undefined) return undefined;
  return {
    mode: 'sentinel',
    sentinels: c.REDIS_SENTINELS,
    name: c.REDIS_SENTINEL_NAME,
    sentinelPassword: c.REDIS_SENTINEL_PASSWORD,
    password: c.REDIS_PASSWORD,
    keyPrefix,
  };
}
