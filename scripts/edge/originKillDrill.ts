/**
 * The origin-kill drill (issue 12) shared by test/integration/hlsOriginKill.test.ts
 * and the `hls-origin-kill` benchmark: a cluster on one machine —
 *   - node A (this process, `webrtc` role): the room's origin, with an H.264
 *     publisher (the recorders pass it through: no encoding);
 *   - nodes B and C (own processes, `hls` role, each its own HLS directory):
 *     the room's two recorders (runtime setting hlsRedundant);
 *   - the nginx edge (deploy/nginx) with B and C as its origins;
 * then LL-HLS clients through the edge, the recorder that records first
 * killed with SIGKILL, and each client judged on what the kill cost it.
 *
 * B and C keep their address and port across restarts (the edge's upstreams
 * are fixed): each is restarted on the same HLS directory, so the ffmpeg the
 * kill orphaned is reaped by the new process (ffmpegPidFiles).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FloodlightServer } from '../../server/app.js';
import { HOP_HEADER } from '../../server/hls/hlsClusterProxy.js';
import { startClusterNode } from '../../test/helpers/clusterNodes.js';
import { HeadlessPublisher } from '../../test/helpers/headlessPeer.js';
import { startNodeProcess, type NodeProcess } from '../../test/helpers/nodeProcess.js';
import { RedisServer } from '../../test/helpers/redisServer.js';
import { waitFor } from '../../test/helpers/wait.js';
import type { LlHlsClientStats } from '../loadtest/llHlsClient.js';
import { NginxEdge, freePort } from './nginxEdge.js';

/** Issue 12's target: after the kill, each player at most one stall of at most this long… */
export const MAX_STALL_MS = 2_000;
/** …and none stops: a client that got no media for this long at the end has stopped. */
export const STOPPED_AFTER_MS = 3_000;

/** Where the drill's clients play behind live: the watch page's hls.js target (HLS_CONFIG.liveSyncDuration). */
export const WATCH_PAGE_HOLD_BACK_S = 1.2;

/** The rendition every recorder makes: the publisher's own 360p H.264, passed through. */
const HLS_ENV = { HLS_ENABLED: 'true', HLS_RENDITIONS: '360' };

interface RecorderNode {
  nodeId: string;
  ip: string;
  port: number;
  url: string;
  hlsDir: string;
  node: NodeProcess | undefined;
}

export interface OriginKillDrillOptions {
  room: string;
  /**
   * How the edge uses B and C: 'balanced' (both origins, round robin: needs
   * recorders whose objects are interchangeable) or 'primary-backup' (the
   * first recorder, the other one only while it is down). Default 'balanced'.
   */
  edgeMode?: 'balanced' | 'primary-backup';
  /** Extra environment for B and C (e.g. LOG_LEVEL). */
  recorderEnv?: Record<string, string>;
}

export class OriginKillDrill {
  readonly room: string;
  readonly masterPath: string;
  readonly #redis: RedisServer;
  readonly #origin: FloodlightServer;
  readonly #recorders: RecorderNode[];
  readonly #env: Record<string, string>;
  #publisher: HeadlessPublisher | undefined;
  #edge: NginxEdge | undefined;
  #closed = false;

  private constructor(room: string, redis: RedisServer, origin: FloodlightServer, recorders: RecorderNode[], env: Record<string, string>) {
    this.room = room;
    this.masterPath = `/hls/${room}/index.m3u8`;
    this.#redis = redis;
    this.#origin = origin;
    this.#recorders = recorders;
    this.#env = env;
  }

