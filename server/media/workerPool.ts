/**
 * One mediasoup Worker per core, each with a WebRtcServer (UDP + TCP) so all
 * WebRTC transports of a worker share its sockets.
 *
 * Owns worker lifecycle: load accounting (routers, transports, producers,
 * consumers counted through mediasoup's observer API; CPU sampled from
 * getResourceUsage), and replacement when a worker dies. Rooms react to the
 * `workerDied` event; the pool only brings capacity back.
 */
import { EventEmitter } from 'node:events';
import * as mediasoup from 'mediasoup';
import type { types as ms } from 'mediasoup';
import type { Logger } from '../observability/logger.js';
import { pickLeastLoadedWorker, type WorkerLoadSnapshot } from './placement.js';
import { routerMediaCodecs } from './mediaCodecs.js';

/** Read by the worker's key frame cache (scripts/worker/keyframe-cache/KeyFrameCache.cpp). */
const KEYFRAME_CACHE_ENV = 'FLOODLIGHT_KEYFRAME_CACHE_MS';

/**
 * Runs `start` with `vars` in process.env and restores it afterwards. mediasoup
 * spawns the worker synchronously inside createWorker() and hands it process.env,
 * which is the only channel for a setting its API does not know; restoring at once
 * keeps servers with different settings in one process (tests) apart.
 */
function withWorkerEnvironment<T>(vars: Record<string, string>, start: () => T): T {
  const saved = Object.keys(vars).map((name) => [name, process.env[name]] as const);
  Object.assign(process.env, vars);
  try {
    return start();
  } finally {
    for (const [name, value] of saved) {
      if (value === undefined) Reflect.deleteProperty(process.env, name);
      else process.env[name] = value;
    }
  }
}

export interface WorkerPoolOptions {
  numWorkers: number;
  rtcMinPort: number;
  rtcMaxPort: number;
  listenIp: string;
  announcedIp: string;
  logLevel: ms.WorkerLogLevel;
  /**
   * Oldest key frame the worker may start a new viewer from, ms; 0 = off. Needs our
   * patched worker (scripts/worker/keyframeCache.mjs); a stock worker ignores it.
   */
  keyFrameCacheMs?: number;
  logger: Logger;
  /** How often worker CPU is sampled. */
  cpuSampleIntervalMs?: number;
}

export interface MediaObjectCounts {
  routers: number;
  transports: number;
  producers: number;
  consumers: number;
}

interface WorkerSlot {
  index: number;
  /** Increments on every replacement; lets callers notice a new worker. */
  generation: number;
  worker: ms.Worker | undefined;
  webRtcServer: ms.WebRtcServer | undefined;
  counts: MediaObjectCounts;
  cpu: number;
  /** Peak resident memory (ru_maxrss) of the current worker process, bytes. */
  memoryBytes: number;
  lastCpuMs: number | undefined;
  lastCpuAt: number;
  restarts: number;
}

export class WorkerStartError extends Error {
  override name = 'WorkerStartError';
}

type PoolEvents = {
  workerDied: [index: number, error: Error];
  workerReplaced: [index: number];
};

