/**
 * SRT ingest: `srt://<host>:<SRT_PORT>?streamid=<stream key>` (MPEG-TS in
 * live mode). A libsrt listener (libsrt.ts); each caller's stream id names
 * its key — plain, `live/<key>`, or the access-control form
 * `#!::r=live/<key>,m=publish` that vMix and OBS can send.
 *
 * The key is checked after libsrt accepted the caller and BEFORE any ffmpeg
 * starts (accept-then-check): the store answers asynchronously (a file or
 * Redis), which srt_listen_callback — called on libsrt's own thread, wanting
 * an answer at once — cannot wait for. A refused caller is closed. A wrong
 * passphrase never gets that far: libsrt rejects it in the handshake.
 *
 * Callers that send nothing for `idleTimeoutMs` are closed; at most
 * `maxConnections` are connected at once.
 */
import type { Logger } from '../../observability/logger.js';
import { IngestRefusal, type EncoderIngests, type IngestClaim } from '../encoderIngests.js';
import {
  check,
  describeSockaddr,
  epollReady,
  getStringOption,
  libsrt,
  receiveStats,
  setIntOption,
  setStringOption,
  sockaddrIn,
  SRT_EASYNCRCV,
  SRT_EPOLL_ERR,
  SRT_EPOLL_IN,
  SrtOption,
} from './libsrt.js';

/** Poll interval while callers are connected: bounds the delay this adds to SRT's own latency. */
const POLL_BUSY_MS = 5;
/** Poll interval with nobody connected: only how soon a new caller is accepted. */
const POLL_IDLE_MS = 50;
/** Live-mode payloads are at most 1456 bytes. */
const RECV_BYTES = 1500;
/** Media buffered while the key is being checked. */
const MAX_BYTES_WHILE_CHECKING = 8 * 1024 * 1024;

export interface SrtServerOptions {
  port: number;
  host: string;
  latencyMs: number;
  passphrase: string | undefined;
  maxConnections: number;
  ingests: EncoderIngests;
  /** A caller that sends no data this long is closed. Default 10 s. */
  idleTimeoutMs?: number;
  logger: Logger;
}

interface Caller {
  socket: number;
  remote: string | null;
  key: string;
  lastDataAt: number;
  claim: IngestClaim | undefined;
  /** Data that arrived while the key was checked. */
  held: Buffer[];
  heldBytes: number;
  closed: boolean;
}

