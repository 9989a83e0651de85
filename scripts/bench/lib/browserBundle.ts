/**
 * Page-side benchmark code lives in scripts/bench/browser/*.js (ES modules,
 * type-checked by scripts/bench/browser/tsconfig.json). This bundles one entry
 * into a self-contained IIFE string for page.addInitScript / page.evaluate.
 */
import path from 'node:path';
import * as esbuild from 'esbuild';
import { REPO_ROOT } from './results.js';

const cache = new Map<string, string>();

/** @param entry path relative to scripts/bench/browser, e.g. 'webrtcLatencyPage.js' */
export async function browserScript(entry: string): Promise<string> {
  const cached = cache.get(entry);
  if (cached) return cached;
  const result = await esbuild.build({
    entryPoints: [path.join(REPO_ROOT, 'scripts/bench/browser', entry)],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    write: false,
    logLevel: 'warning',
  });
  const text = result.outputFiles[0]?.text;
  if (!text) throw new Error(`bundling ${entry} produced nothing`);
  cache.set(entry, text);
  return text;
}
