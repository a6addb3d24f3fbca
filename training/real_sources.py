#!/usr/bin/env python3
"""Collects the permissively licensed REAL frames the model factory uses, from git mirrors of
their public repositories, into training/.data/real-src/, and checks them against
training/real_sources.json (repository, commit, path, sha256, licence of every file).

    /usr/bin/python3 training/real_sources.py --mirror OWNER/NAME=GIT_DIR [--mirror ...] [--out DIR]

GIT_DIR is a clone (or bare mirror) of https://github.com/OWNER/NAME holding the commit the
list names. Files are read with `git cat-file`, so no work tree is needed. A file whose
sha256 differs from the list is refused. Without a mirror for a source, its files are
skipped with a message and the build goes on without them (training/README.md).

Sources (all MIT):
- commaai/comma10k frames + masks (real dashcam, road / lane markings / undrivable / movable /
  my car), the 11 frames copied verbatim into fignja/Image-masks-augmentator-generator-for-
  keras.fit-and-comma10k (the comma10k repository itself is 14 GB); comma10k is MIT
  (its README: "It's MIT license, no academic only restrictions or anything").
- udacity/CarND-Vehicle-Detection test images + test video (MIT, Udacity).
- udacity/CarND-Advanced-Lane-Lines test images (MIT, Udacity).
- udacity/CarND-LaneLines-P1 test images + solidWhiteRight.mp4 (MIT, Udacity).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIST = os.path.join(HERE, "real_sources.json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mirror", action="append", default=[], help="OWNER/NAME=GIT_DIR")
    ap.add_argument("--out", default=os.path.join(HERE, ".data", "real-src"))
    ap.add_argument("--write-list", action="store_true", help="(maintainers) rewrite real_sources.json from the mirrors")
    a = ap.parse_args()
    mirrors = dict(m.split("=", 1) for m in a.mirror)
    spec = json.load(open(LIST))
    n_ok = n_skip = 0
    for src in spec["sources"]:
        git = mirrors.get(src["repo"])
        if not git:
            print(f"real_sources: no mirror for {src['repo']}, skipping its {len(src['files'])} files", file=sys.stderr)
            n_skip += len(src["files"])
            continue
        for f in src["files"]:
            data = subprocess.run(["git", "-C", git, "cat-file", "blob", f"{src['commit']}:{f['path']}"],
                                  check=True, capture_output=True).stdout
            h = hashlib.sha256(data).hexdigest()
            if a.write_list:
                f["sha256"] = h
            elif h != f["sha256"]:
                raise SystemExit(f"real_sources: {src['repo']}@{src['commit']}:{f['path']} has sha256 {h}, "
                                 f"the list says {f['sha256']}")
            dst = os.path.join(a.out, src["dir"], f["path"])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            with open(dst + ".tmp", "wb") as o:
                o.write(data)
            os.replace(dst + ".tmp", dst)
            n_ok += 1
    if a.write_list:
        json.dump(spec, open(LIST, "w"), indent=1)
    print(f"real_sources: {n_ok} files in {a.out}, {n_skip} skipped")


if __name__ == "__main__":
    main()
