/**
 * Counting received RTP: packets, bytes, frames and keyframes per stream.
 *
 * Frames: a frame is the run of packets sharing one RTP timestamp. It is
 * counted once, when it ends: on its marker bit, or, if the marker packet was
 * lost, when a packet with a newer timestamp arrives. A frame is "complete" if
 * its marker was seen and its sequence numbers ran without a gap from the
 * previous frame's marker packet (so complete ≤ frames; on loopback they are
 * nearly equal). Keyframes are recognised from the codec payload (VP8, VP9,
 * H264, AV1), once per frame.
 *
 * Counters never assume zero loss: werift itself drops ~1 in 65 536 packets
 * (an RTP packet whose sequence number equals its length − 20 parses as STUN).
 */

export interface StreamCounts {
  packets: number;
  /** Whole RTP packets (header + payload), after SRTP decryption. */
  bytes: number;
  /** Packets the sequence numbers say should have arrived but did not (so far). */
  lost: number;
  frames: number;
  completeFrames: number;
  keyframes: number;
  /** performance.now() timestamps; undefined until it happened. */
  firstPacketAt?: number;
  firstKeyframeAt?: number;
  lastPacketAt?: number;
}

export interface RtpHeaderLike {
  sequenceNumber: number;
  timestamp: number;
  marker: boolean;
}

/** True if this packet belongs to a keyframe (checked per packet; counted once per frame). */
export function isKeyframePacket(mimeType: string, payload: Buffer): boolean {
  switch (mimeType.toLowerCase()) {
    case 'video/vp8':
      return isVp8Keyframe(payload);
    case 'video/vp9':
      return isVp9Keyframe(payload);
    case 'video/h264':
      return isH264Keyframe(payload);
    case 'video/av1':
      return payload.length > 0 && (payload[0]! & 0x08) !== 0; // N bit: new coded video sequence
    default:
      return false;
  }
}

/** RFC 7741: payload descriptor, then on partition 0 start the VP8 header's P bit (0 = key). */
export function isVp8Keyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const b0 = payload[0]!;
  const start = (b0 & 0x10) !== 0;
  const partitionId = b0 & 0x07;
  if (!start || partitionId !== 0) return false;
  let offset = 1;
  if (b0 & 0x80) {
    const x = payload[offset++];
    if (x === undefined) return false;
    if (x & 0x80) {
      const m = payload[offset];
      if (m === undefined) return false;
      offset += m & 0x80 ? 2 : 1; // PictureID, 15 or 7 bits
    }
    if (x & 0x40) offset += 1; // TL0PICIDX
    if (x & 0x30) offset += 1; // TID/Y/KEYIDX
  }
  const header = payload[offset];
  return header !== undefined && (header & 0x01) === 0;
}

/** VP9 RTP descriptor: P (inter-picture predicted) clear and B (start of frame) set. */
export function isVp9Keyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const b0 = payload[0]!;
  return (b0 & 0x40) === 0 && (b0 & 0x08) !== 0;
}

/** RFC 6184: IDR slice (5) or SPS (7), alone, inside a STAP-A, or starting an FU-A. */
export function isH264Keyframe(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const type = payload[0]! & 0x1f;
  const key = (t: number): boolean => t === 5 || t === 7;
  if (type >= 1 && type <= 23) return key(type);
  if (type === 24) {
    let offset = 1;
    while (offset + 2 < payload.length) {
      const size = payload.readUInt16BE(offset);
      const nal = payload[offset + 2];
      if (nal !== undefined && key(nal & 0x1f)) return true;
      offset += 2 + size;
    }
    return false;
  }
  if (type === 28) {
    const fu = payload[1];
    return fu !== undefined && (fu & 0x80) !== 0 && key(fu & 0x1f);
  }
  return false;
}

/** Counts one RTP stream (one SSRC after RTX unwrapping). */
export class StreamCounter implements StreamCounts {
  packets = 0;
  bytes = 0;
  frames = 0;
  completeFrames = 0;
  keyframes = 0;
  firstPacketAt?: number;
  firstKeyframeAt?: number;
  lastPacketAt?: number;

