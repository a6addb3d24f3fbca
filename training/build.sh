#!/usr/bin/env bash
# Rebuilds a model package from nothing: datasets -> train -> held-out eval -> export -> verify.
#
#   training/build.sh                       full build into models/default (≈ 40 min on 2 cores)
#   training/build.sh --smoke --out DIR     tiny build (64x128, 20 steps) in < 2 min, for CI
#   training/build.sh --fake ...            use training/fake_dataset.py instead of the TS world
#   training/build.sh --resume ...          continue an interrupted training run (same work dir)
#   training/build.sh --real                the real-roads model (training/realnet.py, FastestDet COCO backbone)
#                                           into models/candidates/real (≈ 1.5-2.5 h on 2 shared cores)
#   training/build.sh --real --smoke --out DIR   its quick check (tiny data, 20 steps)
#
# Environment overrides: SIZE (HxW), STEPS, BATCH, TRAIN_FRAMES, HELDOUT_FRAMES, TRAIN_SEED,
# HELDOUT_SEED, DOMAINS, (frame counts are per domain) WORK (scratch dir for datasets and the run), PYTHON, LR, LOG_EVERY,
# MULTISCALE (1: train across the ladder sizes), STRONG_AUG (1: strong photometric randomisation)
# (both default 0: the recipe of the bundled default);
# for --real also REAL_SRC (real frames, training/real_sources.py), FASTESTDET_ONNX, HUMAN_MODELS (npm pack dir).
# Held-out data uses seeds never used for training (TRAIN_SEED / HELDOUT_SEED below).
set -euo pipefail
cd "$(dirname "$0")/.."

MODE=full OUT= FAKE=0 RESUME=() ARCH=synthetic
while [[ $# -gt 0 ]]; do
  case "$1" in
    --smoke) MODE=smoke ;;
    --full) MODE=full ;;
    --fake) FAKE=1 ;;
    --resume) RESUME=(--resume) ;;
    --real) ARCH=real ;;
    --out) OUT="$2"; shift ;;
    --out=*) OUT="${1#--out=}" ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PYTHON=${PYTHON:-/usr/bin/python3}
if [[ $ARCH == real ]]; then
  OUT=${OUT:-models/candidates/real}
  exec training/build_real.sh "$MODE" "$OUT" "${RESUME[@]}"
fi
OUT=${OUT:-models/default}
# The factory runs in Debian's Python (torch 1.13, cv2, onnx, numpy): say up front what is
# missing and how to get it, rather than fail with a traceback minutes into a build.
PY_PACKAGES="python3-torch python3-opencv python3-onnx python3-numpy"
if ! "$PYTHON" -c pass 2>/dev/null; then
  echo "build.sh: cannot run Python at $PYTHON; the model factory needs Debian's python3 with $PY_PACKAGES: apt-get install python3 $PY_PACKAGES (or set PYTHON=...)" >&2
  exit 1
