#!/usr/bin/env bash
# One preview per domain (image with its ground truth drawn over it), for docs/architecture.md ("The synthetic driving world").
# Deterministic: bash docs/make-previews.sh
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for d in day dusk night fog rain newpaint camshift; do
  ./bin/adaptive-perception.js sim --out "$tmp/$d.mcap" --domain "$d" --frames 12 --seed 7 --size 640x360 --preview "$tmp/$d" >/dev/null 2>&1
  node -e "require('sharp')(process.argv[1]).jpeg({quality: 80}).toFile(process.argv[2])" "$tmp/$d/front_000011.png" "docs/previews/$d.jpg"
done
ls -la docs/previews
