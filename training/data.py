"""Dataset reader (training/DATASET.md layout), augmentation and CenterNet target building."""
import json
import math
import os

import cv2
import numpy as np

FAR_M = 120.0  # = the model's depth max_m; depth at or beyond this (sky / far = 200) is ignored by loss and metrics
MIN_BOX_H = 8.0  # boxes lower than this (model pixels) or occluded > 70 % are ignore regions


def keep_box(b, sx=1.0, sy=1.0):
    """Boxes the detector is trained and scored on; the rest are 'ignore' regions."""
    w, h = (b["x1"] - b["x0"]) * sx, (b["y1"] - b["y0"]) * sy
    return b.get("occlusion", 0.0) <= 0.7 and w >= 3 and h >= MIN_BOX_H


class Dataset:
    def __init__(self, root, size=None):
        """size = (H, W) to resize to, or None for the stored size."""
        self.root = root
        self.meta = json.load(open(os.path.join(root, "meta.json")))
        self.W, self.H = self.meta["width"], self.meta["height"]
        self.size = tuple(size) if size else (self.H, self.W)
        self.classes = self.meta["classes"]
        self.shards = []
        self.index = []
        for si, sh in enumerate(self.meta["shards"]):
            d = os.path.join(root, sh["dir"])
            n = sh["count"]
            H, W = self.H, self.W
            rec = {
                "images": np.memmap(os.path.join(d, "images.u8"), np.uint8, "r", shape=(n, H, W, 3)),
                "seg": np.memmap(os.path.join(d, "seg.u8"), np.uint8, "r", shape=(n, H, W)),
                "depth": np.memmap(os.path.join(d, "depth.f32"), np.float32, "r", shape=(n, H, W)),
                "boxes": json.load(open(os.path.join(d, "boxes.json"))),
            }
            fr = os.path.join(d, "frames.json")
            rec["frames"] = json.load(open(fr)) if os.path.exists(fr) else [{}] * n
            self.shards.append(rec)
            self.index += [(si, i) for i in range(n)]

    def __len__(self):
        return len(self.index)

    def _rs(self, a, interp):
        H, W = self.size
        if a.shape[:2] == (H, W):
            return np.array(a)
        return cv2.resize(np.asarray(a), (W, H), interpolation=interp)

    def image(self, k):
        si, i = self.index[k]
        return self._rs(self.shards[si]["images"][i], cv2.INTER_LINEAR)

    def domain(self, k):
        si, i = self.index[k]
        return self.shards[si]["frames"][i].get("domain", "?")

    def sample(self, k):
        si, i = self.index[k]
        sh = self.shards[si]
        H, W = self.size
        sx, sy = W / self.W, H / self.H
        img = self._rs(sh["images"][i], cv2.INTER_LINEAR)
        seg = self._rs(sh["seg"][i], cv2.INTER_NEAREST)
        depth = self._rs(sh["depth"][i], cv2.INTER_NEAREST)
        boxes = []
        for b in sh["boxes"][i]:
            cls = b["cls"]
            if isinstance(cls, str):
                cls = self.classes.index(cls)
            boxes.append([cls, b["x0"] * sx, b["y0"] * sy, b["x1"] * sx, b["y1"] * sy,
                          1.0 if keep_box(b, sx, sy) else 0.0])
        return img, seg, depth, np.array(boxes, np.float32).reshape(-1, 6)


