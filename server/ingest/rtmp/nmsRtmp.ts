/**
 * Typed access to the two pieces of node-media-server we use: its RTMP
 * protocol parser (handshake, chunk stream, AMF commands) and its FLV tag
 * writer. NodeMediaServer itself (a global singleton with its own HTTP
 * server and files) is never started; the socket, the key check and what
 * happens to the media are ours (rtmpServer.ts).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** node-media-server's AVPacket: one FLV tag's body. */
export interface NmsAvPacket {
  /** 8 audio, 9 video, 18 script data. */
  codec_type: number;
  codec_id: number;
  flags: number;
  pts: number;
  dts: number;
  size: number;
  data: Buffer;
}

export interface NmsStreamRequest {
  app: string;
  name: string;
  host: string;
  query: Record<string, unknown>;
}

/** One connection's parser: feed it the socket's bytes, it calls back. */
export interface NmsRtmpParser {
  /** The client's publish or play command (its app and stream name). */
  onConnectCallback: (request: NmsStreamRequest) => void;
  onPushCallback: () => void;
  onPlayCallback: () => void;
  onPacketCallback: (packet: NmsAvPacket) => void;
  /** Bytes to send back to the client. */
  onOutputCallback: (buffer: Buffer) => void;
  /** Throws on malformed input (AMF, URLs). */
  parserData(buffer: Buffer): string | null;
  /** The message being read; `capacity` is what it allocated for it (the header's declared length). */
  readonly parserPacket: { capacity: number };
}

interface NmsFlvStatic {
  createHeader(hasAudio: boolean, hasVideo: boolean): Buffer;
  createMessage(packet: NmsAvPacket): Buffer;
}

interface NmsLogger {
  level: string;
}

const RtmpClass = require('node-media-server/src/protocol/rtmp.js') as new () => NmsRtmpParser;
const Flv = require('node-media-server/src/protocol/flv.js') as NmsFlvStatic;
// Its logger writes to stdout with console.log at "debug": keep it to errors.
(require('node-media-server/src/core/logger.js') as NmsLogger).level = 'error';

export const createRtmpParser = (): NmsRtmpParser => new RtmpClass();

/** The FLV file header ffmpeg expects before the first tag (both tracks announced; a missing one is simply never seen). */
export const flvHeader = (): Buffer => Flv.createHeader(true, true);

/** One FLV tag (header, body, previous-tag-size) for `packet`. */
export const flvTag = (packet: NmsAvPacket): Buffer => Flv.createMessage(packet);
