#!/usr/bin/env bash
# Unpacks Mesa 25's lavapipe (a CPU Vulkan driver) from Debian bookworm-backports into
# apps/infer/.vulkan without installing anything system-wide, for WebGPU (Dawn) in Node on machines
# without a GPU. Debian 12's own lavapipe (Mesa 22.3) is too old for Dawn. Idempotent.
# Uses only Debian's apt repositories, with a private apt state so the system's sources stay as they are.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${GQ_VULKAN_DIR:-$here/.vulkan}"
if [ -f "$dest/icd.json" ] && [ -f "$dest/lib/libvulkan_lvp.so" ]; then
  echo "lavapipe already in $dest"
  exit 0
fi
command -v apt-get >/dev/null || { echo "install-lavapipe: apt-get is required (Debian/Ubuntu)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$work/root"
cat > "$work/sources.list" <<SOURCES
deb http://deb.debian.org/debian bookworm main
deb http://deb.debian.org/debian bookworm-backports main
SOURCES
apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt_opts[@]}" -qq update
# The driver, the Vulkan loader Dawn opens, and the driver's shared-library dependencies.
packages=(mesa-vulkan-drivers/bookworm-backports libvulkan1 libllvm15 libdrm-amdgpu1 libdrm2
  libwayland-client0 libx11-xcb1 libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1
  libxcb-xfixes0 libxshmfence1 libedit2 libbsd0 libmd0 libz3-4 libxml2 libicu72 libelf1 libzstd1)
(cd "$work/debs" && apt-get "${apt_opts[@]}" -qq download "${packages[@]}")
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
rm -rf "$dest"
mkdir -p "$dest/lib"
cp -a "$work"/root/usr/lib/x86_64-linux-gnu/lib*.so* "$dest/lib/"
rm -f "$dest"/lib/libvulkan_{intel,intel_hasvk,radeon,virtio,gfxstream,nouveau,asahi,powervr_mesa}.so "$dest"/lib/libVkLayer_*.so
printf '{"file_format_version":"1.0.0","ICD":{"library_path":"%s/lib/libvulkan_lvp.so","api_version":"1.4.305"}}\n' "$dest" > "$dest/icd.json"
echo "lavapipe $(dpkg-deb -f "$work"/debs/mesa-vulkan-drivers_*.deb Version) unpacked in $dest"