def randomise_sensor(rng, img):
    """Strong photometric domain randomisation of one uint8 frame: lighting (gain, gamma),
    contrast, saturation, a colour cast, haze, sensor noise, blur, blobs on the lens and JPEG
    artefacts, each drawn independently. The network should not learn what one renderer's
    sunny day looks like; it has to find cars in dark, grey, noisy or soft frames too (issue 18's
    domain randomisation; the rendered night and rain domains are never trained on)."""
    H, W = img.shape[:2]
    f = img.astype(np.float32) / 255.0
    if rng.random() < 0.5:  # lighting: from a dim evening to a bright noon
        f = f ** rng.uniform(0.7, 1.8) * np.exp(rng.uniform(np.log(0.25), np.log(1.3)))
    if rng.random() < 0.5:  # contrast and saturation, down to a flat grey day
        m = f.mean()
        f = (f - m) * rng.uniform(0.4, 1.2) + m
        g = f.mean(2, keepdims=True)
        f = (f - g) * rng.uniform(0.2, 1.3) + g
    if rng.random() < 0.3:  # colour cast (sodium lamps, tinted glass, white balance)
        f = f * rng.uniform(0.75, 1.25, 3)
    if rng.random() < 0.3:  # haze / veiling glare
        a = rng.uniform(0.1, 0.5)
        f = f * (1 - a) + a * rng.uniform(0.3, 0.8) * rng.uniform(0.9, 1.1, 3)
    f = np.clip(f * 255.0, 0, 255)
    if rng.random() < 0.3:  # soft optics or motion
        k = float(rng.uniform(0.5, 1.6))
        f = cv2.GaussianBlur(f, (0, 0), k)
    if rng.random() < 0.3:  # blobs on the lens: soft, displaced discs of the image
        src = cv2.GaussianBlur(f, (0, 0), 3.0)
        mask = np.zeros((H, W), np.float32)
        for _ in range(int(rng.integers(1, 15))):
            r = int(rng.integers(2, max(3, H // 10)))
            cv2.circle(mask, (int(rng.integers(0, W)), int(rng.integers(0, H))), r, 1.0, -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 1.5)[..., None]
        f = f * (1 - mask) + src[::-1] * mask
    if rng.random() < 0.5:  # sensor noise (shot + read), stronger in the dark
        sigma = rng.uniform(1.0, 10.0)
        f = f + rng.normal(0, 1, f.shape).astype(np.float32) * sigma * np.sqrt((f + 10) / 128.0)
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:  # compression artefacts
        ok, enc = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 90))])
        if ok:
            img = cv2.imdecode(enc, cv2.IMREAD_UNCHANGED)
    return img


