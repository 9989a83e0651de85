# Where the built mediasoup-worker lives. Sourced by scripts; also used by the
# server through scripts/worker/print-path.sh when MEDIASOUP_WORKER_BIN is unset.
#
# Key: mediasoup version + hash of scripts/worker (shims and patches), so any
# change to how we build produces a fresh binary instead of a stale cache.
_floodlight_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

floodlight_mediasoup_version() {
  node -p "require('$_floodlight_root/package.json').dependencies.mediasoup"
}

floodlight_worker_bin() {
  local cache="${FLOODLIGHT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/floodlight}"
  local hash
  hash="$(cd "$_floodlight_root/scripts/worker" && find . -type f ! -name '*.log' -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum | sha256sum | cut -c1-12)"
  echo "$cache/mediasoup-worker/$(floodlight_mediasoup_version)-$hash/mediasoup-worker"
}
