#!/usr/bin/env bash
# Prepares a software Vulkan driver for onnxruntime-node's WebGPU execution provider on machines without a GPU.
#
# Dawn (linked into libonnxruntime) needs a Vulkan loader (libvulkan.so.1) and a driver. Debian 12's own lavapipe
# (Mesa 22.3) is rejected by Dawn ("shaderUniform*ArrayDynamicIndexing required"); Mesa 25 from bookworm-backports
# works. This script fetches Mesa 25's mesa-vulkan-drivers and the libdrm it needs from bookworm-backports with a
# SEPARATE sources list and apt state under the cache folder (the system's apt sources and Mesa are never touched),
# unpacks them with `dpkg -x`, and writes an ICD manifest whose library_path is the unpacked libvulkan_lvp.so.
# The Vulkan loader comes from Debian's libvulkan1: installed with apt-get when root, else unpacked into the cache.
#
# Output (the contract with src/node/vulkan.ts):
#   <cache>/lvp_icd.json   the rewritten ICD manifest    -> VK_ICD_FILENAMES
#   <cache>/env            KEY=VALUE lines: VK_ICD_FILENAMES and LD_LIBRARY_PATH (the unpacked libdrm/libvulkan)
# Idempotent: a complete cache is reported and left alone. Exit status 0 when ready, 1 when it cannot be prepared
# (no network, no apt-get, unsupported architecture), with the reason on stderr.
#
# Usage: ensure-lavapipe.sh [cache-dir]   (default: packages/hardware/.cache/lavapipe; env OPT_LAVAPIPE_DIR overrides)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${1:-${OPT_LAVAPIPE_DIR:-$here/.cache/lavapipe}}"
mirror="${OPT_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"
root="$cache/root"
aptdir="$cache/apt"
debs="$cache/debs"
icd="$cache/lvp_icd.json"
envfile="$cache/env"

log() { printf '[ensure-lavapipe] %s\n' "$*"; }
fail() { printf '[ensure-lavapipe] cannot prepare lavapipe: %s\n' "$*" >&2; exit 1; }

command -v apt-get >/dev/null 2>&1 || fail "apt-get is not available (not a Debian-based system)"
command -v dpkg >/dev/null 2>&1 || fail "dpkg is not available"
arch="$(dpkg --print-architecture)"
case "$arch" in
  amd64) triplet=x86_64-linux-gnu ;;
  arm64) triplet=aarch64-linux-gnu ;;
  *) fail "unsupported architecture $arch" ;;
esac
libdir="$root/usr/lib/$triplet"
lvp="$libdir/libvulkan_lvp.so"

