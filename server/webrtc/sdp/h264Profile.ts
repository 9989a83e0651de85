/**
 * H.264 profile of an SDP `profile-level-id` (RFC 6184 §8.1), as libwebrtc
 * reads it: two offers describe the same codec when packetization-mode and
 * profile (not level) agree. A missing id means Constrained Baseline.
 */
export type H264Profile = 'constrained-baseline' | 'baseline' | 'main' | 'constrained-high' | 'high' | 'predictive-high-444';

/** profile_idc, and the profile_iop bits that matter (mask) with their value. */
const PATTERNS: [idc: number, mask: number, value: number, profile: H264Profile][] = [
  [0x42, 0b0100_1111, 0b0100_0000, 'constrained-baseline'],
  [0x4d, 0b1000_1111, 0b1000_0000, 'constrained-baseline'],
  [0x58, 0b1100_1111, 0b1100_0000, 'constrained-baseline'],
  [0x42, 0b0100_1111, 0b0000_0000, 'baseline'],
  [0x58, 0b1100_1111, 0b1000_0000, 'baseline'],
  [0x4d, 0b1010_1111, 0b0000_0000, 'main'],
  [0x64, 0b1111_1111, 0b0000_0000, 'high'],
  [0x64, 0b1111_1111, 0b0000_1100, 'constrained-high'],
  [0xf4, 0b1111_1111, 0b0000_0000, 'predictive-high-444'],
];

/** The profile, or undefined when the id is malformed or names no profile WebRTC knows. */
export function h264Profile(profileLevelId: string | number | undefined): H264Profile | undefined {
  if (profileLevelId === undefined) return 'constrained-baseline';
  // An SDP parser may have read an all-digit id ("640032") as a number.
  const text = typeof profileLevelId === 'number' ? String(profileLevelId).padStart(6, '0') : profileLevelId;
  if (!/^[0-9a-fA-F]{6}$/.test(text)) return undefined;
  const idc = parseInt(text.slice(0, 2), 16);
  const iop = parseInt(text.slice(2, 4), 16);
  return PATTERNS.find(([i, mask, value]) => i === idc && (iop & mask) === value)?.[3];
}
