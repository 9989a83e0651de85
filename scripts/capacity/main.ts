/**
 * npm run capacity -- --viewers 500e6 [--webrtc-viewers N] [--bitrate-mix 720:0.6,480:0.3,240:0.1]
 *                     [--assume key=value …] [--results DIR | --measured-only] [--json]
 *
 * The capacity plan for an event: tier by tier (ingest, origins and
 * transcoding, origin shield, CDN edges, players, the WebRTC interactive
 * tier, Redis), what fails and what happens then. Measured figures come from
 * the newest bench results (bench-results/, or --results DIR), else from
 * scripts/capacity/measured.json; assumptions have stated defaults
 * (capacityInputs.ts), each overridable with --assume key=value, e.g.
 * --assume cdnEdgeBps=100e9 --assume shieldFanIn=50. The ladder is the
 * heights of --bitrate-mix, with the recorder's bitrates; part and segment
 * durations are the recorder's.
 *
 * Prints Markdown tables, or with --json the plan and every input as JSON.
 * Exit code 2 on bad input (with the reason).
 */
import fs from 'node:fs';
import { assumptionsFrom } from './capacityArgs.js';
import { ASSUMPTION_NOTES, CapacityInputError } from './capacityInputs.js';
import { planCapacity } from './capacityModel.js';
import { formatValue, planReport } from './capacityReport.js';
import { loadMeasuredFigures } from './measuredFigures.js';

function main(): void {
  if (process.argv.includes('--help') || process.argv.includes('-h')) {
    const usage = fs.readFileSync(new URL(import.meta.url), 'utf8').split('*/')[0]!;
    process.stdout.write(`${usage.replace(/^\/\*\*\n?|^ \* ?/gm, '')}\n`);
    return;
  }
  let parsed: ReturnType<typeof assumptionsFrom>;
  let plan: ReturnType<typeof planCapacity>;
  let measured: ReturnType<typeof loadMeasuredFigures>;
  try {
    parsed = assumptionsFrom(process.argv.slice(2));
    measured = loadMeasuredFigures(parsed.resultsDir);
    plan = planCapacity(measured, parsed.assumptions);
  } catch (error) {
    if (!(error instanceof CapacityInputError)) throw error;
    process.stderr.write(`capacity: ${error.message}\n`);
    process.exit(2);
  }
  const { assumptions } = parsed;
  if (parsed.json) {
    process.stdout.write(
      `${JSON.stringify({ generatedAt: new Date().toISOString(), command: process.argv.slice(2), measured, assumptions, plan }, null, 2)}\n`,
    );
    return;
  }
  const lines = [
    `# Capacity plan: ${assumptions.viewers.toLocaleString('en')} viewers at peak (${assumptions.webrtcViewers.toLocaleString('en')} on WebRTC)`,
    `generated ${new Date().toISOString()} by npm run capacity -- ${process.argv.slice(2).join(' ')}`,
    '',
    'Assumptions (--assume key=value to change):',
    ...Object.entries(ASSUMPTION_NOTES).map(([key, note]) => {
      const value = assumptions[key as keyof typeof ASSUMPTION_NOTES];
      const unit = key.endsWith('Bps') || key === 'contributionBitrate' ? 'bit/s' : '';
      return `- ${key} = ${unit ? formatValue({ value, unit }) : value.toLocaleString('en')}: ${note}`;
    }),
    `- ladder (bitrate mix): ${assumptions.ladder.map((r) => `${r.height}p ${formatValue({ value: r.bitrate, unit: 'bit/s' })} × ${(r.share * 100).toFixed(0)} %`).join(', ')}`,
    `- part ${assumptions.partSeconds} s, segment ${assumptions.segmentSeconds} s (the recorder's constants: the shorter part, of a passed-through rendition)`,
    planReport(plan),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
