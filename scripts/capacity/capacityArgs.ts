/**
 * The capacity command's arguments: --viewers, --webrtc-viewers,
 * --bitrate-mix (→ the ladder, with the recorder's bitrates), --assume
 * key=value over the default assumptions, --results / --measured-only, --json.
 */
import { parseArgs } from 'node:util';
import { FRAGMENT_MICROSECONDS, GOP_SECONDS, PASSTHROUGH_FRAGMENT_MICROSECONDS } from '../../server/recorder/recorderFfmpegArgs.js';
import { parseLadder } from '../../server/recorder/recorderLadder.js';
import { RESULTS_DIR } from '../bench/lib/results.js';
import { CapacityInputError, DEFAULT_ASSUMPTIONS, DEFAULT_BITRATE_MIX, parseBitrateMix, type Assumptions, type LadderRung } from './capacityInputs.js';

/** "500e6", "1000000", "1.5e9" → a finite number, or an input error naming the option. */
export function parseCount(text: string, option: string): number {
  const value = Number(text.replace(/_/g, ''));
  if (text.trim() === '' || !Number.isFinite(value)) throw new CapacityInputError(`${option}: "${text}" is not a number`);
  return value;
}

/** Ladder rungs for a mix: the recorder's bitrates (video + audio) for those heights. */
export function ladderFor(mix: Record<number, number>): LadderRung[] {
  let specs;
  try {
    specs = parseLadder(Object.keys(mix).join(','));
  } catch (error) {
    throw new CapacityInputError(`--bitrate-mix: ${(error as Error).message}`);
  }
  return specs.map((spec) => ({ height: spec.height, bitrate: spec.videoBitrate + spec.audioBitrate, share: mix[spec.height]! }));
}

/** Assumptions from the command line over the defaults. */
export function assumptionsFrom(argv: readonly string[]): { assumptions: Assumptions; json: boolean; resultsDir: string | null } {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        viewers: { type: 'string' },
        'webrtc-viewers': { type: 'string' },
        'bitrate-mix': { type: 'string' },
        assume: { type: 'string', multiple: true },
        results: { type: 'string' },
        'measured-only': { type: 'boolean' },
        json: { type: 'boolean' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    throw new CapacityInputError((error as Error).message);
  }
  if (values.viewers === undefined) throw new CapacityInputError('--viewers is required (peak concurrent viewers, e.g. 500e6)');
  const overrides: Record<string, number> = {};
  for (const item of values.assume ?? []) {
    const match = /^([A-Za-z]+)=(.+)$/.exec(item);
    if (!match || !(match[1]! in DEFAULT_ASSUMPTIONS)) {
      throw new CapacityInputError(`--assume ${item}: expected key=value with key one of ${Object.keys(DEFAULT_ASSUMPTIONS).join(', ')}`);
    }
    overrides[match[1]!] = parseCount(match[2]!, `--assume ${match[1]!}`);
  }
  const mix = values['bitrate-mix'] !== undefined ? parseBitrateMix(values['bitrate-mix']) : DEFAULT_BITRATE_MIX;
  const assumptions: Assumptions = {
    ...DEFAULT_ASSUMPTIONS,
    ...overrides,
    viewers: parseCount(values.viewers, '--viewers'),
    ladder: ladderFor(mix),
    // The shorter of the recorder's part lengths (a passed-through top rendition's): the most objects per second.
    partSeconds: Math.min(FRAGMENT_MICROSECONDS, PASSTHROUGH_FRAGMENT_MICROSECONDS) / 1e6,
    segmentSeconds: GOP_SECONDS,
  };
  if (values['webrtc-viewers'] !== undefined) assumptions.webrtcViewers = parseCount(values['webrtc-viewers'], '--webrtc-viewers');
  if (values['measured-only'] && values.results !== undefined) throw new CapacityInputError('--results and --measured-only exclude each other');
  return { assumptions, json: values.json ?? false, resultsDir: values['measured-only'] ? null : (values.results ?? RESULTS_DIR) };
}
