/**
 * The byte work of the program relay (programRelay.ts): one outgoing RTP
 * timeline per track, whatever source feeds it.
 *
 * Each source's packets reach Node from their own consumer (own SSRC, own
 * sequence numbers, the encoder's own RTP clock). `RtpTimeline` rewrites them
 * in place onto the relay's SSRC and payload type, and at each change of
 * input (`rebase`) picks offsets so that the first packet of the new input
 * follows the last one sent: sequence number +1, timestamp advanced by the
 * wall-clock time since (at least one frame). Viewers see one stream with no
 * gap in sequence numbers, so nothing is NACKed and no decoder is reset.
 *
 * All arithmetic is modulo 2^16 (sequence numbers) and 2^32 (timestamps).
 */

const SEQ_MOD = 0x1_0000;
const TS_MOD = 0x1_0000_0000;

/** a is newer than b in 16-bit serial arithmetic (RFC 1982). */
export function seqNewer(a: number, b: number): boolean {
  const diff = (a - b + SEQ_MOD) % SEQ_MOD;
  return diff !== 0 && diff < 0x8000;
}

/** a is newer than b in 32-bit serial arithmetic. */
export function tsNewer(a: number, b: number): boolean {
  const diff = (a - b + TS_MOD) % TS_MOD;
  return diff !== 0 && diff < 0x8000_0000;
}

export interface RtpTimelineOptions {
  ssrc: number;
  payloadType: number;
  clockRate: number;
  /** Smallest timestamp advance at a rebase (one frame / one audio packet), in clock units. */
  minStep: number;
}

/** Header fields of an RTP packet (RFC 3550 §5.1), read without copying. */
export function readRtpHeader(packet: Buffer): { sequenceNumber: number; timestamp: number } | undefined {
  if (packet.length < 12 || packet[0]! >> 6 !== 2) return undefined;
  return { sequenceNumber: packet.readUInt16BE(2), timestamp: packet.readUInt32BE(4) };
}

export class RtpTimeline {
  readonly #options: RtpTimelineOptions;
  #seqOffset = 0;
  #tsOffset = 0;
  /** The newest sequence number / timestamp sent, and when (ms); undefined before the first packet. */
  #last: { seq: number; ts: number; at: number } | undefined;
  /** Set by rebase(): the next packet starts the new input. */
  #rebasePending = false;

  constructor(options: RtpTimelineOptions) {
    this.#options = options;
  }

  get lastSentAt(): number | undefined {
    return this.#last?.at;
  }

  /** The next packet given to `rewrite` starts a new input: it will follow the last packet sent. */
  rebase(): void {
    this.#rebasePending = true;
  }

  /**
   * Rewrites `packet` in place (SSRC, payload type, sequence number, timestamp).
   * Returns false for a packet that is not RTP (left untouched, not to be sent).
   */
  rewrite(packet: Buffer, now: number): boolean {
    const header = readRtpHeader(packet);
    if (!header) return false;
    if (this.#rebasePending) {
      this.#rebasePending = false;
      const offsets = rebaseOffsets(this.#last, header, now, this.#options);
      this.#seqOffset = offsets.seqOffset;
      this.#tsOffset = offsets.tsOffset;
    }
    const seq = (header.sequenceNumber + this.#seqOffset) % SEQ_MOD;
    const ts = (header.timestamp + this.#tsOffset) % TS_MOD;
    packet[1] = (packet[1]! & 0x80) | (this.#options.payloadType & 0x7f);
    packet.writeUInt16BE(seq, 2);
    packet.writeUInt32BE(ts, 4);
    packet.writeUInt32BE(this.#options.ssrc, 8);
    if (!this.#last) this.#last = { seq, ts, at: now };
    else {
      if (seqNewer(seq, this.#last.seq)) this.#last.seq = seq;
      if (tsNewer(ts, this.#last.ts)) this.#last.ts = ts;
      this.#last.at = now;
    }
    return true;
  }
}

/**
 * Offsets that make `first` (the new input's first packet) follow `last` (the
 * newest packet sent): the next sequence number, and the timestamp advanced
 * by the time that passed (never less than `minStep`, so frames stay ordered).
 * Before anything was sent the input passes through unchanged.
 */
export function rebaseOffsets(
  last: { seq: number; ts: number; at: number } | undefined,
  first: { sequenceNumber: number; timestamp: number },
  now: number,
  options: Pick<RtpTimelineOptions, 'clockRate' | 'minStep'>,
): { seqOffset: number; tsOffset: number } {
  if (!last) return { seqOffset: 0, tsOffset: 0 };
  const elapsedTicks = Math.round((Math.max(0, now - last.at) * options.clockRate) / 1000);
  const advance = Math.max(options.minStep, elapsedTicks);
  const seqOffset = (((last.seq + 1 - first.sequenceNumber) % SEQ_MOD) + SEQ_MOD) % SEQ_MOD;
  const tsOffset = (((last.ts + advance - first.timestamp) % TS_MOD) + TS_MOD) % TS_MOD;
  return { seqOffset, tsOffset };
}

/**
 * Whether an RTCP compound packet (as a DirectTransport hands it to Node)
 * asks for a key frame: a PLI (RFC 4585, PT 206 FMT 1) or a FIR (RFC 5104,
 * PT 206 FMT 4). Receiver reports and NACKs are not.
 */
export function asksForKeyFrame(rtcp: Buffer): boolean {
  let offset = 0;
  while (offset + 4 <= rtcp.length) {
    const first = rtcp[offset]!;
    if (first >> 6 !== 2) return false;
    const packetType = rtcp[offset + 1]!;
    const format = first & 0x1f;
    if (packetType === 206 && (format === 1 || format === 4)) return true;
    offset += (rtcp.readUInt16BE(offset + 2) + 1) * 4;
  }
  return false;
}
