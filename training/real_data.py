"""Data for the real-roads model (train_real.py): synthetic frames with camera intrinsics,
real frames with teacher pseudo-boxes (teacher.py) and comma10k masks, and the domain
randomisation applied to all of them.

Every sample is (img uint8 HxWx3, seg uint8 HxW (255 = no label), depth float32 HxW (0 = no
label), boxes [n,6] (cls, x0, y0, x1, y1, keep), scale (the depth scale (fy / H) / F_REL of the
final image), tasks {"det", "seg", "depth"}).
"""
import glob
import json
import os

import cv2
import numpy as np

from data import FAR_M, Dataset, keep_box
import realnet as R

# comma10k mask colours (its README) -> our seg classes; "my car" (hood, mounts) is unlabelled
COMMA_COLOURS = {(0x40, 0x20, 0x20): 2, (0xFF, 0x00, 0x00): 1, (0x80, 0x80, 0x60): 0, (0x00, 0xFF, 0x66): 0,
                 (0xCC, 0x00, 0xFF): 255}
COMMA_FY = 910.0  # comma's road camera at 1164x874 (commaai/calib_challenge README: "focal length 910 pixels")
# rows (fraction of the frame height from the top) that are above the horizon in every dashcam
# frame used here (Udacity horizon at 0.55-0.6 H, comma at 0.45 H): a weak "background" label
SKY_ROWS = 0.38
# (x, y) corners, fractions of width / height: the ego lane between 0.70 H and 0.90 H, well inside
# its markings in the Udacity frames (their bonnet starts below 0.93 H)
EGO_ROAD = [(0.40, 0.90), (0.60, 0.90), (0.53, 0.70), (0.47, 0.70)]
# held-out comma10k frames for the real dev check (real_dev.py); the rest may be trained on
COMMA_DEV = ("0000_", "0002_", "0005_", "0006_", "0008_", "0010_")


def comma_seg(mask_rgb):
    out = np.full(mask_rgb.shape[:2], 255, np.uint8)
    for col, v in COMMA_COLOURS.items():
        out[np.all(mask_rgb == np.array(col, np.uint8), -1)] = v
    return out


def comma_frames(root, dev):
    imgs = sorted(glob.glob(os.path.join(root, "comma10k", "imgs", "*.png")))
    return [p for p in imgs if os.path.basename(p).startswith(COMMA_DEV) == dev]


class SynthSet:
    def __init__(self, root):
        self.ds = Dataset(root, None)
        self.frames = [f for sh in self.ds.shards for f in sh["frames"]]

    def __len__(self):
        return len(self.ds)

    def sample(self, k):
        img, seg, depth, boxes = self.ds.sample(k)
        fr = self.frames[k]
        fy = fr.get("fy") or self.ds.W / 2  # datasets before intrinsics were recorded: the 90° rig
        return {"img": img, "seg": seg, "depth": depth, "boxes": boxes, "fy": fy, "tasks": ("det", "seg", "depth")}


class RealSet:
    """Frames with teacher boxes (teacher.json: key = path relative to src_root[#video frame])."""

    def __init__(self, src_root, teacher_jsons, exclude=()):
        self.items = []
        self.src = src_root
        self.video_cache = {}
        for tj in teacher_jsons:
            if not os.path.exists(tj):
                continue
            for key, v in json.load(open(tj)).items():
                if any(os.path.basename(key.split("#")[0]).startswith(e) for e in exclude):
                    continue
                self.items.append((key, v))

    def __len__(self):
        return len(self.items)

    def _image(self, key):
        path = os.path.join(self.src, key.split("#")[0])
        if "#" in key:
            idx = int(key.split("#")[1])
            cap = cv2.VideoCapture(path)
            cap.set(cv2.CAP_PROP_POS_FRAMES, idx)
            ok, bgr = cap.read()
            if not ok:
                raise IOError(f"{path} frame {idx}")
        else:
            bgr = cv2.imread(path)
        return bgr[:, :, ::-1].copy(), path

    def sample(self, k):
        key, v = self.items[k]
        img, path = self._image(key)
        H, W = img.shape[:2]
        boxes = np.array([[b["cls"], b["x0"], b["y0"], b["x1"], b["y1"], b["keep"]] for b in v["boxes"]], np.float32).reshape(-1, 6)
        seg = np.full((H, W), 255, np.uint8)
        # weak segmentation label for dashcam frames without masks: the top SKY_ROWS of the frame
        # lie above the horizon (sky, trees, buildings), never drivable or marked
        seg[:int(SKY_ROWS * H)] = 0
        # and a narrow trapezoid in the ego lane just above the bonnet is road (2), except where a
        # teacher box covers it: real asphalt as a positive, without touching the lane markings
        poly = (np.array(EGO_ROAD, np.float32) * [W, H]).astype(np.int32)
        cv2.fillPoly(seg, [poly], 2)
        for b in boxes:
            seg[int(b[2]):int(np.ceil(b[4])), int(b[1]):int(np.ceil(b[3]))][seg[int(b[2]):int(np.ceil(b[4])), int(b[1]):int(np.ceil(b[3]))] == 2] = 255
        tasks = ("det", "seg")
        fy = W / 2.0
        if "/comma10k/" in "/" + key:
            mp = path.replace("/imgs/", "/masks/")
            if os.path.exists(mp):
                seg = comma_seg(cv2.imread(mp)[:, :, ::-1])
                tasks = ("det", "seg")
            fy = COMMA_FY * H / 874.0
        return {"img": img, "seg": seg, "depth": np.zeros((H, W), np.float32), "boxes": boxes, "fy": fy, "tasks": tasks}


