#!/usr/bin/env bash
# The device check in one command, from a clean clone: installs the workspace (offline when the
# store has it), unpacks lavapipe when no GPU driver is configured, builds the bundle and runs it.
#   bash tools/device-check/check.sh [--with-node] [bench options: --quick, --batch N, --steps N, ...]
# Without a GPU Vulkan driver it runs on lavapipe in --quick mode: a correctness check, not GPU speed.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build_args=()
bench_args=()
for arg in "$@"; do
  if [ "$arg" = --with-node ]; then build_args+=("$arg"); else bench_args+=("$arg"); fi
done
if [ ! -d "$root/node_modules" ]; then
  (cd "$root" && { npx --yes pnpm@12.4.2 install --offline --frozen-lockfile >&2 || npx --yes pnpm@12.4.2 install --frozen-lockfile >&2; })
fi
export GQ_VULKAN_DIR="${GQ_VULKAN_DIR:-$root/apps/infer/.vulkan}"
[ -f "$GQ_VULKAN_DIR/icd.json" ] || bash "$root/apps/infer/scripts/install-lavapipe.sh" >&2
(cd "$here" && node build.mjs "${build_args[@]}")
gpu=""
for icd in "${VK_DRIVER_FILES:-}" "${VK_ICD_FILENAMES:-}" /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -n "$icd" ] && [ -f "$icd" ]; then gpu="$icd"; break; fi
done
if [ -z "$gpu" ] && [[ " ${bench_args[*]} " != *" --quick "* ]]; then
  echo "check.sh: no GPU Vulkan driver found; running on lavapipe with --quick (correctness only, not GPU speed)" >&2
  bench_args+=(--quick)
fi
exec "$here/dist/gq-device-check/run.sh" "${bench_args[@]}"