  /** Starts everything up to a live room recorded on both B and C, served by both, and the edge. */
  static async start(options: OriginKillDrillOptions): Promise<OriginKillDrill> {
    const redis = await RedisServer.start();
    let drill: OriginKillDrill | undefined;
    try {
      const recorders: RecorderNode[] = [];
      for (const [nodeId, ip] of [
        ['node-b', '127.0.0.5'],
        ['node-c', '127.0.0.6'],
      ] as const) {
        const port = await freePort(ip);
        const hlsDir = fs.mkdtempSync(path.join(os.tmpdir(), `floodlight-origin-kill-${nodeId}-`));
        recorders.push({ nodeId, ip, port, url: `http://${ip}:${port}`, hlsDir, node: undefined });
      }
      const origin = await startClusterNode(redis.url, 'node-a', '127.0.0.2', { ...HLS_ENV, NODE_ROLES: 'webrtc' });
      drill = new OriginKillDrill(options.room, redis, origin, recorders, options.recorderEnv ?? {});
      for (const recorder of recorders) await drill.#startRecorder(recorder);
      await drill.#publish();
      if (options.edgeMode === 'primary-backup') {
        const first = drill.#recorder(await drill.firstRecorder());
        drill.#edge = await NginxEdge.start({ origins: [first.url], backupOrigins: recorders.filter((r) => r !== first).map((r) => r.url) });
      } else drill.#edge = await NginxEdge.start({ origins: recorders.map((r) => r.url) });
      return drill;
    } catch (error) {
      if (drill) await drill.close();
      else await redis.stop();
      throw error;
    }
  }

  get edgeUrl(): string {
    if (!this.#edge) throw new Error('the drill is closed');
    return this.#edge.url;
  }

  get edge(): NginxEdge {
    if (!this.#edge) throw new Error('the drill is closed');
    return this.#edge;
  }

  async #startRecorder(recorder: RecorderNode): Promise<void> {
    recorder.node = await startNodeProcess({
      redisUrl: this.#redis.url,
      nodeId: recorder.nodeId,
      // Its own address: the range cannot collide with the other nodes'.
      rtcMinPort: 47000,
      env: {
        ...HLS_ENV,
        NODE_ROLES: 'hls',
        HOST: recorder.ip,
        LISTEN_IP: recorder.ip,
        ANNOUNCED_IP: recorder.ip,
        PORT: String(recorder.port),
        HLS_DIR: recorder.hlsDir,
        ...this.#env,
      },
    });
  }

  async #publish(): Promise<void> {
    const origin = this.#origin;
    const url = `http://${origin.config.announcedIp}:${origin.port}`;
    const token = await origin.tokens.issue({ room: this.room, role: 'publisher' }, 3600);
    this.#publisher = new HeadlessPublisher({
      url,
      room: this.room,
      token,
      video: { codec: 'H264', width: 640, height: 360, bitrateKbps: 600, keyframeIntervalSec: 1 },
    });
    await this.#publisher.publish();
    await origin.cluster.settings.set({ setting: 'hlsRedundant', room: this.room, value: true });
    await this.bothServing();
  }

  /** Waits until B and C both serve the room's master (both record it). */
  async bothServing(timeoutMs = 60_000): Promise<void> {
    await waitFor(
      async () => {
        const answers = await Promise.all(
          this.#recorders.map((r) => fetch(`${r.url}${this.masterPath}`, { headers: { [HOP_HEADER]: '1' } }).catch(() => undefined)),
        );
        for (const answer of answers) await answer?.arrayBuffer();
        return answers.every((answer) => answer?.status === 200);
      },
      { description: `both recorders (${this.#recorders.map((r) => r.nodeId).join(', ')}) serving ${this.masterPath}`, timeoutMs },
    );
  }

  /** The recorder A forwards /hls to: the first of the room's recorders still announced. */
  async firstRecorder(): Promise<string> {
    const origin = this.#origin;
    const first = await origin.hls?.recorderOf(this.room, origin.config.nodeId);
    if (!first) {
      const room = await origin.directory.get(this.room).catch(() => undefined);
      throw new Error(
        `node-a knows no recorder of ${this.room} (room listing ${JSON.stringify(room)}, publisher ${JSON.stringify(this.#publisher?.stats().state)})`,
      );
    }
    return first;
  }

  /** SIGKILLs a recorder node; returns when it has exited. */
  async kill(nodeId: string): Promise<void> {
    const recorder = this.#recorder(nodeId);
    if (!recorder.node) throw new Error(`${nodeId} is not running`);
    await recorder.node.process.stop({ signal: 'SIGKILL' });
    recorder.node = undefined;
  }

  /** Starts a killed recorder again (same address, port and HLS directory) and waits until both record. */
  async restart(nodeId: string): Promise<void> {
    const recorder = this.#recorder(nodeId);
    if (recorder.node) throw new Error(`${nodeId} is running`);
    await this.#startRecorder(recorder);
    await this.bothServing();
  }

  #recorder(nodeId: string): RecorderNode {
    const recorder = this.#recorders.find((r) => r.nodeId === nodeId);
    if (!recorder) throw new Error(`no recorder ${nodeId} (have ${this.#recorders.map((r) => r.nodeId).join(', ')})`);
    return recorder;
  }

  /** Idempotent. A killed recorder is started once more so that it reaps its orphaned ffmpeg, then stopped. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#edge?.close();
    this.#edge = undefined;
    await this.#publisher?.close();
    for (const recorder of this.#recorders) {
      if (!recorder.node) await this.#startRecorder(recorder).catch(() => undefined);
    }
    await Promise.all(this.#recorders.flatMap((r) => (r.node ? [r.node.process.stop({ timeoutMs: 10_000 })] : [])));
    await this.#origin.close();
    await this.#redis.stop();
    for (const recorder of this.#recorders) fs.rmSync(recorder.hlsDir, { recursive: true, force: true });
  }
}

/** What a kill cost one client, from its stats at the kill and at the end. */
export interface KillCost {
  id: string;
  /** Stalls that began after the kill. */
  stalls: number;
  /** Their durations, ms (a stall still going at the end counts to the end). */
  stallDurationsMs: number[];
  /** Parts and segments loaded after the kill. */
  entriesAfter: number;
  /** It got no media in the last `stoppedAfterMs` before the end. */
  stopped: boolean;
  errorsAfter: number;
}

