#!/usr/bin/env bash
# Every GPU check of the project in one command, for a lent GPU machine (bare: no Node, no npm
# registry). `tooling/device/pack.sh` first packs what it needs into .gpu/, .gpu2/ and .gl/ here;
# a call may send about 64 MiB with the tracked tree (58 MiB went, 63.7 was refused), so the
# benchmarks go first and the tests (vitest needs .gpu2) second, on the machine the first call
# left warm (it goes back after 30 s idle; node_modules and /tmp/nodebin stay while it is warm):
#
#   run(command: "PARTS=setup,dvae,matmul,clip bash tooling/device/gpu-all.sh", carry: [".gpu", ".gl"])
#   run(command: "PARTS=setup,tests bash tooling/device/gpu-all.sh", carry: [".gpu2"])
#
# PARTS=setup,matmul,clip,dvae,dvaeops,dispatch,tests,robust,gemv,vlm,clipops selects steps (default: all, in that
# order: the issues' GPU lines first). BUDGET (default 520 s) bounds the whole run, and each step
# has its own time limit, so one that hangs costs only its own. Logs and bench JSON go to
# bench/results/ of each package and, packed, to $OUT (the device tool returns at most 8 files):
# $OUT/summary.log and $OUT/results.tar.gz.
#
# Dry run on a machine without a GPU (SwiftShader; small sizes):
#   DRY=1 bash tooling/device/gpu-all.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
out=${OUT:-/tmp/vl-gpu-out}
mkdir -p "$out"
log="$out/summary.log"
logs=/tmp/vl-gpu-logs # whole step logs, kept out of $OUT (packed into results.tar.gz instead)
rm -rf "$logs" && mkdir -p "$logs"
: >"$log"
parts=",${PARTS:-setup,matmul,clip,dvae,dvaeops,dispatch,tests,robust,gemv,vlm,clipops},"
dry=${DRY:-}
start=$(date +%s)
status=0

say() { echo "$@" | tee -a "$log"; }
want() { [[ $parts == *",$1,"* ]]; }

# step NAME DIR LIMIT CMD...: runs CMD in DIR with a time limit (cut to what is left of BUDGET
# seconds, so the whole run ends before the device call's own limit); its log is kept whole in
# $logs and its tail goes to the summary. The results are packed again after every step, so a
# run cut short still returns what it measured.
budget=${BUDGET:-520}
step() {
  local name=$1 dir=$2 limit=$3
  shift 3
  local t0=$(date +%s)
  local left=$((budget - (t0 - start)))
  if [ "$left" -lt 20 ]; then
    say "=== $name: skipped, ${left}s of the ${budget}s budget left"
    status=1
    return
  fi
  [ "$limit" -gt "$left" ] && limit=$left
  say "=== $name ($dir, limit ${limit}s, at +$((t0 - start))s): $*"
  (cd "$dir" && timeout -k 5 "$limit" "$@") >"$logs/$name.log" 2>&1
  local rc=$?
  grep -v 'artificially reduced' "$logs/$name.log" | tail -n "${TAIL:-40}" | tee -a "$log"
  say "=== $name: exit $rc in $(($(date +%s) - t0))s"
  [ "$rc" -eq 0 ] || status=1
  pack
}

