/**
 * LL-HLS clients (llHlsClient.ts) on a worker thread of their own, so that a
 * few hundred of them do not hold up the event loop of the process that also
 * runs what they measure (a test's server or publisher: a starved publisher
 * stalls every player, and that is not what a drill wants to count).
 *
 *   const thread = await LlHlsClientThread.start({ masterUrl, count: 200, idPrefix: 'kill' });
 *   await thread.stats();   // one LlHlsClientStats per client
 *   await thread.close();   // stops them; their final stats
 *
 * The thread registers tsx itself, so it runs the .ts source.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { LlHlsClient, type LlHlsClientOptions, type LlHlsClientStats } from './llHlsClient.js';

export interface LlHlsClientThreadOptions extends Omit<LlHlsClientOptions, 'id'> {
  count: number;
  /** Client ids are `<idPrefix>-<i>`. */
  idPrefix: string;
}

type Request = { id: number; kind: 'stats' | 'close' };
type Reply = { id: number; stats: LlHlsClientStats[] };

export class LlHlsClientThread {
  readonly #worker: Worker;
  readonly #pending = new Map<number, (stats: LlHlsClientStats[]) => void>();
  #nextId = 0;
  #closed: Promise<LlHlsClientStats[]> | undefined;
  #failure: Error | undefined;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: Reply) => {
      this.#pending.get(reply.id)?.(reply.stats);
      this.#pending.delete(reply.id);
    });
    worker.on('error', (error) => {
      this.#failure = error;
    });
  }

  static async start(options: LlHlsClientThreadOptions): Promise<LlHlsClientThread> {
    if (!Number.isInteger(options.count) || options.count < 1 || options.count > 5000) throw new RangeError(`count ${options.count}: 1 to 5000 clients`);
    // A worker does not inherit the main thread's module hooks (Node 20): register tsx's there, then load this file.
    const entry = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    const worker = new Worker(entry, { eval: true, workerData: options });
    const thread = new LlHlsClientThread(worker);
    await thread.stats();
    return thread;
  }

  #ask(kind: Request['kind']): Promise<LlHlsClientStats[]> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#worker.once('error', reject);
      this.#pending.set(id, (stats) => {
        this.#worker.off('error', reject);
        resolve(stats);
      });
      this.#worker.postMessage({ id, kind } satisfies Request);
    });
  }

  /** Every client's stats now. */
  stats(): Promise<LlHlsClientStats[]> {
    if (this.#closed) return this.#closed;
    return this.#ask('stats');
  }

  /** Stops every client and the thread; resolves with their final stats. Idempotent. */
  close(): Promise<LlHlsClientStats[]> {
    this.#closed ??= this.#ask('close').finally(() => void this.#worker.terminate());
    return this.#closed;
  }
}

/** The worker side: runs the clients, answers stats and close. */
function runClients(options: LlHlsClientThreadOptions): void {
  const { count, idPrefix, ...clientOptions } = options;
  const clients = Array.from({ length: count }, (_, i) => new LlHlsClient({ ...clientOptions, id: `${idPrefix}-${i}` }));
  for (const client of clients) client.start();
  parentPort!.on('message', (request: Request) => {
    if (request.kind === 'stats') {
      parentPort!.postMessage({ id: request.id, stats: clients.map((c) => c.stats()) } satisfies Reply);
      return;
    }
    void Promise.all(clients.map((c) => c.close())).then(() => {
      parentPort!.postMessage({ id: request.id, stats: clients.map((c) => c.stats()) } satisfies Reply);
    });
  });
}

if (!isMainThread && parentPort && (workerData as { idPrefix?: unknown } | undefined)?.idPrefix !== undefined)
  runClients(workerData as LlHlsClientThreadOptions);

/** Clients spread over several threads (one per core: one thread's event loop tops out around 100–200 clients). */
export class LlHlsClientThreads {
  readonly #threads: LlHlsClientThread[];

  private constructor(threads: LlHlsClientThread[]) {
    this.#threads = threads;
  }

  static async start(options: LlHlsClientThreadOptions & { threads: number }): Promise<LlHlsClientThreads> {
    const { threads: wanted, count, idPrefix, ...rest } = options;
    const n = Math.max(1, Math.min(wanted, count));
    const threads: LlHlsClientThread[] = [];
    try {
      for (let t = 0; t < n; t++) {
        const share = Math.floor(count / n) + (t < count % n ? 1 : 0);
        threads.push(await LlHlsClientThread.start({ ...rest, count: share, idPrefix: `${idPrefix}-t${t}` }));
      }
    } catch (error) {
      await Promise.all(threads.map((thread) => thread.close()));
      throw error;
    }
    return new LlHlsClientThreads(threads);
  }

  async stats(): Promise<LlHlsClientStats[]> {
    return (await Promise.all(this.#threads.map((t) => t.stats()))).flat();
  }

  async close(): Promise<LlHlsClientStats[]> {
    return (await Promise.all(this.#threads.map((t) => t.close()))).flat();
  }
}
