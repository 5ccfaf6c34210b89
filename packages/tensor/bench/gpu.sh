#!/usr/bin/env bash
# The GPU benchmarks in one go, for a machine with a real GPU (a checkout with node_modules carried
# over; Dawn finds the vendor's Vulkan driver). Run from anywhere:
#
#   bash packages/tensor/bench/gpu.sh            # everything (about 3-5 minutes on an H100)
#   QUICK=1 bash packages/tensor/bench/gpu.sh    # 4096^3 and the sweep only
#   SIZES=128,256 SWEEP_ONLY=13 bash ...          # a dry run on a software adapter
#
# 1. the matmul tests on the GPU, every tile configuration included (VL_MATMUL_ALL_CONFIGS=1);
# 2. the matmul benchmark: tile-configuration sweep at 4096^3 (plus GEMV configurations), then
#    vl (default and best configuration) against tfjs-backend-webgpu at 1024^3, 2048^3, 4096^3 and
#    decode-time 1 x n x n products (f32, f16, and q8/q4 weights up to 16384^2, as GB/s of weight
#    bytes: compare with the GPU's memory bandwidth), with Dawn's robustness checks off (as a production app would
#    run it); then 4096^3 once more with Dawn's defaults.
# Results go to bench/results/ (and to $OUT when set); logs to bench/results/gpu-*.log.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/results
results=bench/results
status=0

step() {
  local name=$1 limit=$2
  shift 2
  echo "=== $name: $*"
  timeout "$limit" "$@" >"$results/gpu-$name.log" 2>&1
  local rc=$?
  grep -v 'artificially reduced' "$results/gpu-$name.log"
  if [ "$rc" -ne 0 ]; then
    echo "=== $name FAILED (exit $rc)"
    status=1
  fi
}

echo "=== machine"
(nvidia-smi -L || true) 2>&1
node --version
uname -a

export VL_REQUIRE_WEBGPU=1
sizes=${SIZES:-1024,2048,4096}
largest=${sizes##*,}
bench=(node --conditions=source --import tsx bench/matmul-webgpu.ts)
sweep=(--sweep)
if [ -n "${SWEEP_ONLY:-}" ]; then sweep+=(--sweep-only "$SWEEP_ONLY"); fi
if [ -z "${QUICK:-}" ]; then
  step tests 300 env VL_MATMUL_ALL_CONFIGS=1 npx vitest run --project node test/matmul.test.ts test/quantize.test.ts
  step matmul 600 "${bench[@]}" --sizes "$sizes" "${sweep[@]}" --gemv
  step matmul-robust 300 "${bench[@]}" --sizes "$largest" --dawn none --reps 3 \
    --out "$results/matmul-webgpu-robust.json"
else
  step matmul 400 "${bench[@]}" --sizes "$largest" "${sweep[@]}"
fi

if [ -n "${OUT:-}" ]; then
  cp "$results"/matmul-webgpu*.json "$results"/gpu-*.log "$OUT"/ 2>/dev/null || true
fi
exit $status
