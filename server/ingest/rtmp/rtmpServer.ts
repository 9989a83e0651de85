/**
 * RTMP ingest: `rtmp://<host>:<RTMP_PORT>/live/<stream key>`. Our own TCP
 * server; node-media-server's parser speaks the protocol (nmsRtmp.ts). A
 * publish to app `live` with a stream key that opens a room's slot becomes an
 * FLV stream into that slot's FfmpegIngestSource (encoderIngests.ts).
 *
 * Anything else ends that connection only, before any ffmpeg starts: a wrong
 * app or key, a play request, bytes the parser cannot read, a message
 * declaring an absurd size, a client that does not finish handshake and
 * publish within `handshakeTimeoutMs`, or one that goes quiet for
 * `idleTimeoutMs`. At most `maxConnections` connections are open at once.
 */
import net from 'node:net';
import type { Logger } from '../../observability/logger.js';
import { IngestRefusal, type EncoderIngests, type IngestClaim } from '../encoderIngests.js';
import { createRtmpParser, flvHeader, flvTag, type NmsAvPacket, type NmsStreamRequest } from './nmsRtmp.js';

/** The only RTMP application: rtmp://host/live/<key>. */
export const RTMP_APP = 'live';
/** Bytes a client may send before its publish is accepted (handshake + a few commands need ~4 KiB). */
const MAX_BYTES_BEFORE_PUBLISH = 64 * 1024;
/** Media buffered while the key is being checked. */
const MAX_BYTES_WHILE_CHECKING = 8 * 1024 * 1024;
/** Largest RTMP message accepted: a 4K key frame fits, a garbage length does not allocate. */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;
const FLV_AUDIO = 8;
const FLV_VIDEO = 9;
const FLV_SCRIPT = 18;

export interface RtmpServerOptions {
  port: number;
  host: string;
  maxConnections: number;
  ingests: EncoderIngests;
  /** Handshake and publish must be done within this. Default 10 s. */
  handshakeTimeoutMs?: number;
  /** A connection silent this long is closed. Default 15 s. */
  idleTimeoutMs?: number;
  logger: Logger;
}

export class RtmpServer {
  readonly #options: RtmpServerOptions;
  readonly #log: Logger;
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #closed = false;

  private constructor(options: RtmpServerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'rtmp' });
    this.#server = net.createServer((socket) => this.#accept(socket));
    this.#server.maxConnections = options.maxConnections;
    this.#server.on('drop', (data) => this.#log.warn({ remote: data?.remoteAddress, max: options.maxConnections }, 'RTMP connection refused: too many'));
  }

  static async listen(options: RtmpServerOptions): Promise<RtmpServer> {
    const server = new RtmpServer(options);
    await new Promise<void>((resolve, reject) => {
      server.#server.once('error', reject);
      server.#server.listen(options.port, options.host, () => {
        server.#server.off('error', reject);
        resolve();
      });
    });
    server.#log.info({ port: server.port, host: options.host }, 'RTMP ingest listening');
    return server;
  }

  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Open connections (any state). */
  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops listening and ends every connection. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) {
      socket.destroy();
      return;
    }
    this.#sockets.add(socket);
    const remote = socket.remoteAddress ?? null;
    const log = this.#log.child({ remote });
    const parser = createRtmpParser();
    let request: NmsStreamRequest | undefined;
    let claim: IngestClaim | undefined;
    /** Media that arrived while the key was being checked. */
    let held: Buffer[] | undefined;
    let heldBytes = 0;
    let bytesBeforePublish = 0;
    let ended = false;
    const end = (why: string, level: 'info' | 'warn' = 'warn'): void => {
      if (ended) return;
      ended = true;
      log[level]({ why, app: request?.app }, 'RTMP connection closed');
      socket.destroy();
    };
    const handshakeTimer = setTimeout(() => end('no publish within the handshake timeout'), this.#options.handshakeTimeoutMs ?? 10_000);
    socket.setNoDelay(true);
    socket.setTimeout(this.#options.idleTimeoutMs ?? 15_000, () => end('idle'));

    parser.onOutputCallback = (buffer) => {
      if (!socket.destroyed) socket.write(buffer);
    };
    parser.onConnectCallback = (req) => {
      request = req;
    };
    parser.onPlayCallback = () => end('play requested: this server only takes publishers');
    parser.onPushCallback = () => {
      if (claim || held) {
        end('a second publish on one connection');
        return;
      }
      if (request?.app !== RTMP_APP) {
        end(`wrong app "${request?.app ?? ''}" (publish to rtmp://host/${RTMP_APP}/<stream key>)`);
        return;
      }
      held = [flvHeader()];
      this.#options.ingests
        .claim(request.name, { protocol: 'rtmp', format: 'flv', remoteAddress: remote })
        .then((granted) => {
          if (ended) {
            granted.close();
            return;
          }
          clearTimeout(handshakeTimer);
          claim = granted;
          for (const chunk of held ?? []) granted.write(chunk);
          held = [];
          granted.ready.then(
            (source) => source.once('ended', (reason) => end(`its source ended (${reason})`, 'info')),
            (error: unknown) => end(`could not start: ${(error as Error).message}`),
          );
        })
        .catch((error: unknown) => end(error instanceof IngestRefusal ? error.message : `key check failed: ${(error as Error).message}`));
    };
    parser.onPacketCallback = (packet: NmsAvPacket) => {
      if (packet.codec_type !== FLV_AUDIO && packet.codec_type !== FLV_VIDEO && packet.codec_type !== FLV_SCRIPT) return;
      if (claim) {
        claim.write(flvTag(packet));
        return;
      }
      if (!held) return; // media before publish: ignored
      const tag = flvTag(packet);
      held.push(tag);
      heldBytes += tag.length;
      if (heldBytes > MAX_BYTES_WHILE_CHECKING) end('too much media while the key was being checked');
    };

    socket.on('data', (chunk: Buffer) => {
      if (ended) return;
      if (!claim && !held) {
        bytesBeforePublish += chunk.length;
        if (bytesBeforePublish > MAX_BYTES_BEFORE_PUBLISH) {
          end('too many bytes before a publish');
          return;
        }
      }
      try {
        parser.parserData(chunk);
      } catch (error) {
        end(`unreadable RTMP (${(error as Error).message})`);
        return;
      }
      if (parser.parserPacket.capacity > MAX_MESSAGE_BYTES) end('an RTMP message larger than 8 MiB');
    });
    socket.on('error', () => end('socket error'));
    socket.on('close', () => {
      ended = true;
      clearTimeout(handshakeTimer);
      this.#sockets.delete(socket);
      claim?.close();
    });
  }
}