# Bench JSON and logs in one file (the device tool returns at most 8).
pack() {
  tar -czf "$out/results.tar.gz" -C "$root" $(cd "$root" && ls packages/*/bench/results/*.json 2>/dev/null) \
    -C "$(dirname "$logs")" "$(basename "$logs")" 2>/dev/null
}

# --- setup: Node, node_modules, the Vulkan loader --------------------------------------------------
if want setup; then
  # xz, or Python's lzma where the machine has no xz.
  unxz_to() {
    if command -v xz >/dev/null 2>&1; then xz -dc -T0 "$1"; else
      python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), sys.stdout.buffer)' "$1"
    fi
  }
  if [ "$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -lt 20 ]; then
    # Unpacked aside and moved, so a call without .gpu/node.xz keeps the node an earlier call left.
    mkdir -p /tmp/nodebin
    if [ -f .gpu/node.xz ]; then
      unxz_to .gpu/node.xz >/tmp/nodebin/node.part && chmod +x /tmp/nodebin/node.part &&
        mv /tmp/nodebin/node.part /tmp/nodebin/node
    fi
    export PATH=/tmp/nodebin:$PATH
  fi
  if [ ! -d node_modules/.pnpm ] && [ -f .gpu/nm.tar.xz ]; then unxz_to .gpu/nm.tar.xz | tar -xf -; fi
  # The second part (rolldown, for vitest), which a later call carries (see pack.sh).
  if [ -f .gpu2/nm2.tar.xz ] && ! ls -d node_modules/.pnpm/@rolldown+binding* >/dev/null 2>&1; then
    unxz_to .gpu2/nm2.tar.xz | tar -xf -
  fi
  # The Vulkan loader and the GL dispatch libraries NVIDIA's ICD (libGLX_nvidia) links against.
  for f in .gl/*.deb; do [ -f "$f" ] && dpkg -x "$f" /; done
  ldconfig 2>/dev/null || true
  # The NVIDIA driver's Vulkan ICD: the loader's usual folders, else the driver's mount.
  if ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES=$icd
  fi
  say "=== machine (setup took $(($(date +%s) - start))s)"
  (nvidia-smi -L 2>&1 || echo 'no nvidia-smi') | tee -a "$log"
  say "node $(node --version 2>&1); VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  (cd packages/tensor && node bench/adapter.mjs) 2>&1 | tee -a "$log"
fi

export VL_REQUIRE_WEBGPU=1 VL_TEST_BROWSER=0
tsx=(node --conditions=source --import tsx)

# --- benchmarks (one at a time: they share the GPU) -------------------------------------------------
if want matmul; then
  if [ -n "$dry" ]; then
    step matmul packages/tensor 300 "${tsx[@]}" bench/matmul-webgpu.ts --sizes 128,256 --sweep \
      --sweep-only 0,17 --reps 2 --target-ms 50 --out "$out/matmul-webgpu.json"
  else
    step matmul packages/tensor 150 "${tsx[@]}" bench/matmul-webgpu.ts --sizes 1024,2048,4096 --sweep \
      --reps 5 --target-ms 200
  fi
fi
if want clip; then
  if [ -n "$dry" ]; then
    step clip packages/clip 300 "${tsx[@]}" bench/clip-webgpu.ts --batch 2 --runs 1 --warmup 1 \
      --out "$out/clip-webgpu.json"
  else
    step clip packages/clip 180 "${tsx[@]}" bench/clip-webgpu.ts --batch 32 --ab
  fi
fi
if want clipops; then
  # Not a comparison: where the WebGPU time of the clip step goes, kernel by kernel.
  step clip-ops packages/clip 120 "${tsx[@]}" bench/clip-webgpu-ops.ts --batch "$([ -n "$dry" ] && echo 1 || echo 32)" \
    --reps "$([ -n "$dry" ] && echo 2 || echo 50)"
fi
if want dvae; then
  # Ours, PyTorch and tfjs-backend-webgpu at batch 16 (a dry run: a narrow network at batch 1).
  size=(--webgpu-batch 16 --out bench/results/dvae-webgpu.json)
  # A dry run writes beside the summary, never over the GPU results in the repo.
  [ -n "$dry" ] && size=(--webgpu-batch 1 --n-hid 8 --skip-torch --out "$out/dvae-webgpu.json")
  step dvae packages/dvae 150 "${tsx[@]}" bench/dvae-bench.ts --skip-cpu --skip-tfjs --tfjs-webgpu "${size[@]}" \
    --batch 1 --runs 3
fi
if want dvaeops; then
  # Not a comparison: where the WebGPU time of the dvae step goes, kernel by kernel.
  ops=(--batch 8 --reps 5)
  [ -n "$dry" ] && ops=(--batch 1 --reps 1 --n-hid 8)
  step dvae-ops packages/dvae 150 "${tsx[@]}" bench/dvae-webgpu-ops.ts "${ops[@]}"
fi
if want dispatch; then
  disp=()
  [ -n "$dry" ] && disp=(--out "$out/dispatch-webgpu.json")
  step dispatch packages/tensor 60 "${tsx[@]}" bench/dispatch-webgpu.ts ${disp[@]+"${disp[@]}"}
fi
# --- tests on the real adapter: the whole tensor suite (every matmul tile config), model fixtures ---
if want tests; then
  step tensor-tests packages/tensor 200 env VL_MATMUL_ALL_CONFIGS=1 VL_LARGE_TESTS=1 ./node_modules/.bin/vitest run --project node
  step model-tests packages 150 bash -c '
    (cd clip && ./node_modules/.bin/vitest run --project node test/clipTiny.test.ts test/convStem.test.ts) &
    (cd dvae && ./node_modules/.bin/vitest run --project node test/dvaeTiny.test.ts) &
    (cd vlm && ./node_modules/.bin/vitest run --project node test/llavaTiny.test.ts) &
    fail=0; for j in 1 2 3; do wait -n || fail=1; done; exit $fail'
fi

if want robust && [ -z "$dry" ]; then
  step matmul-robust packages/tensor 60 "${tsx[@]}" bench/matmul-webgpu.ts --sizes 4096 --dawn none \
    --reps 3 --target-ms 200 --out bench/results/matmul-webgpu-robust.json
fi
if want gemv && [ -z "$dry" ]; then
  step gemv packages/tensor 120 "${tsx[@]}" bench/matmul-webgpu.ts --sizes 4096 --sweep --sweep-only 0 \
    --gemv --gemv-sizes 4096,8192 --reps 5 --target-ms 200 --out bench/results/matmul-webgpu-gemv.json
fi
if want vlm; then
  dec=(--layers=24)
  # A dry run: 2 layers and a vocabulary whose table fits SwiftShader's 128 MiB bindings, written
  # beside the summary.
  [ -n "$dry" ] && dec=(--layers=2 --vocab=32000 "--out=$out/decoder-dry.json")
  step vlm packages/vlm 150 "${tsx[@]}" bench/decoder.ts --backends=cpu,webgpu,webgpu-nosplit "${dec[@]}"
fi

say "=== done in $(($(date +%s) - start))s, status $status"
pack
exit $status
