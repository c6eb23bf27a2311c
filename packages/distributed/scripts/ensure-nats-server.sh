#!/usr/bin/env bash
# Make a nats-server binary available for @opt/distributed's tests, benchmarks and apps, and print its path
# (the last line of stdout). What it did goes to stderr. Order of preference:
#   1. $OPT_NATS_SERVER_BIN, if executable;
#   2. nats-server on PATH (or /usr/sbin, /usr/local/sbin, /usr/local/bin);
#   3. the package cache .cache/nats-server/ (git-ignored), filled by an earlier run of step 5;
#   4. as root: apt-get install -y nats-server (Debian/Ubuntu), then step 2;
#   5. otherwise: apt-get download nats-server + dpkg -x into the package cache (no root needed).
# Exits non-zero, with a message, when none of these works. OPT_NATS_FORCE_DOWNLOAD=1 skips steps 1, 2 and 4
# (to exercise the no-root path on a machine that has the server).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="$here/.cache/nats-server"
say() { echo "ensure-nats-server: $*" >&2; }

usable() { [ -n "${1:-}" ] && [ -x "$1" ] && "$1" --version >/dev/null 2>&1; }

force="${OPT_NATS_FORCE_DOWNLOAD:-0}"

if [ "$force" != "1" ] && usable "${OPT_NATS_SERVER_BIN:-}"; then
  say "using \$OPT_NATS_SERVER_BIN ($OPT_NATS_SERVER_BIN)"
  echo "$OPT_NATS_SERVER_BIN"
  exit 0
fi

find_system() {
  local p
  p="$(command -v nats-server 2>/dev/null || true)"
  if usable "$p"; then echo "$p"; return 0; fi
  for p in /usr/sbin/nats-server /usr/local/sbin/nats-server /usr/local/bin/nats-server /usr/bin/nats-server; do
    if usable "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

find_cache() {
  local p
  for p in "$cache/usr/sbin/nats-server" "$cache/usr/bin/nats-server"; do
    if usable "$p"; then echo "$p"; return 0; fi
  done
  return 1
}

if [ "$force" != "1" ] && bin="$(find_system)"; then
  say "found $bin ($("$bin" --version 2>&1 | head -n1))"
  echo "$bin"
  exit 0
fi
if bin="$(find_cache)"; then
  say "found the cached $bin"
  echo "$bin"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  say "no nats-server found and no apt-get to install it: install nats-server (https://nats.io) or set OPT_NATS_SERVER_BIN"
  exit 1
fi

if [ "$force" != "1" ] && [ "$(id -u)" = "0" ]; then
  say "installing with apt-get install -y nats-server"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server >&2; then
    say "apt-get install failed; refreshing the package lists once"
    apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y nats-server >&2 || true
  fi
  if bin="$(find_system)"; then
    say "installed $bin"
    echo "$bin"
    exit 0
  fi
  say "apt-get install did not provide nats-server; trying apt-get download"
fi

say "downloading the Debian package into $cache (apt-get download + dpkg -x, no root needed)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
( cd "$work" && apt-get download nats-server >&2 )
deb="$(ls "$work"/nats-server_*.deb 2>/dev/null | head -n1 || true)"
if [ -z "$deb" ]; then
  say "apt-get download produced no package"
  exit 1
fi
mkdir -p "$cache"
dpkg -x "$deb" "$cache"
if bin="$(find_cache)"; then
  say "unpacked $(basename "$deb") to $bin"
  echo "$bin"
  exit 0
fi
say "the package did not contain a nats-server binary"
exit 1
