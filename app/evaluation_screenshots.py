"""Screenshots of the Evaluation view and the embedding map for the docs (issue 15).

    python -m app.evaluation_screenshots docs [--data /work/shared/data/clothing17]

Builds a temporary project from 6 classes of a folder-per-class set (40 photos each, 5 labeled
per class, method ``auto``), waits for embeddings, predictions and the estimate, then grabs
``evaluation_view.png`` (per-class table), ``evaluation_confusion.png``, ``embedding_map.png``
and ``evaluation_status.png`` (the main window with the estimate in its status bar).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

CLASSES = ["Dress", "Hat", "Pants", "Shirt", "Shoes", "T-Shirt"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--data", type=Path, default=Path("/work/shared/data/clothing17"))
    args = ap.parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from core.images import find_images
    from core.project import Project

    from .main_window import MainWindow
    from .screenshots import HEIGHT, WIDTH, _pause, _settled, _wait
    from .session import ProjectSession

    app = QApplication.instance() or QApplication(sys.argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "Clothes.fewlens"
        from core.images import file_hash

        with Project.create(path) as p:
            for name in CLASSES:
                files = find_images(args.data / name)[:40]
                ids = p.add_images([(f, file_hash(f)) for f in files])
                p.set_labels(ids[:5], p.add_class(name))
            p.set_setting("method", "auto")
        window = MainWindow(ProjectSession(Project.open(path)))
        window.resize(WIDTH, HEIGHT)
        window.show()
        _wait(app, lambda: _settled(window), 600)
        svc = window.evaluation.service
        _wait(app, lambda: svc.result is not None and not svc.stale and svc.job is None and _settled(window), 300)
        _pause(app, 1.0)
        window.grab().save(str(args.out / "evaluation_status.png"))
        view = window.evaluation.show_view()
        view.resize(900, 640)
        for tab, name in ((0, "evaluation_view.png"), (1, "evaluation_confusion.png"), (4, "embedding_map.png")):
            view.tabs.setCurrentIndex(tab)
            _pause(app, 0.5)
            view.grab().save(str(args.out / name))
        print(window.evaluation.status.full_text())
        window.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
