"""Build step for the light (torch-free) bundle: export every bundled backbone to ONNX.

    .venv/bin/python packaging/export_onnx.py [--out build/onnx]

Runs in the development venv (needs torch once).  Writes ``<weights_id>.onnx`` files, the
same names the embedder's ONNX cache uses, so the bundle's runtime hook can seed a user's
cache with them and ONNX Runtime never needs torch.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "build" / "onnx")
    args = ap.parse_args()

    from core.backbones import list_backbones
    from core.backbones.onnx_export import onnx_path_for

    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.onnx"):  # stale exports of changed weights must not ship
        old.unlink()
    for spec in list_backbones():
        if spec.onnx_file is not None:  # user backbones are not bundled
            continue
        src = onnx_path_for(spec)  # exports with torch when not cached yet
        dst = args.out / f"{spec.weights_id()}.onnx"
        shutil.copyfile(src, dst)
        print(f"{spec.id:<28} -> {dst.relative_to(ROOT) if dst.is_relative_to(ROOT) else dst} "
              f"({dst.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
