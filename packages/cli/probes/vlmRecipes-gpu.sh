#!/usr/bin/env bash
# VLM recipe search on a lent GPU machine (session 14): several `probes/vlmRecipe.mts` runs at once
# through Dawn, each scoring the held-out split after every segment, their lines in $OUT/<NAME>.txt.
# After `bash tooling/device/pack.sh`:
#   run(command: "bash packages/cli/probes/vlmRecipes-gpu.sh", carry: [".gpu", ".gl"])
# Five runs share the H200 at ~110-150 ms a step each (the CPU here: ~1.9 s a step).
set -u
cd "$(dirname "$0")/../../.."
PARTS=setup bash tooling/device/gpu-all.sh >/dev/null 2>&1
export PATH=/tmp/nodebin:$PATH
res=${OUT:-/tmp/vlm-recipes}
mkdir -p "$res"
cd packages/cli
# A CLIP whose vision tower is the shipped VLM's grounded one: fresh decoders skip the grounding.
rm -rf /tmp/gclip && cp -r ../shapes/models/clip /tmp/gclip
node --conditions=source --import tsx probes/groundedClip.mts ../shapes/models/vlm /tmp/gclip ||
  exit 1
limit=${LIMIT:-470}
recipe() {
  env RES="$res" MINUTES="${MINUTES:-5}" "$@" timeout "$limit" \
    node --conditions=source --import tsx probes/vlmRecipe.mts >"/tmp/vlm-recipe-$1.log" 2>&1 &
}
recipe NAME=A INIT=../shapes/models/vlm SEG=400
recipe NAME=B INIT=../shapes/models/vlm SEG=400 BALANCE=1
recipe NAME=C INIT=../shapes/models/vlm SEG=400 BALANCE=1 QPI=1 CAPTION=0
recipe NAME=D CLIP=/tmp/gclip SEG=400 TEXT=1000 BALANCE=1
recipe NAME=E CLIP=/tmp/gclip SEG=400 LR=2e-3 HIDDEN=256 LAYERS=4
wait
cat "$res"/*.txt
