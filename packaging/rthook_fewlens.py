"""PyInstaller runtime hook: runs before FewLens starts inside the bundle.

* points ``core.paths.assets_dir()`` at the bundled ``assets/``;
* ``FEWLENS_SCREENSHOT=out.png``: saves the main window ``FEWLENS_SCREENSHOT_DELAY_MS`` (20000)
  after the app starts and quits -- for docs/ screenshots of the bundled app (with
  ``QT_QPA_PLATFORM=offscreen`` where there is no display);
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


def _screenshot_on_start(out: str, delay_ms: int) -> None:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication, QMainWindow

    run = QApplication.exec

    def shoot() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible()]
        ok = bool(wins) and wins[0].grab().save(out)
        print(f"fewlens: {'saved' if ok else 'could not save'} a screenshot to {out}", file=sys.stderr)
        QApplication.exit(0 if ok else 1)

    def exec_with_screenshot(*_self):  # called on the instance; the static exec() takes none
        QTimer.singleShot(delay_ms, shoot)
        return run()

    QApplication.exec = exec_with_screenshot


base = Path(getattr(sys, "_MEIPASS", Path(sys.executable).parent))
os.environ.setdefault("FEWLENS_ASSETS_DIR", str(base / "assets"))
_seed_onnx_cache()
if os.environ.get("FEWLENS_SCREENSHOT"):
    _screenshot_on_start(os.environ["FEWLENS_SCREENSHOT"], int(os.environ.get("FEWLENS_SCREENSHOT_DELAY_MS", "20000")))