  // Sequence tracking (extended to 32+ bits across wraps).
  #baseSeq?: number;
  #highestSeq?: number;
  // Current frame.
  #frameTs?: number;
  #frameEnded = true;
  #frameKey = false;
  #frameFirstSeq = 0;
  #frameLastSeq = 0;
  #framePackets = 0;
  #lastMarkerSeq?: number;

  constructor(
    readonly kind: 'audio' | 'video',
    readonly mimeType: string,
  ) {}

  get lost(): number {
    if (this.#baseSeq === undefined || this.#highestSeq === undefined) return 0;
    return Math.max(0, this.#highestSeq - this.#baseSeq + 1 - this.packets);
  }

  onPacket(header: RtpHeaderLike, payload: Buffer, size: number, now = performance.now()): void {
    this.packets++;
    this.bytes += size;
    this.firstPacketAt ??= now;
    this.lastPacketAt = now;
    const seq = this.#extendSeq(header.sequenceNumber);

    if (this.kind !== 'video') return;

    const isNewer = this.#frameTs === undefined || tsNewer(header.timestamp, this.#frameTs);
    if (header.timestamp !== this.#frameTs) {
      // Reordered/retransmitted packets of an old frame do not restart framing.
      if (!isNewer) return;
      if (!this.#frameEnded) this.#endFrame(false, now);
      this.#frameTs = header.timestamp;
      this.#frameEnded = false;
      this.#frameKey = false;
      this.#frameFirstSeq = seq;
      this.#framePackets = 0;
    }
    if (this.#frameEnded) return; // late duplicate of an ended frame
    this.#framePackets++;
    this.#frameLastSeq = seq;
    if (!this.#frameKey && isKeyframePacket(this.mimeType, payload)) this.#frameKey = true;
    if (header.marker) this.#endFrame(true, now);
  }

  snapshot(): StreamCounts {
    return {
      packets: this.packets,
      bytes: this.bytes,
      lost: this.lost,
      frames: this.frames,
      completeFrames: this.completeFrames,
      keyframes: this.keyframes,
      ...(this.firstPacketAt !== undefined ? { firstPacketAt: this.firstPacketAt } : {}),
      ...(this.firstKeyframeAt !== undefined ? { firstKeyframeAt: this.firstKeyframeAt } : {}),
      ...(this.lastPacketAt !== undefined ? { lastPacketAt: this.lastPacketAt } : {}),
    };
  }

  #endFrame(markerSeen: boolean, now: number): void {
    this.#frameEnded = true;
    this.frames++;
    const contiguous = this.#frameLastSeq - this.#frameFirstSeq + 1 === this.#framePackets;
    const startsRight = this.#lastMarkerSeq === undefined || this.#frameFirstSeq === this.#lastMarkerSeq + 1;
    if (markerSeen && contiguous && startsRight) this.completeFrames++;
    if (markerSeen) this.#lastMarkerSeq = this.#frameLastSeq;
    if (this.#frameKey) {
      this.keyframes++;
      this.firstKeyframeAt ??= now;
    }
  }

  #extendSeq(seq16: number): number {
    if (this.#highestSeq === undefined) {
      this.#baseSeq = seq16;
      this.#highestSeq = seq16;
      return seq16;
    }
    const highest16 = this.#highestSeq & 0xffff;
    let delta = seq16 - highest16;
    if (delta > 0x8000) delta -= 0x10000;
    else if (delta < -0x8000) delta += 0x10000;
    const extended = this.#highestSeq + delta;
    if (extended > this.#highestSeq) this.#highestSeq = extended;
    return extended;
  }
}

/** RTP timestamp a is newer than b (32-bit serial arithmetic). */
function tsNewer(a: number, b: number): boolean {
  const diff = (a - b) >>> 0;
  return diff !== 0 && diff < 0x80000000;
}