loader_on_system() { ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1 '; }

# The separate apt configuration: its own sources list, lists and archive cache; the system's stay untouched.
apt_opts=(
  -o "Dir::Etc::sourcelist=$aptdir/sources.list"
  -o "Dir::Etc::sourceparts=$aptdir/sources.list.d"
  -o "Dir::State::Lists=$aptdir/lists"
  -o "Dir::Cache=$aptdir/cache"
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
)
apt_ready=0
prepare_apt() {
  [ "$apt_ready" = 1 ] && return 0
  mkdir -p "$aptdir/sources.list.d" "$aptdir/lists/partial" "$aptdir/cache/archives/partial"
  # bookworm for libvulkan1 and any dependency missing on this machine, bookworm-backports for Mesa 25 and libdrm.
  printf 'deb %s bookworm main\ndeb %s bookworm-backports main\n' "$mirror" "$mirror" > "$aptdir/sources.list"
  log "apt-get update (private lists in $aptdir)"
  apt-get "${apt_opts[@]}" update -qq >/dev/null 2>"$aptdir/update.log" || fail "apt-get update failed (network?): $(tail -n 3 "$aptdir/update.log")"
  apt_ready=1
}

# Downloads packages (name or name/suite) into $debs and unpacks them into $root.
fetch_and_unpack() {
  mkdir -p "$debs" "$root"
  (cd "$debs" && apt-get "${apt_opts[@]}" download "$@" >/dev/null 2>"$aptdir/download.log") \
    || fail "apt-get download $* failed: $(tail -n 3 "$aptdir/download.log")"
  local pkg name
  for pkg in "$@"; do
    name="${pkg%%/*}"
    for deb in "$debs/${name}"_*.deb; do
      dpkg -x "$deb" "$root"
      log "unpacked $(basename "$deb")"
      if [ "$name" = mesa-vulkan-drivers ]; then basename "$deb" .deb | cut -d_ -f2 > "$cache/mesa-version"; fi
    done
  done
}

write_outputs() {
  # The manifest names the unpacked driver by absolute path, so the loader does not search the system for it.
  cat > "$icd" <<EOF
{
    "file_format_version": "1.0.0",
    "ICD": {
        "library_path": "$lvp",
        "api_version": "1.4.305"
    }
}
EOF
  printf 'VK_ICD_FILENAMES=%s\nLD_LIBRARY_PATH=%s\n' "$icd" "$libdir" > "$envfile"
}

is_complete() {
  [ -f "$icd" ] && [ -f "$envfile" ] && [ -f "$lvp" ] && [ -f "$libdir/libdrm.so.2" ] \
    && { loader_on_system || [ -e "$libdir/libvulkan.so.1" ]; }
}

if is_complete; then
  log "ready (cached): VK_ICD_FILENAMES=$icd LD_LIBRARY_PATH=$libdir"
  exit 0
fi

# 1. Mesa 25 lavapipe and the libdrm it was built against (>= 2.4.121; bookworm has 2.4.114).
if [ ! -f "$lvp" ] || [ ! -f "$libdir/libdrm.so.2" ]; then
  prepare_apt
  rm -rf "$debs"
  fetch_and_unpack mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports
  # Only lavapipe is used: drop the hardware drivers and layers (about 50 MB) and their manifests.
  rm -f "$root"/usr/share/vulkan/*/*.json "$libdir"/libvulkan_{intel,intel_hasvk,radeon,virtio,gfxstream}.so \
    "$libdir"/libVkLayer_*.so
fi
[ -f "$lvp" ] || fail "mesa-vulkan-drivers did not contain libvulkan_lvp.so"

# 2. The Vulkan loader: Debian's libvulkan1, system-wide when root, else unpacked beside the driver.
if ! loader_on_system && [ ! -e "$libdir/libvulkan.so.1" ]; then
  if [ "$(id -u)" = 0 ]; then
    log "apt-get install -y libvulkan1"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null 2>&1; then
      log "apt-get install failed; running apt-get update and retrying"
      apt-get update -qq >/dev/null 2>&1 || true
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libvulkan1 >/dev/null 2>&1 \
        || log "apt-get install libvulkan1 failed; unpacking it into the cache instead"
    fi
  fi
  if ! loader_on_system; then
    prepare_apt
    fetch_and_unpack libvulkan1/bookworm
  fi
fi

# 3. Libraries lavapipe links that this machine lacks (a slimmer image than ours): fetch them from bookworm too.
missing="$(LD_LIBRARY_PATH="$libdir" ldd "$lvp" 2>/dev/null | awk '/not found/ {print $1}')"
if [ -n "$missing" ]; then
  prepare_apt
  log "lavapipe needs libraries missing here: $(echo "$missing" | tr '\n' ' ')"
  deps="$(apt-cache "${apt_opts[@]}" depends --no-recommends --no-suggests mesa-vulkan-drivers/bookworm-backports 2>/dev/null \
    | awk '/Depends:/ {print $2}' | tr -d '<>' | sort -u)"
  toget=()
  for dep in $deps; do
    case "$dep" in libdrm2|libdrm-amdgpu1|libvulkan1|libc6|libgcc-s1|libstdc++6) continue ;; esac
    dpkg-query -W -f='${Status}' "$dep" 2>/dev/null | grep -q 'ok installed' || toget+=("$dep/bookworm")
  done
  [ "${#toget[@]}" -gt 0 ] && fetch_and_unpack "${toget[@]}"
  still="$(LD_LIBRARY_PATH="$libdir" ldd "$lvp" 2>/dev/null | awk '/not found/ {print $1}')"
  [ -z "$still" ] || fail "libraries still missing for libvulkan_lvp.so: $(echo "$still" | tr '\n' ' ')"
fi

write_outputs
rm -rf "$debs" "$aptdir"
log "ready: lavapipe from mesa-vulkan-drivers $(cat "$cache/mesa-version" 2>/dev/null || echo '(version unknown)')"
log "VK_ICD_FILENAMES=$icd"
log "LD_LIBRARY_PATH=$libdir"