def augment(rng, img, seg, depth, boxes, strong=False):
    H, W = seg.shape
    if rng.random() < 0.5:  # horizontal flip
        img, seg, depth = img[:, ::-1], seg[:, ::-1], depth[:, ::-1]
        boxes = boxes.copy()
        x0 = W - boxes[:, 3]
        boxes[:, 3] = W - boxes[:, 1]
        boxes[:, 1] = x0
    s = rng.uniform(0.9, 1.15)  # scale jitter, re-cropped / padded to the same size
    if abs(s - 1) > 0.01:
        nh, nw = int(round(H * s)), int(round(W * s))
        img2 = cv2.resize(np.ascontiguousarray(img), (nw, nh), interpolation=cv2.INTER_LINEAR)
        seg2 = cv2.resize(np.ascontiguousarray(seg), (nw, nh), interpolation=cv2.INTER_NEAREST)
        dep2 = cv2.resize(np.ascontiguousarray(depth), (nw, nh), interpolation=cv2.INTER_NEAREST)
        # depth of a pixel does not change with a zoom, but apparent size does: a zoom by s is
        # (to first order) moving the camera closer, so scale metric depth by 1/s
        dep2 = np.where(dep2 >= FAR_M, dep2, dep2 / s)
        ox = int(rng.integers(0, nw - W + 1)) if nw >= W else -int(rng.integers(0, W - nw + 1))
        oy = int(round((nh - H) / 2))
        ci = np.zeros_like(img)
        cs = np.zeros_like(seg)
        cd = np.full_like(depth, 1e4)  # padding = ignored depth
        ys, yd = max(oy, 0), max(-oy, 0)
        xs, xd = max(ox, 0), max(-ox, 0)
        hh, ww = min(H - yd, nh - ys), min(W - xd, nw - xs)
        ci[yd:yd + hh, xd:xd + ww] = img2[ys:ys + hh, xs:xs + ww]
        cs[yd:yd + hh, xd:xd + ww] = seg2[ys:ys + hh, xs:xs + ww]
        cd[yd:yd + hh, xd:xd + ww] = dep2[ys:ys + hh, xs:xs + ww]
        if s < 1:
            cs[:] = np.where(np.pad(np.ones((hh, ww), bool), ((yd, H - yd - hh), (xd, W - xd - ww))), cs, 255)
        img, seg, depth = ci, cs, cd
        boxes = boxes.copy()
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * s - ox
        boxes[:, [2, 4]] = boxes[:, [2, 4]] * s - oy
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, W)
        boxes[:, [2, 4]] = boxes[:, [2, 4]].clip(0, H)
        ok = ((boxes[:, 3] - boxes[:, 1]) >= 2) & ((boxes[:, 4] - boxes[:, 2]) >= 2)
        boxes = boxes[ok]
    if strong and rng.random() < 0.7:
        img = randomise_sensor(rng, np.ascontiguousarray(img))
        return np.ascontiguousarray(img), np.ascontiguousarray(seg), np.ascontiguousarray(depth), boxes
    # colour jitter: brightness, contrast, saturation, per-channel gain
    f = img.astype(np.float32)
    f = f * rng.uniform(0.7, 1.3) + rng.uniform(-20, 20)
    m = f.mean()
    f = (f - m) * rng.uniform(0.7, 1.3) + m
    g = f.mean(2, keepdims=True)
    f = (f - g) * rng.uniform(0.7, 1.3) + g
    f = f * rng.uniform(0.9, 1.1, 3)
    img = np.clip(f, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img), np.ascontiguousarray(seg), np.ascontiguousarray(depth), boxes


def det_targets(boxes, H, W, K, stride=4):
    """CenterNet targets: gaussian heat [K,h,w], regression [4,h,w] (off_x, off_y, log w, log h in
    model pixels), reg mask [h,w], ignore mask [K,h,w] (heat loss weight 0 inside ignored boxes)."""
    h, w = H // stride, W // stride
    heat = np.zeros((K, h, w), np.float32)
    reg = np.zeros((4, h, w), np.float32)
    mask = np.zeros((h, w), np.float32)
    hw = np.ones((K, h, w), np.float32)
    ys, xs = np.arange(h)[:, None], np.arange(w)[None, :]
    order = np.argsort(-(boxes[:, 3] - boxes[:, 1]) * (boxes[:, 4] - boxes[:, 2])) if len(boxes) else []
    for j in order:  # large first, so small boxes own their centre cell
        c, x0, y0, x1, y1, keep = boxes[j]
        c = int(c)
        bw, bh = x1 - x0, y1 - y0
        if keep < 0.5:
            gx0, gx1 = int(x0 // stride), int(math.ceil(x1 / stride))
            gy0, gy1 = int(y0 // stride), int(math.ceil(y1 / stride))
            hw[c, gy0:gy1, gx0:gx1] = 0
            continue
        cx, cy = (x0 + x1) / 2 / stride, (y0 + y1) / 2 / stride
        ix, iy = min(int(cx), w - 1), min(int(cy), h - 1)
        sx = max(bw / stride / 6, 0.6)
        sy = max(bh / stride / 6, 0.6)
        g = np.exp(-((xs - ix) ** 2) / (2 * sx * sx) - ((ys - iy) ** 2) / (2 * sy * sy))
        heat[c] = np.maximum(heat[c], g)
        heat[c, iy, ix] = 1.0
        reg[:, iy, ix] = [cx - ix, cy - iy, math.log(max(bw, 1)), math.log(max(bh, 1))]
        mask[iy, ix] = 1
    hw = np.maximum(hw, (heat > 0.99).astype(np.float32))
    return heat, reg, mask, hw