/** `endedAt`: performance.now() at the end of the run. */
export function killCost(atKill: LlHlsClientStats, atEnd: LlHlsClientStats, endedAt: number, stoppedAfterMs: number): KillCost {
  const errors = (s: LlHlsClientStats): number => Object.values(s.errors).reduce((a, b) => a + b, 0);
  // A stall going on at the kill is not the kill's; stalls finished before it are in atKill.
  const before = atKill.stallDurationsMs.length + (atKill.state === 'stalled' ? 1 : 0);
  const durations = atEnd.stallDurationsMs.slice(before);
  return {
    id: atEnd.id,
    stalls: atEnd.stalls - atKill.stalls,
    stallDurationsMs: durations,
    entriesAfter: atEnd.parts + atEnd.segments - atKill.parts - atKill.segments,
    stopped: atEnd.lastMediaAt === null || endedAt - atEnd.lastMediaAt > stoppedAfterMs,
    errorsAfter: errors(atEnd) - errors(atKill),
  };
}

export interface KillFigures {
  clients: number;
  /** Clients with more than one stall after the kill. */
  overOneStall: number;
  /** Clients with a stall longer than `maxStallMs`. */
  overLongStall: number;
  stopped: number;
  stalledClients: number;
  stalls: number;
  /** Every stall's duration after the kill, ms. */
  stallDurationsMs: number[];
}

export function killFigures(costs: readonly KillCost[], maxStallMs: number): KillFigures {
  return {
    clients: costs.length,
    overOneStall: costs.filter((c) => c.stalls > 1).length,
    overLongStall: costs.filter((c) => c.stallDurationsMs.some((ms) => ms > maxStallMs)).length,
    stopped: costs.filter((c) => c.stopped).length,
    stalledClients: costs.filter((c) => c.stalls > 0).length,
    stalls: costs.reduce((sum, c) => sum + c.stalls, 0),
    stallDurationsMs: costs.flatMap((c) => c.stallDurationsMs),
  };
}
