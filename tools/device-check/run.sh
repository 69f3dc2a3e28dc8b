#!/usr/bin/env bash
# Runs the WebGPU device check from its unpacked bundle, offline; prints JSON on stdout.
# Vulkan driver: VK_DRIVER_FILES / VK_ICD_FILENAMES when set; else NVIDIA's ICD where container
# runtimes put it (or the system's); else Mesa lavapipe in $GQ_VULKAN_DIR (CPU: add --quick).
# Node: ./node when the bundle carries one, else `node` on PATH (20.19 or newer).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -z "${VK_ICD_FILENAMES:-}" ]; then
  for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
    "${GQ_VULKAN_DIR:-/nonexistent}/icd.json"; do
    if [ -f "$icd" ]; then export VK_DRIVER_FILES="$icd"; break; fi
  done
fi
extra="$here/lib"
[ -d /usr/local/nvidia/lib64 ] && extra="$extra:/usr/local/nvidia/lib64"
[ -n "${GQ_VULKAN_DIR:-}" ] && [ -d "$GQ_VULKAN_DIR/lib" ] && extra="$extra:$GQ_VULKAN_DIR/lib"
export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
node_bin="$here/node"
[ -x "$node_bin" ] || node_bin="$(command -v node || true)"
[ -n "$node_bin" ] || { echo "run.sh: no Node; rebuild the bundle with --with-node" >&2; exit 1; }
exec "$node_bin" "$here/bench.mjs" "$@"