# ------------------------------------------------------------------ domain randomisation
class RealTops:
    """The above-horizon parts (top SKY_ROWS) of real frames: real sky, trees and buildings
    pasted into a synthetic frame's sky (depth = far), whose labels stay background / no depth."""

    def __init__(self, real):
        self.tops = []
        seen = set()
        for k in range(len(real)):
            key = real.items[k][0]
            if key.split("#")[0] in seen and "#" in key and int(key.split("#")[1]) % 8:
                continue  # a few frames per video are enough
            seen.add(key.split("#")[0])
            img = real.sample(k)["img"]
            self.tops.append(cv2.resize(img[:int(SKY_ROWS * img.shape[0])], (256, 96), interpolation=cv2.INTER_AREA))

    def paste(self, rng, s):
        if not self.tops:
            return s
        sky = s["depth"] >= FAR_M
        if sky.sum() < 50:
            return s
        H, W = sky.shape
        rows = np.where(sky.any(1))[0]
        y1 = int(rows.max()) + 1
        top = self.tops[int(rng.integers(len(self.tops)))]
        if rng.random() < 0.5:
            top = top[:, ::-1]
        fill = cv2.resize(top, (W, y1), interpolation=cv2.INTER_LINEAR)
        img = s["img"].copy()
        img[:y1][sky[:y1]] = fill[sky[:y1]]
        return {**s, "img": img}



def _smooth_noise(rng, H, W, cells):
    g = rng.standard_normal((cells, cells * 2, 3)).astype(np.float32)
    return cv2.resize(g, (W, H), interpolation=cv2.INTER_CUBIC)


