#!/usr/bin/env node
/**
 * Builds the browser client:
 *   client/src/pages/*.ts  → client/dist/*.js  (ESM bundles, es2020, minified, with source maps)
 *                            client/dist/chunks/*.js (code split off: shared modules and what
 *                            pages load on demand with import(), e.g. hls.js for the watch page)
 *   client/pages/*         → client/dist/*     (HTML, CSS copied as-is)
 *   hls.js's worker        → client/dist/hls.worker.js (its ESM build cannot inline the worker;
 *                            served from 'self' it also satisfies the CSP's worker-src)
 *   uPlot's stylesheet     → client/dist/uplot.css (the dashboard's charts)
 * The server serves HTML at /, /broadcast, /watch, /dashboard and everything here under /assets/.
 *
 * Usage: node scripts/build-client.mjs [--watch]
 * Idempotent: client/dist is rebuilt from scratch each run. Exits non-zero on any error.
 */
import { copyFile, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entryDir = path.join(root, 'client/src/pages');
const staticDir = path.join(root, 'client/pages');
const outDir = path.join(root, 'client/dist');
const watch = process.argv.includes('--watch');

async function listFiles(dir, filter = () => true) {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && filter(entry.name))
    .map((entry) => path.join(dir, entry.name))
    .sort();
}

function formatSize(bytes) {
  return bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`;
}

/** Files from node_modules served as-is (source → name in dist). */
const vendorFiles = [
  [path.join(root, 'node_modules/hls.js/dist/hls.worker.js'), 'hls.worker.js'],
  // uPlot's stylesheet, linked by the dashboard (a file: style-src 'self').
  [path.join(root, 'node_modules/uplot/dist/uPlot.min.css'), 'uplot.css'],
];

async function copyStatic() {
  const files = await listFiles(staticDir, (name) => !name.startsWith('.'));
  const copies = [...files.map((file) => [file, path.basename(file)]), ...vendorFiles];
  for (const [from, name] of copies) await copyFile(from, path.join(outDir, name));
  return copies.map(([, name]) => path.join(outDir, name));
}

async function report(files) {
  for (const file of files) {
    const { size } = await stat(file);
    console.log(`  ${path.relative(root, file).padEnd(44)} ${formatSize(size).padStart(10)}`);
  }
}

async function main() {
  const started = performance.now();
  const entryPoints = await listFiles(entryDir, (name) => name.endsWith('.ts') && !name.endsWith('.d.ts'));
  if (entryPoints.length === 0) throw new Error(`no page scripts found in ${path.relative(root, entryDir)}`);

  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  /** @type {import('esbuild').BuildOptions} */
  const options = {
    entryPoints,
    outdir: outDir,
    bundle: true,
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: true,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    // Some dependencies (debug) look at process.env; there is no process in a browser.
    define: { 'process.env.NODE_ENV': '"production"' },
  };

  if (watch) {
    const context = await esbuild.context({
      ...options,
      plugins: [
        {
          name: 'copy-static',
          setup(build) {
            build.onEnd(async (result) => {
              if (result.errors.length === 0) await copyStatic();
              console.log(`[build-client] rebuilt (${result.errors.length} errors)`);
            });
          },
        },
      ],
    });
    await context.watch();
    console.log('[build-client] watching client/src and client/pages …');
    return;
  }

  const result = await esbuild.build(options);
  const built = Object.keys(result.metafile.outputs).map((file) => path.resolve(root, file));
  const copied = await copyStatic();
  const preloaded = await addModulePreloads(result.metafile);

  console.log(`[build-client] bundled ${entryPoints.length} page script(s) and their chunks:`);
  await report(built.filter((file) => !file.endsWith('.map')));
  console.log(`[build-client] copied ${copied.length} static file(s):`);
  await report(copied);
  if (preloaded) console.log(`[build-client] ${preloaded} modulepreload link(s) added to the pages`);
  console.log(`[build-client] done in ${Math.round(performance.now() - started)} ms → ${path.relative(root, outDir)}/`);
}

/**
 * A page's static chunks are only discovered once its entry script has been
 * fetched and parsed: one more round trip before the page can start joining.
 * `<link rel="modulepreload">` for each lets the browser fetch them together
 * with the entry. (Chunks loaded with import(), such as hls.js, are left out.)
 */
async function addModulePreloads(metafile) {
  let added = 0;
  for (const [output, meta] of Object.entries(metafile.outputs)) {
    if (!meta.entryPoint || !output.endsWith('.js')) continue;
    const page = path.basename(output, '.js');
    const html = path.join(outDir, `${page}.html`);
    let text;
    try {
      text = await readFile(html, 'utf8');
    } catch {
      continue; // an entry without a page of its own
    }
    const chunks = meta.imports
      .filter((i) => i.kind === 'import-statement' && !i.external)
      .map((i) => `/assets/${path.relative(outDir, path.resolve(root, i.path))}`);
    const script = `<script type="module" src="/assets/${page}.js"></script>`;
    if (chunks.length === 0 || !text.includes(script)) continue;
    const links = chunks.map((href) => `<link rel="modulepreload" href="${href}" />`).join('\n    ');
    await writeFile(html, text.replace(script, `${links}\n    ${script}`));
    added += chunks.length;
  }
  return added;
}

main().catch((error) => {
  // esbuild has already printed its diagnostics; keep the summary short.
  console.error(`[build-client] failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
