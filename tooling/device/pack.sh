#!/usr/bin/env bash
# Packs what tooling/device/gpu-all.sh needs on a bare GPU machine into two ignored folders that
# the device call carries (about 45 MB together, under the 64 MiB a call may send):
#   .gpu/node.xz      this machine's Node binary (the GPU machine has none)
#   .gpu/nm.tar.xz    the node_modules the checks load (tooling/device/closure.mjs)
#   .gl/*.deb         Debian's Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver
#                     needs (libglvnd), unpacked there
# Run after `pnpm install`, from anywhere. Both folders are listed in .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/../.."
for p in /.gpu/ /.gl/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude; done
mkdir -p .gpu .gl
node tooling/device/closure.mjs >.gpu/list
tar -cf - --exclude='webgpu/dist/win32-*' --exclude='webgpu/dist/darwin-*' \
  --exclude='webgpu/dist/linux-arm64' --exclude='*.map' -T .gpu/list | xz -T2 -9 >.gpu/nm.tar.xz
[ -f .gpu/node.xz ] || xz -T2 -9 -c "$(readlink -f "$(command -v node)")" >.gpu/node.xz
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update >/dev/null
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -ch .gpu/*.xz .gl/*.deb | tail -1
