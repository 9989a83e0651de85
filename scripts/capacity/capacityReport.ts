/** The capacity plan as text: one Markdown table per tier (figure, value, basis and source), failures, warnings. */
import { formatTable } from '../bench/lib/results.js';
import type { CapacityPlan, Figure } from './capacityModel.js';

/** A figure's value in its unit, readably: bit/s scaled to Gbit/s or Tbit/s, counts with separators. */
export function formatValue(figure: Pick<Figure, 'value' | 'unit'>): string {
  const { value, unit } = figure;
  if (unit === 'bit/s') {
    if (value >= 1e15) return `${(value / 1e15).toFixed(2)} Pbit/s`;
    if (value >= 1e12) return `${(value / 1e12).toFixed(2)} Tbit/s`;
    if (value >= 1e9) return `${(value / 1e9).toFixed(2)} Gbit/s`;
    return `${(value / 1e6).toFixed(2)} Mbit/s`;
  }
  if (unit === 'fraction') return `${(value * 100).toFixed(1)} %`;
  if (unit === '') return value.toString();
  const digits = unit === 'cores' ? (value < 1 ? 4 : 1) : value < 10 && !Number.isInteger(value) ? 2 : 0;
  return `${value.toLocaleString('en', { minimumFractionDigits: digits, maximumFractionDigits: digits })} ${unit}`;
}

export function planReport(plan: CapacityPlan): string {
  const out: string[] = [];
  for (const tier of plan.tiers) {
    out.push(`\n### ${tier.name}\n`);
    out.push(
      formatTable(
        ['figure', 'value', 'basis', 'from'],
        tier.figures.map((f) => [f.label, formatValue(f), f.basis, f.source]),
      ),
    );
    out.push('\nWhen it fails:');
    for (const failure of tier.failures) out.push(`- ${failure}`);
  }
  if (plan.warnings.length) {
    out.push('\n### Limits the plan ran into\n');
    for (const warning of plan.warnings) out.push(`- ${warning}`);
  }
  return out.join('\n');
}
