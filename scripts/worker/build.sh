#!/usr/bin/env bash
# Builds mediasoup-worker from the C++ sources inside node_modules/mediasoup,
# against Debian's libraries, and caches the binary outside node_modules keyed
# by mediasoup version and by a hash of these build scripts.
#
# Prints the path of the binary on its last line of stdout.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
here="$root/scripts/worker"
# shellcheck source=worker-path.sh
source "$here/worker-path.sh"

bin="$(floodlight_worker_bin)"
if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

src="$root/node_modules/mediasoup/worker"
if [[ ! -f "$src/meson.build" ]]; then
  echo "error: $src not found; run npm ci first" >&2
  exit 1
fi

build_root="$(dirname "$bin")/build"
rm -rf "$build_root"
mkdir -p "$build_root"
log="$build_root/build.log"
echo "==> building mediasoup-worker $(floodlight_mediasoup_version) (takes ~5-6 minutes on 2 cores; full log: $log)" >&2
cp -r "$src" "$build_root/worker"
node "$here/adapt.mjs" "$build_root/worker" >&2

cd "$build_root/worker"
if ! meson setup out --buildtype release -Db_ndebug=true --wrap-mode=nodownload \
    -Dms_disable_liburing=true >>"$log" 2>&1; then
  tail -40 "$log" >&2
  echo "error: meson setup failed (log: $log)" >&2
  exit 1
fi

# flatc-generated headers must exist before any worker source compiles.
run_ninja() {
  local target="$1"
  # ninja prints "[done/total] ..." per step; show one line every 5% so a long
  # build visibly progresses without flooding the terminal.
  set +e
  ninja -C out "$target" 2>&1 | tee -a "$log" | awk -v target="$target" '
    /^\[[0-9]+\/[0-9]+\]/ {
      split(substr($1, 2, length($1) - 2), p, "/");
      pct = int(100 * p[1] / p[2]);
      if (pct >= last + 5 || p[1] == p[2]) { printf("  %s: %3d%% (%d/%d)\n", target, pct, p[1], p[2]) > "/dev/stderr"; last = pct }
    }'
  local status="${PIPESTATUS[0]}"
  set -e
  if [[ "$status" != 0 ]]; then
    grep -E "error|Error" "$log" | head -30 >&2 || true
    echo "error: building $target failed (log: $log)" >&2
    exit 1
  fi
}
run_ninja fbs/FBS   # the flatbuffers-generator target
run_ninja mediasoup-worker

install -m 0755 out/mediasoup-worker "$bin.tmp"
mv "$bin.tmp" "$bin"
cd /
rm -rf "$build_root"
echo "==> mediasoup-worker ready: $bin" >&2
echo "$bin"
