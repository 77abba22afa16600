"""Render the main window to PNGs for the docs: ``python -m app.screenshots docs``.

Builds the sample project in a temporary data folder (the user's own projects
and caches are untouched apart from the shared embedding/ONNX cache), waits
for real embeddings, predictions and thumbnails, then grabs:

- ``main_window.png``: the sample project with live predictions;
- ``detail_view.png``: an image selected in "Needs review", with its top-5;
- ``import_progress.png``: a second folder importing, with progress and Cancel;
- ``welcome.png`` and ``help.png``: the first-run welcome and Help → How FewLens works.

``python -m app.screenshots OUT --adaptation`` instead labels 5 photos per class of the
sample project and grabs ``adapting.png`` (the backbone adapting to the labels, with
progress and Cancel) and ``adapted.png`` (predictions on the adapted features); it prints
how long that took and the longest the UI thread went without running a timer meanwhile.
``--camera`` grabs ``camera.png``: the Camera panel recognizing a video of the sample photos.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

WIDTH, HEIGHT = 1440, 900


def _wait(app, cond, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise TimeoutError("the window did not settle in time")
        app.processEvents()
        time.sleep(0.01)


def _settled(window) -> bool:
    s = window.session
    t = window.thumbs
    ev = window.evaluation.service  # the status bar's accuracy estimate, not "Estimating…"
    return (not window.jobs and s.pending_embeddings == 0 and s.predictions_current
            and not t._queue and t._active == 0 and (ev is None or not (ev.running or ev.stale)))


def _pause(app, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


class _Slow:
    """Embedder proxy that takes its time (screenshot of an import in progress)."""

    def __init__(self, inner, delay: float = 0.35):
        self._inner = inner
        self._delay = delay

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def embed_batch(self, x):
        time.sleep(self._delay)
        return self._inner.embed_batch(x)

    def embed_images(self, images):
        time.sleep(self._delay)
        return self._inner.embed_images(images)


def _sample_window(app, tmp: Path):
    """The bundled sample project in a shown main window, once its predictions have settled."""
    from core.project import Project

    from .main_window import MainWindow
    from .sample_project import build_sample_project
    from .session import ProjectSession

    window = MainWindow(ProjectSession(Project.open(build_sample_project(tmp / "Sample - clothing.fewlens"))))
    window.resize(WIDTH, HEIGHT)
    window.show()
    _wait(app, lambda: _settled(window))
    return window


def adaptation_shots(app, out: Path, tmp: Path) -> None:
    """The sample project with 5 labels per class: mid-adaptation, then adapted."""
    from PySide6.QtCore import QTimer

    window = _sample_window(app, tmp)
    s = window.session
    for c in s.classes:  # the first 5 photos (by file name) of each class, as a user would
        rows = sorted((r for r in range(len(s)) if Path(s.files[r]).parent.name == c.name),
                      key=lambda r: Path(s.files[r]).name)
        s.set_labels([int(s.ids[r]) for r in rows[:5]], c.id)
    # UI-thread stalls: the longest gap between ticks of a 10 ms timer while adapting
    ticks: list[float] = []
    timer = QTimer(interval=10)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    started = time.monotonic()
    _wait(app, lambda: window.adapter.running, timeout=30)
    job = window.adapter.job
    grabbed: list[bool] = []

    def on_progress(done: int, total: int) -> None:
        if not grabbed and total and done >= total * 0.5:
            grabbed.append(True)
            window.grab().save(str(out / "adapting.png"))

    job.progress.connect(on_progress)
    _wait(app, lambda: not window.adapter.running and s.adapted_in_use and _settled(window), timeout=600)
    timer.stop()
    elapsed = time.monotonic() - started
    unlabeled = [int(s.ids[r]) for r in range(len(s)) if s.labels[r] < 0]
    window.gallery.select_ids([unlabeled[3]], current=unlabeled[3])
    _pause(app, 0.5)
    _wait(app, lambda: _settled(window))
    window.grab().save(str(out / "adapted.png"))
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    print(f"adapted to {s.adapted.n_labels} labels, {len(s)} images re-embedded on {s.adapted.device}: "
          f"{elapsed:.1f} s; longest UI-thread gap {max(gaps) * 1e3:.0f} ms "
          f"(timer ticks {len(ticks)}); status: {window.status_features.text()!r}")
    window.close()
    for name in ("adapting.png", "adapted.png"):
        print(out / name)


def camera_shot(app, out: Path, tmp: Path) -> None:
    """``camera.png``: the sample project with the Camera panel recognizing a video of its photos."""
    import cv2
    import numpy as np
    from PIL import Image
    from PySide6.QtCore import Qt

    from core.camera import CameraSource

    from .sample_project import sample_images_dir

    photos = [sorted(d.glob("*.jpg"))[-1] for d in sorted(p for p in sample_images_dir().iterdir() if p.is_dir())]
    video = tmp / "sample clip.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 30, (640, 480))
    for photo in photos:  # each photo fitted (aspect kept) in a 640x480 frame, 4 s each
        img = Image.open(photo).convert("RGB")
        k = min(640 / img.width, 480 / img.height)
        img = img.resize((int(img.width * k), int(img.height * k)))
        frame = np.full((480, 640, 3), 40, np.uint8)
        x, y = (640 - img.width) // 2, (480 - img.height) // 2
        frame[y:y + img.height, x:x + img.width] = np.asarray(img)[:, :, ::-1]
        for _ in range(120):
            w.write(frame)
    w.release()
    window = _sample_window(app, tmp)
    panel = window.camera_panel
    panel.show()
    window.resizeDocks([panel], [620], Qt.Orientation.Horizontal)
    loop = panel.start_source(CameraSource.parse(str(video)))
    _wait(app, lambda: loop.latest_result() is not None and loop.frames_read > 40, timeout=60)

    def showing_its_class() -> bool:  # a moment where the top class is the photo's folder
        r = loop.latest_result()
        shown = photos[min((r.seq - 1) // 120, len(photos) - 1)].parent.name
        return (r.seq - 1) % 120 > 30 and r.top(1)[0][0] == shown or not loop.reading

    _wait(app, showing_its_class, timeout=60)
    _pause(app, 0.3)
    window.grab().save(str(out / "camera.png"))
    window.close()
    print(out / "camera.png")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    adapt = "--adaptation" in argv
    camera = "--camera" in argv
    argv = [a for a in argv if a not in ("--adaptation", "--camera")]
    out = Path(argv[0] if argv else "docs")
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="fewlens-shots-"))
    os.environ["FEWLENS_DATA_DIR"] = str(tmp / "data")
    os.environ.setdefault("FEWLENS_CONFIG_DIR", str(tmp / "config"))

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(["fewlens"])
    from core.project import Project

    from .jobs import embedding as workers
    from .main_window import MainWindow
    from .sample_project import sample_images_dir
    from .session import ProjectSession
    from .widgets.gallery import GalleryFilter
    from .widgets.theme import apply_theme

    apply_theme(app)
    if adapt:
        adaptation_shots(app, out, tmp)
        return 0
    if camera:
        camera_shot(app, out, tmp)
        return 0

    # 1. the sample project, live predictions, an unlabeled image selected
    window = _sample_window(app, tmp)
    s = window.session
    unlabeled = [int(s.ids[r]) for r in range(len(s)) if s.labels[r] < 0]
    window.gallery.select_ids([unlabeled[3]], current=unlabeled[3])
    _pause(app, 0.3)
    _wait(app, lambda: _settled(window))
    window.grab().save(str(out / "main_window.png"))

    # 1b. the first-run welcome and the Help page
    welcome = window.files.show_welcome()
    _pause(app, 0.3)
    welcome.grab().save(str(out / "welcome.png"))
    welcome.close()
    helpdlg = window.show_help("How FewLens works")
    _pause(app, 0.3)
    helpdlg.grab().save(str(out / "help.png"))
    helpdlg.close()

    # 2. "Needs review": least confident first, the first one in the detail view
    window.set_filter(GalleryFilter("review"))
    _pause(app, 0.5)
    _wait(app, lambda: _settled(window))
    window.grab().save(str(out / "detail_view.png"))
    window.close()

    # 3. importing: half of each class already in (labeled by folder name), the other half arriving
    workers.CHUNK = 8  # tiles appear in small steps, as they do on big folders
    staging = tmp / "photos"
    for d in sorted(p for p in sample_images_dir().iterdir() if p.is_dir()):
        files = sorted(d.glob("*.jpg"))
        for part, chunk in (("labeled", files[: len(files) // 2]), ("new", files[len(files) // 2 :])):
            (staging / part / d.name).mkdir(parents=True, exist_ok=True)
            for f in chunk:
                (staging / part / d.name / f.name).symlink_to(f)
    project = tmp / "Import demo.fewlens"
    Project.create(project).close()
    window = MainWindow(ProjectSession(Project.open(project)))
    window.resize(WIDTH, HEIGHT)
    window.show()
    window.imports.ask_use_subfolders = lambda names: True
    window.imports.import_paths([staging / "labeled"])
    _wait(app, lambda: _settled(window))
    window.imports.ask_use_subfolders = lambda names: False
    window.set_filter(GalleryFilter("unlabeled"))
    # Slow the backbone down for this shot only, so the grab lands mid-import.
    real_get = workers.get_embedder

    def slow_embedder(backbone: str):
        return _Slow(real_get(backbone))

    workers.get_embedder = slow_embedder
    # ...and the cache lookups: these photos are usually in the user-wide embedding cache already
    real_lookup = workers.LayeredCache.get_many

    def slow_lookup(self, hashes, backbone_id):
        time.sleep(0.08)
        return real_lookup(self, hashes, backbone_id)

    workers.LayeredCache.get_many = slow_lookup
    job = window.imports.import_paths([staging / "new"])
    grabbed = []

    def on_progress(done: int, total: int) -> None:
        if not grabbed and total and done >= total * 0.4:
            grabbed.append(True)
            _pause(app, 0.3)  # thumbnails of the tiles just added
            window.grab().save(str(out / "import_progress.png"))

    job.progress.connect(on_progress)
    _wait(app, lambda: not window.jobs)
    window.close()
    for name in ("main_window.png", "welcome.png", "help.png", "detail_view.png", "import_progress.png"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
