#!/usr/bin/env bash
# Regenerates every committed bag from the synthetic world. Deterministic: the same commands
# give byte-identical files. Run from the repository root: bash bags/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
sim() { ./bin/adaptive-perception.js sim "$@"; }

# Demo (the README's main job): front camera, 1280x720 JPEG, 10 Hz, 5 s.
sim --out bags/day_front.mcap --domain day --frames 50 --seed 101 --size 1280x720 --rate 10 --compressed --gt-scale 4 --no-tf
# Four cameras, 640x360 JPEG, 10 Hz, 3 s.
sim --out bags/day_4cam.mcap --domain day --cameras front,left,right,rear --frames 30 --seed 202 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
# The same kind of scene as a ROS 1 bag (reader coverage), 1 s.
sim --out bags/day_front_ros1.bag --domain day --frames 10 --seed 103 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
# Held-out domains for adaptation: 640x360 JPEG, 10 Hz, 6 s each.
sim --out bags/night_front.mcap --domain night --frames 60 --seed 301 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
sim --out bags/rain_front.mcap --domain rain --frames 60 --seed 302 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
sim --out bags/newpaint_front.mcap --domain newpaint --frames 60 --seed 303 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
sim --out bags/camshift_front.mcap --domain camshift --frames 60 --seed 304 --size 640x360 --rate 10 --compressed --gt-scale 4 --no-tf
# The real-frame bag (real_comma10k_front.mcap) is not synthetic: bags/README.md "Real frames"
# gives its command (bags/make_real_bag.ts from the comma10k sources).
