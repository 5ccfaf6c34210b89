#!/usr/bin/env bash
# Packs what tooling/device/gpu-all.sh needs on a bare GPU machine into ignored folders that the
# device calls carry. A call sends at most 64 MiB, the tracked tree (26 MiB) included, so the
# packages split in two: the benchmarks need only the first call's, the tests (vitest) also the
# second's, which a second call on the still-warm machine carries (its node_modules stay there):
#   .gpu/node.xz      this machine's Node binary, stripped (the GPU machine has none)
#   .gpu/nm.tar.xz    the node_modules the checks load (tooling/device/closure.mjs), but rolldown
#   .gpu2/nm2.tar.xz  rolldown's native binding (vite's bundler: vitest needs it, tsx does not)
#   .gl/*.deb         Debian's Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver
#                     needs (libglvnd), unpacked there
# Run after `pnpm install`, from anywhere. Both folders are listed in .git/info/exclude.
set -euo pipefail
cd "$(dirname "$0")/../.."
for p in /.gpu/ /.gpu2/ /.gl/; do grep -qx "$p" .git/info/exclude 2>/dev/null || echo "$p" >>.git/info/exclude; done
mkdir -p .gpu .gpu2 .gl
node tooling/device/closure.mjs >.gpu/all
grep -v '@rolldown+binding' .gpu/all >.gpu/list
grep '@rolldown+binding' .gpu/all >.gpu2/list
tar -cf - --exclude='webgpu/dist/win32-*' --exclude='webgpu/dist/darwin-*' \
  --exclude='webgpu/dist/linux-arm64' --exclude='*.map' --exclude='node_modules/.vite' --exclude='*_test.js' --exclude='*.fesm.js' \
  --exclude='*.es2017.js' --exclude='*.min.js' --exclude='*.d.ts' --exclude='*.d.mts' --exclude='*.d.cts' \
  --exclude=miniprogram --exclude=tf-core.js --exclude=tf-backend-webgpu.js --exclude=tf-backend-cpu.js \
  --exclude=tf-backend-wasm.js -T .gpu/list | xz -T2 -9 >.gpu/nm.tar.xz
tar -cf - -T .gpu2/list | xz -T2 -9 >.gpu2/nm2.tar.xz
# Node without its symbols (2 MB less once packed: the call's 64 MiB also holds the tracked tree).
if [ ! -f .gpu/node.xz ]; then
  node_bin=$(readlink -f "$(command -v node)")
  if command -v strip >/dev/null 2>&1; then strip -o .gpu/node "$node_bin" && node_bin=.gpu/node; fi
  xz -T2 -9 -c "$node_bin" >.gpu/node.xz && rm -f .gpu/node
fi
if ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update >/dev/null
  (cd .gl && apt-get "${o[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
du -ch .gpu/*.xz .gl/*.deb | tail -1
du -ch .gpu2/*.xz | tail -1