export class WorkerPool extends EventEmitter<PoolEvents> {
  readonly #options: WorkerPoolOptions;
  readonly #log: Logger;
  readonly #slots: WorkerSlot[] = [];
  #routerRtpCapabilities: ms.RtpCapabilities | undefined;
  #cpuTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(options: WorkerPoolOptions) {
    super();
    this.#options = options;
    this.#log = options.logger.child({ component: 'worker-pool' });
  }

  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    const pool = new WorkerPool(options);
    try {
      for (let index = 0; index < options.numWorkers; index++) {
        const slot: WorkerSlot = {
          index,
          generation: 0,
          worker: undefined,
          webRtcServer: undefined,
          counts: { routers: 0, transports: 0, producers: 0, consumers: 0 },
          cpu: 0,
          memoryBytes: 0,
          lastCpuMs: undefined,
          lastCpuAt: Date.now(),
          restarts: 0,
        };
        pool.#slots.push(slot);
        await pool.#start(slot);
      }
      // Every router is made with the same codecs, so they all announce the same
      // capabilities: learn them once, and a viewer can load its device before any
      // router exists for its room.
      const probe = await pool.createRouter(0, { role: 'capabilities-probe' });
      pool.#routerRtpCapabilities = probe.rtpCapabilities;
      probe.close();
    } catch (error) {
      pool.close();
      throw error;
    }
    pool.#cpuTimer = setInterval(() => void pool.#sampleCpu(), options.cpuSampleIntervalMs ?? 2000);
    pool.#cpuTimer.unref();
    return pool;
  }

  get size(): number {
    return this.#slots.length;
  }

  /** The RTP capabilities of every router of this pool. */
  get routerRtpCapabilities(): ms.RtpCapabilities {
    if (!this.#routerRtpCapabilities) throw new Error('worker pool not started');
    return this.#routerRtpCapabilities;
  }

  get allAlive(): boolean {
    return !this.#closed && this.#slots.every((s) => s.worker && !s.worker.died && !s.worker.closed);
  }

  isAlive(index: number): boolean {
    const worker = this.#slots[index]?.worker;
    return !!worker && !worker.died && !worker.closed;
  }

  /** Process id of a worker (for drills and tests that kill one). */
  pid(index: number): number | undefined {
    return this.#slots[index]?.worker?.pid;
  }

  loads(): WorkerLoadSnapshot[] {
    return this.#slots.map((s) => ({ index: s.index, alive: this.isAlive(s.index), ...s.counts, cpu: s.cpu }));
  }

  details(): Array<WorkerLoadSnapshot & { transports: number; pid: number | undefined; restarts: number; generation: number; memoryBytes: number }> {
    return this.#slots.map((s) => ({
      index: s.index,
      alive: this.isAlive(s.index),
      ...s.counts,
      cpu: s.cpu,
      pid: s.worker?.pid,
      restarts: s.restarts,
      generation: s.generation,
      memoryBytes: s.memoryBytes,
    }));
  }

  /** Totals over all workers: the leak checks in tests read these. */
  counts(): MediaObjectCounts {
    const total = { routers: 0, transports: 0, producers: 0, consumers: 0 };
    for (const s of this.#slots) {
      total.routers += s.counts.routers;
      total.transports += s.counts.transports;
      total.producers += s.counts.producers;
      total.consumers += s.counts.consumers;
    }
    return total;
  }

  leastLoadedWorker(avoid: readonly number[] = []): number | undefined {
    return pickLeastLoadedWorker(this.loads(), avoid);
  }

  async createRouter(index: number, appData: ms.AppData = {}): Promise<ms.Router> {
    const worker = this.#slots[index]?.worker;
    if (!worker || worker.died || worker.closed) throw new Error(`worker ${index} is not available`);
    return worker.createRouter({ mediaCodecs: routerMediaCodecs, appData });
  }

  webRtcServer(index: number): ms.WebRtcServer {
    const server = this.#slots[index]?.webRtcServer;
    if (!server || server.closed) throw new Error(`worker ${index} has no WebRtcServer`);
    return server;
  }

  /** Loopback listen info for pipe transports between routers. */
  pipeListenInfo(): ms.TransportListenInfo {
    return { protocol: 'udp', ip: '127.0.0.1', portRange: { min: this.#options.rtcMinPort, max: this.#options.rtcMaxPort } };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#cpuTimer) clearInterval(this.#cpuTimer);
    for (const slot of this.#slots) {
      slot.worker?.close();
      slot.worker = undefined;
      slot.webRtcServer = undefined;
    }
    this.removeAllListeners();
  }

  async #start(slot: WorkerSlot): Promise<void> {
    const { rtcMinPort, rtcMaxPort, listenIp, announcedIp, logLevel } = this.#options;
    // Port ranges go on each listen info (WebRtcServer, pipes, recorder), not on the worker (deprecated there).
    let worker: ms.Worker;
    try {
      worker = await withWorkerEnvironment({ [KEYFRAME_CACHE_ENV]: String(this.#options.keyFrameCacheMs ?? 0) }, () =>
        mediasoup.createWorker({ logLevel, appData: { index: slot.index } }),
      );
    } catch (error) {
      throw new WorkerStartError(
        `cannot start mediasoup worker (${(error as Error).message}); binary: ${mediasoup.workerBin}. Run "npm run setup" to build it.`,
      );
    }
    slot.counts = { routers: 0, transports: 0, producers: 0, consumers: 0 };
    this.#trackCounts(worker, slot);
    const portRange = { min: rtcMinPort, max: rtcMaxPort };
    try {
      slot.webRtcServer = await worker.createWebRtcServer({
        listenInfos: [
          { protocol: 'udp', ip: listenIp, announcedAddress: announcedIp, portRange },
          { protocol: 'tcp', ip: listenIp, announcedAddress: announcedIp, portRange },
        ],
      });
    } catch (error) {
      worker.close();
      throw new WorkerStartError(
        `cannot open WebRTC ports on ${listenIp} in ${rtcMinPort}-${rtcMaxPort} (${(error as Error).message}); check LISTEN_IP and RTC_MIN_PORT/RTC_MAX_PORT`,
      );
    }
    slot.worker = worker;
    slot.lastCpuMs = undefined;
    slot.cpu = 0;
    slot.memoryBytes = 0;
    worker.on('died', (error) => this.#onDied(slot, worker, error));
    this.#log.info({ worker: slot.index, pid: worker.pid, generation: slot.generation }, 'mediasoup worker started');
  }

  #onDied(slot: WorkerSlot, worker: ms.Worker, error: Error): void {
    if (this.#closed || slot.worker !== worker) return;
    slot.worker = undefined;
    slot.webRtcServer = undefined;
    slot.counts = { routers: 0, transports: 0, producers: 0, consumers: 0 };
    slot.restarts++;
    this.#log.error({ worker: slot.index, pid: worker.pid, err: error.message, restarts: slot.restarts }, 'mediasoup worker died; replacing it');
    this.emit('workerDied', slot.index, error);
    void this.#replace(slot);
  }

  async #replace(slot: WorkerSlot): Promise<void> {
    // Back off if replacements keep dying (e.g. a broken binary), but the
    // first replacement is immediate: viewers are waiting.
    for (let attempt = 0; !this.#closed; attempt++) {
      try {
        slot.generation++;
        await this.#start(slot);
        if (this.#closed) {
          slot.worker?.close();
          return;
        }
        this.emit('workerReplaced', slot.index);
        return;
      } catch (error) {
        const delayMs = Math.min(30_000, 500 * 2 ** attempt);
        this.#log.error({ worker: slot.index, err: (error as Error).message, retryInMs: delayMs }, 'worker replacement failed');
        await new Promise((resolve) => setTimeout(resolve, delayMs).unref());
      }
    }
  }

  #trackCounts(worker: ms.Worker, slot: WorkerSlot): void {
    // Counting through observers means every router/transport/producer/consumer
    // is seen, including pipe transports and consumers created by pipeToRouter.
    const live = () => slot.worker === worker || slot.worker === undefined;
    const track = (key: keyof MediaObjectCounts, observer: { once(event: 'close', listener: () => void): unknown }) => {
      if (!live()) return;
      slot.counts[key]++;
      observer.once('close', () => {
        if (slot.worker === worker) slot.counts[key]--;
      });
    };
    worker.observer.on('newrouter', (router) => {
      track('routers', router.observer);
      router.observer.on('newtransport', (transport) => {
        track('transports', transport.observer);
        transport.observer.on('newproducer', (producer) => track('producers', producer.observer));
        transport.observer.on('newconsumer', (consumer) => track('consumers', consumer.observer));
      });
    });
  }

  async #sampleCpu(): Promise<void> {
    await Promise.all(
      this.#slots.map(async (slot) => {
        const worker = slot.worker;
        if (!worker || worker.died || worker.closed) return;
        try {
          const usage = await worker.getResourceUsage();
          const cpuMs = usage.ru_utime + usage.ru_stime;
          const now = Date.now();
          if (slot.lastCpuMs !== undefined && now > slot.lastCpuAt) {
            slot.cpu = (cpuMs - slot.lastCpuMs) / (now - slot.lastCpuAt);
          }
          slot.lastCpuMs = cpuMs;
          slot.lastCpuAt = now;
          // ru_maxrss is in kilobytes on Linux.
          slot.memoryBytes = usage.ru_maxrss * 1024;
        } catch {
          // Worker closing or dying; the died handler deals with it.
        }
      }),
    );
  }
}