/** The stream key in a caller's stream id (see the file comment); '' when there is none. */
export function streamKeyFromStreamId(streamId: string): { key: string; mode: string | undefined } {
  let resource = streamId.trim();
  // Some callers (ffmpeg 5.1 among them) pass a URL-encoded "#!::" through as it is.
  if (/^%23!::/i.test(resource)) resource = safeDecode(resource);
  let mode: string | undefined;
  if (resource.startsWith('#!::')) {
    const fields = new Map(
      resource
        .slice(4)
        .split(',')
        .map((pair) => {
          const at = pair.indexOf('=');
          return [pair.slice(0, at).trim(), pair.slice(at + 1).trim()] as const;
        }),
    );
    resource = fields.get('r') ?? '';
    mode = fields.get('m');
  }
  const slash = resource.lastIndexOf('/');
  return { key: slash >= 0 ? resource.slice(slash + 1) : resource, mode };
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

export class SrtServer {
  readonly #options: SrtServerOptions;
  readonly #log: Logger;
  readonly #listener: number;
  readonly #epoll: number;
  readonly #callers = new Map<number, Caller>();
  readonly #port: number;
  #closed = false;
  #timer: NodeJS.Timeout | undefined;

  private constructor(options: SrtServerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'srt' });
    const srt = libsrt();
    this.#listener = check('srt_create_socket', srt.createSocket());
    try {
      setIntOption(this.#listener, SrtOption.RCVSYN, 0);
      setIntOption(this.#listener, SrtOption.SNDSYN, 0);
      setIntOption(this.#listener, SrtOption.LATENCY, options.latencyMs);
      if (options.passphrase) setStringOption(this.#listener, SrtOption.PASSPHRASE, options.passphrase);
      check('srt_bind', srt.bind(this.#listener, sockaddrIn(options.host, options.port), 16));
      check('srt_listen', srt.listen(this.#listener, 16));
      this.#epoll = check('srt_epoll_create', srt.epollCreate());
      check('srt_epoll_add_usock', srt.epollAdd(this.#epoll, this.#listener, Int32Array.of(SRT_EPOLL_IN | SRT_EPOLL_ERR)));
    } catch (error) {
      srt.close(this.#listener);
      throw error;
    }
    this.#port = options.port;
  }

  static listen(options: SrtServerOptions): SrtServer {
    const server = new SrtServer(options);
    server.#schedule();
    server.#log.info({ port: server.port, host: options.host, latencyMs: options.latencyMs, encrypted: Boolean(options.passphrase) }, 'SRT ingest listening');
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** Callers connected now (any state). */
  get connections(): number {
    return this.#callers.size;
  }

  /** Stops listening and closes every caller. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    for (const caller of [...this.#callers.values()]) this.#drop(caller, 'server closing', 'info');
    const srt = libsrt();
    srt.epollRelease(this.#epoll);
    srt.close(this.#listener);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => this.#poll(), this.#callers.size > 0 ? POLL_BUSY_MS : POLL_IDLE_MS);
    this.#timer.unref();
  }

  #poll(): void {
    try {
      for (const [socket, events] of epollReady(this.#epoll, 64)) {
        if (socket === this.#listener) this.#acceptAll();
        else {
          const caller = this.#callers.get(socket);
          if (!caller) continue;
          if (events & SRT_EPOLL_IN) this.#read(caller);
          if (events & SRT_EPOLL_ERR) this.#drop(caller, 'connection broken', 'info');
        }
      }
      this.#dropIdle();
    } catch (error) {
      this.#log.error({ err: error }, 'SRT poll failed');
    }
    this.#schedule();
  }

  #acceptAll(): void {
    const srt = libsrt();
    for (;;) {
      const address = Buffer.alloc(128);
      const length = [address.length];
      const socket = srt.accept(this.#listener, address, length);
      if (socket < 0) return; // nothing more to accept now
      const caller: Caller = {
        socket,
        remote: describeSockaddr(address),
        key: '',
        lastDataAt: Date.now(),
        claim: undefined,
        held: [],
        heldBytes: 0,
        closed: false,
      };
      this.#callers.set(socket, caller);
      if (this.#callers.size > this.#options.maxConnections) {
        this.#drop(caller, `too many SRT callers (${this.#options.maxConnections})`);
        continue;
      }
      let streamId: string;
      try {
        streamId = getStringOption(socket, SrtOption.STREAMID);
        check('srt_epoll_add_usock', srt.epollAdd(this.#epoll, socket, Int32Array.of(SRT_EPOLL_IN | SRT_EPOLL_ERR)));
      } catch (error) {
        this.#drop(caller, (error as Error).message);
        continue;
      }
      const { key, mode } = streamKeyFromStreamId(streamId);
      if (mode !== undefined && mode !== 'publish') {
        this.#drop(caller, `stream id mode "${mode}": this server only takes publishers`);
        continue;
      }
      caller.key = key;
      this.#claim(caller);
    }
  }

  #claim(caller: Caller): void {
    const loss = (): number | null => {
      const stats = caller.closed ? undefined : receiveStats(caller.socket);
      if (!stats || stats.received + stats.lost === 0) return null;
      return Math.round((stats.lost / (stats.received + stats.lost)) * 1000) / 10;
    };
    this.#options.ingests
      .claim(caller.key, { protocol: 'srt', format: 'mpegts', remoteAddress: caller.remote, inputLossPercent: loss })
      .then((claim) => {
        if (caller.closed) {
          claim.close();
          return;
        }
        caller.claim = claim;
        for (const chunk of caller.held.splice(0)) claim.write(chunk);
        claim.ready.then(
          (source) => source.once('ended', (reason) => this.#drop(caller, `its source ended (${reason})`, 'info')),
          (error: unknown) => this.#drop(caller, `could not start: ${(error as Error).message}`),
        );
      })
      .catch((error: unknown) => this.#drop(caller, error instanceof IngestRefusal ? error.message : `key check failed: ${(error as Error).message}`));
  }

  #read(caller: Caller): void {
    const srt = libsrt();
    for (;;) {
      if (caller.closed) return;
      const buffer = Buffer.alloc(RECV_BYTES);
      const size = srt.recvmsg(caller.socket, buffer, buffer.length);
      if (size < 0) {
        if (srt.getlasterror(null) !== SRT_EASYNCRCV) this.#drop(caller, `connection ended (${srt.getlasterrorStr()})`, 'info');
        return;
      }
      if (size === 0) return;
      caller.lastDataAt = Date.now();
      const chunk = buffer.subarray(0, size);
      if (caller.claim) {
        caller.claim.write(chunk);
        continue;
      }
      caller.held.push(chunk);
      caller.heldBytes += size;
      if (caller.heldBytes > MAX_BYTES_WHILE_CHECKING) {
        this.#drop(caller, 'too much media while the key was being checked');
        return;
      }
    }
  }

  #dropIdle(): void {
    const limit = this.#options.idleTimeoutMs ?? 10_000;
    const now = Date.now();
    for (const caller of [...this.#callers.values()]) if (now - caller.lastDataAt > limit) this.#drop(caller, 'idle');
  }

  #drop(caller: Caller, why: string, level: 'info' | 'warn' = 'warn'): void {
    if (caller.closed) return;
    caller.closed = true;
    this.#callers.delete(caller.socket);
    const srt = libsrt();
    srt.epollRemove(this.#epoll, caller.socket);
    srt.close(caller.socket);
    caller.held.length = 0;
    caller.claim?.close();
    this.#log[level]({ why, remote: caller.remote }, 'SRT caller closed');
  }
}
