#!/usr/bin/env python3
"""Run a model exported from FewLens.  Needs only onnxruntime, numpy and Pillow.

    python predict_fewlens.py model.onnx photo.jpg folder/ [--csv out.csv]

Prints one tab-separated line per image: file, top class, confidence, unknown flag (1 when the
confidence is below the model's threshold, else 0).  Folders are searched recursively for images.
Preprocessing is FewLens's own (core/images.py + core/preprocess.py), reproduced exactly:
decode, EXIF transpose, RGB (transparency on white), JPEG draft / integer reduce, resize the
shorter side (bilinear) and center-crop; the model normalizes the uint8 pixels itself.

This file is written beside the model by ``fewlens export``; it is self-contained on purpose.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif"}
FORMATS = ("JPEG", "PNG", "BMP", "WEBP", "TIFF", "GIF")


def find_images(args: list[str]) -> list[Path]:
    found: set[Path] = set()
    for p in map(Path, args):
        if p.is_dir():
            for f in p.rglob("*"):
                if not any(part.startswith(".") for part in f.relative_to(p).parts) and f.is_file() \
                        and f.suffix.lower() in IMAGE_EXTENSIONS:
                    found.add(f)
        elif p.exists():
            found.add(p)
        else:
            print(f"{p}: file not found", file=sys.stderr)
    return sorted(found)


def to_rgb(img: Image.Image) -> Image.Image:
    mode = img.mode
    if mode == "RGB":
        return img
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        if img.mode == "RGB":
            return img
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if mode.startswith("I") or mode == "F":  # 16/32-bit: scale the range, never clip
        a = np.asarray(img).astype(np.float64)
        if mode == "F":
            lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
            s = a * 255.0 if (lo >= 0 and hi <= 1) else ((a - lo) * (255.0 / (hi - lo)) if hi > lo else a * 0)
        else:
            hi = float(a.max()) if a.size else 0.0
            full = 65535.0 if hi <= 65535 else hi
            s = a * (255.0 / full) if a.min() >= 0 else (a - a.min()) * (255.0 / max(1.0, hi - a.min()))
        return Image.fromarray(np.clip(np.rint(s), 0, 255).astype(np.uint8), mode="L").convert("RGB")
    return img.convert("RGB")


def load(path: Path, resize: int) -> Image.Image:
    """Decode like FewLens: draft JPEGs so the shorter side stays >= resize, then an integer reduce."""
    with Image.open(path, formats=FORMATS) as img:
        if img.format in ("JPEG", "MPO"):
            img.draft("RGB", (resize, resize))
        img.load()
        try:
            t = ImageOps.exif_transpose(img)
        except Exception:  # broken EXIF: the pixels are still good
            t = img
        rgb = to_rgb(t)
        factor = min(rgb.size) // resize
        if factor >= 2:
            rgb = rgb.reduce(factor)
        return rgb.copy() if rgb is img else rgb


def crop(img: Image.Image, resize: int, size: int) -> np.ndarray:
    """Shorter side to ``resize`` (bilinear, reducing_gap=None, rounded), center crop ``size``."""
    w, h = img.size
    scale = resize / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.Resampling.BILINEAR, reducing_gap=None)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Predict with a FewLens model (onnxruntime, numpy, Pillow only).")
    ap.add_argument("model", type=Path)
    ap.add_argument("images", nargs="+", help="image files or folders")
    ap.add_argument("--csv", type=Path, metavar="OUT", help="write the lines to a CSV file instead of printing")
    ap.add_argument("--batch", type=int, default=32)
    args = ap.parse_args(argv)

    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
        meta = json.loads(sess.get_modelmeta().custom_metadata_map["fewlens"])
    except Exception as e:
        print(f"{args.model}: not a FewLens model ({str(e).strip().splitlines()[-1][:160] if str(e).strip() else e})",
              file=sys.stderr)
        return 2
    names = [c["name"] for c in meta["classes"]]
    size, resize = int(meta["input"]["size"]), int(meta["input"]["resize"])
    threshold = float(meta.get("unknown_threshold", 0.0))
    files = find_images(args.images)
    rows, failed = [], 0
    for i in range(0, len(files), args.batch):
        batch, ok = [], []
        for f in files[i:i + args.batch]:
            try:
                batch.append(crop(load(f, resize), resize, size))
                ok.append(f)
            except Exception as e:  # one bad file never stops the rest
                failed += 1
                print(f"{f}: skipped ({type(e).__name__}: {str(e)[:120]})", file=sys.stderr)
        if not batch:
            continue
        probs, top = sess.run(["probs", "top"], {"images": np.stack(batch)})
        for f, p, t in zip(ok, probs, top):
            conf = float(p[int(t)])
            rows.append([str(f), names[int(t)], f"{conf:.4f}", "1" if conf < threshold else "0"])
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["file", "class", "confidence", "unknown"])
            w.writerows(rows)
    else:
        for r in rows:
            print("\t".join(r))
    return 1 if failed or not files else 0


if __name__ == "__main__":
    sys.exit(main())
