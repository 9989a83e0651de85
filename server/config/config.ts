/**
 * Typed configuration from environment variables, validated once at start.
 * A bad value produces a ConfigError that names the variable; main.ts prints
 * it as one line and exits (never a stack trace).
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { parseLadder, type RenditionSpec } from '../hls/recorderLadder.js';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

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
    /** WebRTC viewers per room (0 = unlimited). */
    MAX_WEBRTC_VIEWERS: z.coerce.number().int().min(0).default(0),
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
    HLS_DVR_SECONDS: z.coerce.number().int().min(0).max(24 * 3600).default(0),
    /** After a room ends, its HLS files stay this long (ENDLIST playlists), then go. */
    HLS_RETAIN_SECONDS: z.coerce.number().min(0).max(7 * 24 * 3600).default(60),
    FFMPEG_PATH: z.string().min(1).default('ffmpeg'),
    /** Log level of the mediasoup workers themselves. */
    MEDIASOUP_LOG_LEVEL: z.enum(['debug', 'warn', 'error', 'none']).default('warn'),
  })
  .refine((c) => c.RTC_MIN_PORT < c.RTC_MAX_PORT, {
    message: 'RTC_MIN_PORT must be lower than RTC_MAX_PORT',
    path: ['RTC_MIN_PORT'],
  });

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
  maxWebRtcViewers: number;
  roomGraceMs: number;
  publicUrl: string | undefined;
  mediasoupLogLevel: 'debug' | 'warn' | 'error' | 'none';
  hls: {
    enabled: boolean;
    dir: string;
    renditions: RenditionSpec[];
    dvrSeconds: number;
    retainMs: number;
    ffmpegPath: string;
  };
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
    throw new ConfigError(
      variable,
      `${issue.message}${received !== undefined ? ` (got "${received}")` : ''}`,
    );
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
    maxWebRtcViewers: c.MAX_WEBRTC_VIEWERS,
    roomGraceMs: c.ROOM_GRACE_SECONDS * 1000,
    publicUrl: c.PUBLIC_URL?.replace(/\/$/, ''),
    mediasoupLogLevel: c.MEDIASOUP_LOG_LEVEL,
    hls: {
      enabled: c.HLS_ENABLED,
      dir: path.resolve(c.HLS_DIR),
      renditions: parseLadder(c.HLS_RENDITIONS),
      dvrSeconds: c.HLS_DVR_SECONDS,
      retainMs: c.HLS_RETAIN_SECONDS * 1000,
      ffmpegPath: c.FFMPEG_PATH,
    },
  };
}
