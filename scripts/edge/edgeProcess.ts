/**
 * What the nginx and Varnish edges (nginxEdge.ts, varnishEdge.ts) share about
 * their proxy processes: waiting for one to be ready with a clear error if it
 * exits first or takes too long, and reading the log files they write.
 */
import fs from 'node:fs';
import type { TrackedProcess } from '../../test/helpers/processes.js';

/**
 * Polls `ready` until it holds; a clear error at once if `child` exits (its
 * output, and `detail()` such as its error log), or at the deadline.
 */
export async function startedUp(
  child: TrackedProcess,
  deadline: number,
  what: string,
  ready: () => Promise<boolean>,
  { intervalMs = 100, detail = () => '' }: { intervalMs?: number; detail?: () => string } = {},
): Promise<void> {
  for (;;) {
    if (!child.running) throw new Error(`${child.name} exited at start-up: ${child.output()} ${detail()}`.trim());
    if (await ready()) return;
    if (Date.now() > deadline) throw new Error(`${child.name} did not ${what} in time: ${child.output()}`.trim());
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A log file's text so far; empty while the proxy has not created it. */
export function logText(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