fi
missing=$("$PYTHON" -c 'import importlib.util as u
deb = {"torch": "python3-torch", "cv2": "python3-opencv", "onnx": "python3-onnx", "numpy": "python3-numpy"}
print(" ".join(p for m, p in deb.items() if u.find_spec(m) is None))')
if [[ -n $missing ]]; then
  echo "build.sh: $PYTHON lacks modules the model factory needs; install Debian's $missing: apt-get install $missing (or set PYTHON=...)" >&2
  exit 1
fi
DOMAINS=${DOMAINS:-day,dusk,fog}
TRAIN_SEED=${TRAIN_SEED:-1}
HELDOUT_SEED=${HELDOUT_SEED:-1001}
if [[ $MODE == smoke ]]; then
  SIZE=${SIZE:-64x128} STEPS=${STEPS:-20} BATCH=${BATCH:-4} TRAIN_FRAMES=${TRAIN_FRAMES:-8}
  HELDOUT_FRAMES=${HELDOUT_FRAMES:-4} LOG_EVERY=${LOG_EVERY:-5}
else
  SIZE=${SIZE:-192x384} STEPS=${STEPS:-2400} BATCH=${BATCH:-16} TRAIN_FRAMES=${TRAIN_FRAMES:-800}
  HELDOUT_FRAMES=${HELDOUT_FRAMES:-100} LOG_EVERY=${LOG_EVERY:-25}
fi
LR=${LR:-3e-3}
# MULTISCALE=1: train across the ladder's sizes (each step at one of them); STRONG_AUG=1: strong
# photometric domain randomisation (training/data.py randomise_sensor). Both off by default: the
# bundled default is trained without them; with them the lower rungs keep their detection but
# metric depth and in-domain figures regress (docs/experiments/2026-12-06-default-retrained.md)
MULTISCALE=${MULTISCALE:-0}
STRONG_AUG=${STRONG_AUG:-0}
MS_FLAG=()
if [[ $MULTISCALE == 1 ]]; then MS_FLAG+=(--multiscale); fi
if [[ $STRONG_AUG == 1 ]]; then MS_FLAG+=(--strong-aug); fi
SRC=$([[ $FAKE == 1 ]] && echo fake || echo world)
WORK=${WORK:-training/.runs/$MODE-$SRC-$SIZE}
DATA=training/.data/$SRC-$SIZE
H=${SIZE%x*} W=${SIZE#*x}
mkdir -p "$WORK" "$DATA"
t_start=$(date +%s)
step() { printf '\n== %s (%s)\n' "$1" "$(date +%T)"; }

# dataset NAME SEED FRAMES: generate once, keyed by source, size, seed, frames and domains
dataset() {
  local dir="$DATA/$1-s$2-n$3-${DOMAINS//,/_}"
  if [[ ! -f $dir/meta.json ]]; then
    rm -rf "$dir.tmp"
    if [[ $FAKE == 1 ]]; then
      "$PYTHON" training/fake_dataset.py --out "$dir.tmp" --domains "$DOMAINS" --frames "$3" --seed "$2" --size "${W}x${H}" >&2
    else
      if [[ ! -f src/cli/dataset.ts && ! -f dist/cli/dataset.js ]]; then
        echo "build.sh: the 'dataset' CLI command does not exist yet; use --fake" >&2; exit 1
      fi
      ./bin/adaptive-perception.js dataset --out "$dir.tmp" --domains "$DOMAINS" --frames "$3" --seed "$2" --size "${W}x${H}" >&2
    fi
    mv "$dir.tmp" "$dir"
  fi
  echo "$dir"
}

step "datasets ($SRC, ${W}x${H}, domains $DOMAINS)"
TRAIN=$(dataset train "$TRAIN_SEED" "$TRAIN_FRAMES")
HELD=$(dataset heldout "$HELDOUT_SEED" "$HELDOUT_FRAMES")
echo "train: $TRAIN"; echo "held-out: $HELD"
t_data=$(date +%s)

step "train ($MODE: $STEPS steps, batch $BATCH, ${H}x${W}) -> $WORK"
SMOKE_FLAG=(); [[ $MODE == smoke ]] && SMOKE_FLAG=(--smoke)
"$PYTHON" training/train.py --data "$TRAIN" --heldout "$HELD" --run "$WORK" --size "${H}x${W}" \
  --steps "$STEPS" --batch "$BATCH" --lr "$LR" --log-every "$LOG_EVERY" "${SMOKE_FLAG[@]}" "${MS_FLAG[@]}" "${RESUME[@]}"
t_train=$(date +%s)

step "export -> $OUT"
"$PYTHON" training/export.py --ckpt "$WORK/model.pt" --out "$OUT" --data "$TRAIN" --ref-out "$WORK/verify-ref" \
  2> >(grep -v -e 'Warning' -e '_C._jit_pass' >&2)

step "widen the detection and segmentation tails for online learning (outputs unchanged: training/widen_tail.py)"
"$PYTHON" training/widen_tail.py "$OUT"
"$PYTHON" training/widen_tail.py "$OUT" --head seg

step "verify with onnxruntime-node"
node training/verify_onnx.mjs "$OUT" "$WORK/verify-ref"

step "the real-roads branch: FastestDet's COCO detections beside the trained head, real-trained segmentation (training/coco_head.py)"
"$PYTHON" training/coco_head.py "$OUT" --seg-from models/candidates/real

step "widen the depth tail for online learning (outputs unchanged: training/widen_tail.py --head depth)"
"$PYTHON" training/widen_tail.py "$OUT" --head depth
node training/verify_onnx.mjs "$OUT"

if [[ $MODE != smoke ]]; then
  step "depth focal (fitted across lenses on synthetic drives: docs/experiments/2026-12-06-depth-focal.md)"
  npx tsx bench/depth-focal.ts --model "$OUT" --write
fi

t_end=$(date +%s)
printf '\nbuild.sh %s done in %ds (data %ds, train+eval %ds, export+verify %ds): %s\n' "$MODE" \
  $((t_end - t_start)) $((t_data - t_start)) $((t_train - t_data)) $((t_end - t_train)) "$OUT"
