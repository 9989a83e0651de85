/**
 * What one ffmpeg run of the recorder reads and writes: the room's audio and
 * video consumed on mediasoup PlainTransports towards a pair of UDP ports of
 * its own, the SDP describing them, and a unix socket per output (renditions,
 * source-size probe) that ffmpeg connects to.
 *
 * Every feed has its own ports, consumers and socket names, so that on a
 * re-plan the next ffmpeg can start beside the running one (make-before-break)
 * and each rendition switch over when the new ffmpeg has media for it.
 *
 * `RecorderFeed.open()` → consumers paused until `resume()` (once ffmpeg
 * listens, so that the first thing it gets is a key frame); `close()`
 * (idempotent) closes consumers, transports, sockets and ffmpeg's connections.
 */
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { types as ms } from 'mediasoup';
import { buildRecorderSdp, type SdpStream } from './recorderSdp.js';

export interface RecorderFeedOptions {
  router: ms.Router;
  producers: readonly ms.Producer[];
  /** Ports for the PlainTransports on mediasoup's side. */
  rtcPortRange: { min: number; max: number };
  /** The recorder's scratch directory. */
  workDir: string;
  /** Distinguishes this feed's files from those of the feed before. */
  generation: number;
  /** One unix socket per output name (renditions, the probe). */
  outputs: readonly string[];
  /** The spatial layer to ask a simulcast/SVC video consumer for. */
  preferredSpatialLayer: number;
  /** Bytes ffmpeg wrote to output `name`. */
  onBytes: (name: string, chunk: Buffer) => void;
  onLayersChange: (layers: ms.ConsumerLayers | undefined) => void;
}

export class RecorderFeed {
  readonly generation: number;
  readonly sdpPath: string;
  readonly streams: SdpStream[] = [];
  readonly consumers: ms.Consumer[] = [];
  readonly #options: RecorderFeedOptions;
  readonly #transports: ms.PlainTransport[] = [];
  readonly #servers: net.Server[] = [];
  readonly #connections = new Set<net.Socket>();
  #closed = false;

  private constructor(options: RecorderFeedOptions) {
    this.#options = options;
    this.generation = options.generation;
    this.sdpPath = path.join(options.workDir, `g${options.generation}-input.sdp`);
  }

  static async open(options: RecorderFeedOptions): Promise<RecorderFeed> {
    const feed = new RecorderFeed(options);
    try {
      await feed.#setup();
    } catch (error) {
      feed.close();
      throw error;
    }
    return feed;
  }

  /** The url ffmpeg writes output `name` to. */
  outputUrl(name: string): string {
    return `unix:${this.#socketPath(name)}`;
  }

  get videoConsumer(): ms.Consumer | undefined {
    return this.consumers.find((c) => c.kind === 'video' && !c.closed);
  }

  get videoPort(): number | undefined {
    return this.streams.find((s) => s.kind === 'video')?.port;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async resume(): Promise<void> {
    for (const consumer of this.consumers) if (consumer.paused && !consumer.closed) await consumer.resume();
  }

  /** ffmpeg restarted: cut its old connections, so that no old bytes follow the restart. */
  dropConnections(): void {
    for (const socket of this.#connections) socket.destroy();
    this.#connections.clear();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const consumer of this.consumers) consumer.close();
    for (const transport of this.#transports) transport.close();
    for (const server of this.#servers) server.close();
    this.dropConnections();
    fs.rmSync(this.sdpPath, { force: true });
    for (const name of this.#options.outputs) fs.rmSync(this.#socketPath(name), { force: true });
  }

  #socketPath(name: string): string {
    return path.join(this.#options.workDir, `g${this.generation}-${name}.sock`);
  }

  async #setup(): Promise<void> {
    const { router, producers } = this.#options;
    for (const producer of producers) {
      const port = await findFreeUdpPortPair();
      const transport = await router.createPlainTransport({
        listenInfo: { protocol: 'udp', ip: '127.0.0.1', portRange: this.#options.rtcPortRange },
        rtcpMux: false,
        comedia: false,
      });
      this.#transports.push(transport);
      await transport.connect({ ip: '127.0.0.1', port, rtcpPort: port + 1 });
      const consumer = await transport.consume({ producerId: producer.id, rtpCapabilities: router.rtpCapabilities, paused: true });
      this.consumers.push(consumer);
      if (consumer.kind === 'video' && (consumer.type === 'simulcast' || consumer.type === 'svc')) {
        // The recorder makes the top rendition: always take the best layer the publisher
        // sends, and follow it when it changes (a top layer that starts late, or stops).
        await consumer.setPreferredLayers({ spatialLayer: this.#options.preferredSpatialLayer, temporalLayer: 2 });
        consumer.on('layerschange', (layers) => this.#options.onLayersChange(layers));
      }
      this.streams.push({ kind: producer.kind, port, rtpParameters: consumer.rtpParameters });
    }
    fs.writeFileSync(this.sdpPath, buildRecorderSdp(this.streams));
    for (const name of this.#options.outputs) this.#servers.push(await this.#listen(name));
  }

  /** A unix socket ffmpeg connects to as a client and streams one output into. */
  #listen(name: string): Promise<net.Server> {
    const socketPath = this.#socketPath(name);
    fs.rmSync(socketPath, { force: true });
    const server = net.createServer((socket) => {
      this.#connections.add(socket);
      socket.on('data', (chunk: Buffer) => {
        if (!this.#closed) this.#options.onBytes(name, chunk);
      });
      socket.on('error', () => socket.destroy());
      socket.on('close', () => this.#connections.delete(socket));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(socketPath, () => resolve(server));
    });
  }
}

function closeQuietly(socket: dgram.Socket): void {
  try {
    socket.close();
  } catch {
    // never bound or already closed
  }
}

/** A UDP port whose successor (RTCP) is free too. */
async function findFreeUdpPortPair(): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = dgram.createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      first.once('error', reject);
      first.bind(0, '127.0.0.1', () => resolve(first.address().port));
    });
    const second = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      second.once('error', () => resolve(false));
      second.bind(port + 1, '127.0.0.1', () => resolve(true));
    });
    closeQuietly(first);
    // A socket whose bind failed still holds a handle: close it too.
    closeQuietly(second);
    if (ok && port < 65535) return port;
  }
  throw new Error('no free UDP port pair for the recorder');
}

/** Resolves once something (ffmpeg) has bound `port` on loopback; rejects after `timeoutMs`. */
export async function waitForUdpPortBound(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const probe = dgram.createSocket('udp4');
    const bound = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(true));
      probe.bind(port, '127.0.0.1', () => resolve(false));
    });
    // Close even after a failed bind (that failure is the signal we want),
    // or every probe would leak a UDP handle.
    closeQuietly(probe);
    if (bound) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`UDP port ${port} not bound within ${timeoutMs} ms`);
}