def photometric(rng, img, strong=True):
    f = img.astype(np.float32) / 255.0
    H, W = f.shape[:2]
    if rng.random() < 0.5 and strong:  # colour / texture field (low-frequency tint and shading)
        f = f * (1 + 0.12 * _smooth_noise(rng, H, W, 4)) + 0.03 * _smooth_noise(rng, H, W, 12)
    # channel mixing (hue / white balance), brightness, contrast, saturation, gamma
    mix = np.eye(3, dtype=np.float32) + rng.normal(0, 0.06 if strong else 0.03, (3, 3)).astype(np.float32)
    f = f @ mix.T
    f = f * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    f = f * rng.uniform(0.6, 1.4) + rng.uniform(-0.08, 0.08)
    m = f.mean()
    f = (f - m) * rng.uniform(0.6, 1.4) + m
    g = f.mean(2, keepdims=True)
    f = (f - g) * rng.uniform(0.4, 1.5) + g
    if rng.random() < 0.05:
        f = np.repeat(f.mean(2, keepdims=True), 3, 2)
    f = np.clip(f, 0, 1) ** rng.uniform(0.7, 1.5)
    if strong and rng.random() < 0.15:  # haze
        a = rng.uniform(0.1, 0.5)
        f = f * (1 - a) + a * rng.uniform(0.5, 0.9)
    if strong and rng.random() < 0.15:  # low light
        f = f * rng.uniform(0.15, 0.5)
    if rng.random() < 0.3:  # vignetting
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        r2 = ((xx - W / 2) / (W / 2)) ** 2 + ((yy - H / 2) / (H / 2)) ** 2
        f = f * (1 - rng.uniform(0, 0.35) * r2 / 2)[..., None]
    f = np.clip(f * 255, 0, 255)
    if rng.random() < 0.3:
        f = cv2.GaussianBlur(f, (0, 0), rng.uniform(0.4, 1.6))
    if rng.random() < 0.5:
        f = f + rng.normal(0, rng.uniform(1, 8), f.shape).astype(np.float32)
    out = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        ok, enc = cv2.imencode(".jpg", out[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        out = cv2.imdecode(enc, cv2.IMREAD_COLOR)[:, :, ::-1]
    return np.ascontiguousarray(out)


def geometric(rng, s, size, aspect=(1.6, 3.4), hfrac=(0.6, 1.0), flip=True):
    """Random camera crop: aspect of the crop (resized to size, i.e. squashed as a wide or
    narrow camera's frame is by the engine), height fraction, position, horizontal flip.
    Returns the sample at `size` with its depth scale."""
    img, seg, depth, boxes, fy = s["img"], s["seg"], s["depth"], s["boxes"].copy(), s["fy"]
    Hs, Ws = img.shape[:2]
    H, W = size
    a = rng.uniform(*aspect)
    ch = Hs * rng.uniform(*hfrac)
    cw = ch * a
    if cw > Ws:
        cw = Ws
        ch = min(Hs, cw / a)
    x0 = rng.uniform(0, Ws - cw)
    y0 = (Hs - ch) * np.clip(rng.normal(0.5, 0.25), 0, 1)
    M = np.array([[W / cw, 0, -x0 * W / cw], [0, H / ch, -y0 * H / ch]], np.float32)
    img = cv2.warpAffine(img, M, (W, H), flags=cv2.INTER_AREA if cw > 2 * W else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    seg = cv2.warpAffine(seg, M, (W, H), flags=cv2.INTER_NEAREST, borderValue=255)
    depth = cv2.warpAffine(depth, M, (W, H), flags=cv2.INTER_NEAREST, borderValue=0)
    if len(boxes):
        ow, oh = boxes[:, 3] - boxes[:, 1], boxes[:, 4] - boxes[:, 2]
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - x0) * W / cw
        boxes[:, [2, 4]] = (boxes[:, [2, 4]] - y0) * H / ch
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, W)
        boxes[:, [2, 4]] = boxes[:, [2, 4]].clip(0, H)
        nw, nh = (boxes[:, 3] - boxes[:, 1]) / (W / cw), (boxes[:, 4] - boxes[:, 2]) / (H / ch)
        vis = (nw * nh) / np.maximum(ow * oh, 1e-6)
        boxes[vis < 0.5, 5] = 0  # mostly cut off by the crop: ignore
        boxes = boxes[((boxes[:, 3] - boxes[:, 1]) >= 2) & ((boxes[:, 4] - boxes[:, 2]) >= 2)]
        # too small to learn at this stride: ignore
        boxes[(boxes[:, 4] - boxes[:, 2]) < 6, 5] = 0
    if flip and rng.random() < 0.5:
        img, seg, depth = img[:, ::-1], seg[:, ::-1], depth[:, ::-1]
        if len(boxes):
            x0b = W - boxes[:, 3]
            boxes[:, 3] = W - boxes[:, 1]
            boxes[:, 1] = x0b
    scale = (fy / ch) / R.F_REL  # fy / (crop height in source pixels): vertical focal in image heights
    return {"img": np.ascontiguousarray(img), "seg": np.ascontiguousarray(seg), "depth": np.ascontiguousarray(depth),
            "boxes": boxes, "scale": float(scale), "tasks": s["tasks"]}


def plain(s, size):
    """No augmentation: the whole frame resized to size (what the engine does)."""
    img, seg, depth, boxes = s["img"], s["seg"], s["depth"], s["boxes"].copy()
    Hs, Ws = img.shape[:2]
    H, W = size
    if (Hs, Ws) != (H, W):
        img = cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA if Ws > 2 * W else cv2.INTER_LINEAR)
        seg = cv2.resize(seg, (W, H), interpolation=cv2.INTER_NEAREST)
        depth = cv2.resize(depth, (W, H), interpolation=cv2.INTER_NEAREST)
        if len(boxes):
            boxes[:, [1, 3]] *= W / Ws
            boxes[:, [2, 4]] *= H / Hs
    return {"img": img, "seg": seg, "depth": depth, "boxes": boxes, "scale": float((s["fy"] / Hs) / R.F_REL),
            "tasks": s["tasks"]}


def depth_valid(depth):
    return (depth > 0) & (depth < FAR_M)


__all__ = ["SynthSet", "RealSet", "RealTops", "photometric", "geometric", "plain", "comma_seg", "comma_frames", "keep_box",
           "depth_valid", "COMMA_DEV"]
