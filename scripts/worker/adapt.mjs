// Prepares mediasoup's worker sources (copied out of node_modules) for an
// offline build against Debian's libraries. Every adaptation asserts that it
// applied exactly as expected and exits non-zero otherwise: a patch that
// silently matches nothing would ship a worker that crashes on the first
// browser (see the DTLS fix below).
//
// Usage: node adapt.mjs <worker-source-dir>
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyKeyFrameCache } from './keyframeCache.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const workerDir = process.argv[2];
if (!workerDir || !fs.existsSync(path.join(workerDir, 'meson.build'))) {
  fail(`usage: node adapt.mjs <mediasoup worker dir> (got ${workerDir ?? 'nothing'})`);
}

function fail(message) {
  console.error(`worker adaptation failed: ${message}`);
  console.error('The mediasoup sources no longer match what scripts/worker expects; update scripts/worker/ for this mediasoup version.');
  process.exit(1);
}

function replaceExactlyOnce(relativeFile, from, to, why) {
  const file = path.join(workerDir, relativeFile);
  const text = fs.readFileSync(file, 'utf8');
  const count = text.split(from).length - 1;
  if (count !== 1) fail(`${relativeFile}: expected exactly one "${from}" (${why}), found ${count}`);
  fs.writeFileSync(file, text.replace(from, to));
  console.log(`  adapted ${relativeFile}: ${why}`);
}

// 1. Debian bookworm ships meson 1.0.1; the worker builds fine with it.
replaceExactlyOnce('meson.build', "meson_version: '>= 1.1.0'", "meson_version: '>= 1.0.0'",
  'accept Debian bookworm meson 1.0.1');

// 2. Real mediasoup bug (3.13 .. 3.27.1): BIO callback compares a bit field with ==.
// With Debian's kTLS-enabled libssl3, OpenSSL's control query gets a wrong 1,
// never allocates its DTLS write buffer, and the worker segfaults on the first
// DTLS handshake.
replaceExactlyOnce('src/RTC/DtlsTransport.cpp',
  '(operationType == BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
  '(operationType & BIO_CB_RETURN) ? static_cast<long>(ret) : 1',
  'BIO_CB_RETURN is a bit flag (fixes segfault on first DTLS handshake)');

// 3. Subprojects: meson uses subprojects/<directory> as-is when it exists and
// never downloads it. Each shim wraps a Debian library.
const shims = {
  'openssl.wrap': 'openssl',
  'libuv.wrap': 'libuv',
  'libsrtp3.wrap': 'libsrtp',
  'usrsctp.wrap': 'usrsctp',
  'abseil-cpp.wrap': 'abseil',
  'flatbuffers.wrap': 'flatbuffers',
  'catch2.wrap': 'catch2',
};
const subprojectShim = {}; // subproject name (wrap basename) -> shim dir
for (const [wrap, shim] of Object.entries(shims)) {
  const wrapFile = path.join(workerDir, 'subprojects', wrap);
  if (!fs.existsSync(wrapFile)) fail(`subprojects/${wrap} is missing`);
  const match = /^directory\s*=\s*(\S+)\s*$/m.exec(fs.readFileSync(wrapFile, 'utf8'));
  if (!match) fail(`subprojects/${wrap} has no "directory =" line`);
  const target = path.join(workerDir, 'subprojects', match[1]);
  fs.rmSync(target, { recursive: true, force: true });
  fs.cpSync(path.join(here, 'shims', shim), target, { recursive: true });
  fs.copyFileSync(path.join(here, 'shims', 'placeholder.c'), path.join(target, 'placeholder.c'));
  subprojectShim[wrap.replace(/\.wrap$/, '')] = shim;
  console.log(`  subproject ${match[1]} -> Debian library shim ${shim}`);
}

// 4. Every variable the worker's meson.build files read from a shimmed subproject
// must be defined by our shim, otherwise configuration would fail obscurely.
const mesonText = ['meson.build', 'deps/libwebrtc/meson.build', 'fbs/meson.build']
  .map((f) => fs.readFileSync(path.join(workerDir, f), 'utf8'))
  .join('\n');
const projVar = {}; // meson variable name of the subproject -> subproject name
for (const m of mesonText.matchAll(/(\w+)\s*=\s*subproject\(\s*'([\w-]+)'/g)) projVar[m[1]] = m[2];
for (const m of mesonText.matchAll(/(\w+)\.get_variable\('(\w+)'\)/g)) {
  const subproject = projVar[m[1]];
  const shim = subprojectShim[subproject];
  if (!shim) continue; // wingetopt (Windows) and liburing (disabled) are not built here
  const shimText = fs.readFileSync(path.join(here, 'shims', shim, 'meson.build'), 'utf8');
  if (!new RegExp(`^${m[2]}\\s*=`, 'm').test(shimText)) {
    fail(`meson.build reads ${m[2]} from subproject ${subproject}, which shims/${shim} does not define`);
  }
}
console.log('  all subproject variables read by meson.build are provided');

// 5. Floodlight's key frame cache: a joining viewer starts from the latest key
// frame the SFU already has instead of waiting for the sender to make one
// (see keyframeCache.mjs and keyframe-cache/).
applyKeyFrameCache(workerDir, here, replaceExactlyOnce, fail);
