"""PyInstaller runtime hook: runs before FewLens starts inside the bundle.

* points ``core.paths.assets_dir()`` at the bundled ``assets/``;
* seeds the user's ONNX cache with the pre-exported backbones (``assets/onnx/*.onnx``) so the
  embedder finds them under the names it looks for and never needs torch to export.  Copying
  once is a workaround: if ``core.backbones.onnx_export.onnx_path_for`` learns to look in
  ``assets_dir()/onnx`` first, this part can go.
"""

import os
import shutil
import sys
from pathlib import Path


def _seed_onnx_cache() -> None:
    bundled = Path(os.environ["FEWLENS_ASSETS_DIR"]) / "onnx"
    if not bundled.is_dir():
        return  # the full bundle exports with torch on first use
    try:
        from core.paths import cache_dir

        target = cache_dir() / "onnx"
        target.mkdir(parents=True, exist_ok=True)
        for src in bundled.glob("*.onnx"):
            dst = target / src.name
            if dst.exists() and dst.stat().st_size == src.stat().st_size:
                continue
            tmp = dst.with_name(dst.name + f".{os.getpid()}.tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)  # atomic: a second instance never sees half a model
    except OSError as e:  # a read-only cache dir: the app reports the model error itself
        print(f"fewlens: could not prepare the model cache: {e}", file=sys.stderr)


base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
os.environ.setdefault("FEWLENS_ASSETS_DIR", str(base / "assets"))
_seed_onnx_cache()
