#!/usr/bin/env bash
# Makes sure a Chromium that playwright-core can drive is installed: Debian's `chromium` package (playwright's own
# browser downloads come from a CDN this workplace cannot reach, and playwright-core never downloads anything).
# Headless Chromium with --enable-unsafe-webgpu falls back to SwiftShader, a CPU WebGPU adapter, so the browser
# WebGPU tests need no GPU.
#
# Idempotent: an installed browser is reported (path and version) and left alone. When missing and root, runs
# `apt-get install -y chromium` (with `apt-get update` first when the package is unknown). Exit 0 when a browser is
# ready, printing `CHROMIUM=<path>` as its last line; exit 1 with the reason on stderr when none can be installed.
# OPT_CHROMIUM_PATH names a browser to use instead (checked, never installed).
set -euo pipefail

log() { printf '[ensure-chromium] %s\n' "$*"; }
fail() { printf '[ensure-chromium] cannot prepare chromium: %s\n' "$*" >&2; exit 1; }

find_chromium() {
  if [ -n "${OPT_CHROMIUM_PATH:-}" ]; then
    [ -x "$OPT_CHROMIUM_PATH" ] && { echo "$OPT_CHROMIUM_PATH"; return 0; }
    return 1
  fi
  local c
  for c in /usr/bin/chromium /usr/bin/chromium-browser /usr/lib/chromium/chromium; do
    [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

report() {
  local version
  version="$("$1" --version 2>/dev/null | head -n 1 || true)"
  log "ready: ${version:-unknown version} at $1"
  echo "CHROMIUM=$1"
}

if path="$(find_chromium)"; then
  report "$path"
  exit 0
fi
[ -z "${OPT_CHROMIUM_PATH:-}" ] || fail "OPT_CHROMIUM_PATH=$OPT_CHROMIUM_PATH is not an executable"
command -v apt-get >/dev/null 2>&1 || fail "chromium is not installed and apt-get is not available"
[ "$(id -u)" = 0 ] || fail "chromium is not installed and installing it needs root (apt-get install chromium)"

export DEBIAN_FRONTEND=noninteractive
if ! apt-cache show chromium >/dev/null 2>&1; then
  log "apt-get update (the package index does not know chromium)"
  apt-get update -qq >/dev/null 2>&1 || fail "apt-get update failed (network?)"
fi
log "apt-get install -y chromium"
if ! apt-get install -y -qq --no-install-recommends chromium >/tmp/ensure-chromium.$$.log 2>&1; then
  log "install failed; apt-get update and retry"
  apt-get update -qq >/dev/null 2>&1 || true
  apt-get install -y -qq --no-install-recommends chromium >/tmp/ensure-chromium.$$.log 2>&1 \
    || fail "apt-get install chromium failed: $(tail -n 3 /tmp/ensure-chromium.$$.log)"
fi
rm -f /tmp/ensure-chromium.$$.log
path="$(find_chromium)" || fail "chromium installed but no executable found"
report "$path"
