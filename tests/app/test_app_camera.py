"""The Camera panel driven offscreen, with a video made in the test as the camera."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
cv2 = pytest.importorskip("cv2")

from PIL import Image  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

from core.live_model import UNLABELED  # noqa: E402
from app.main_window import MainWindow  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.camera import CameraSource  # noqa: E402
from core.cli import main as cli  # noqa: E402
from core.project import Project  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"
CLASSES = ["Hat", "Pants", "Shoes"]
FPS = 15


@pytest.fixture
def project_path(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "mini.fewlens"
    assert cli(["project", "create", str(path), "--from", str(MINI), "--embed"]) == 0
    with Project.open(path) as p:
        p.set_setting("adapt_backbone", False)  # keep a background fine-tune out of these tests
    return path


def clothing_video(path: Path, seconds_each: float = 1.0, rounds: int = 1) -> tuple[Path, list[str]]:
    """320x240 video: a labeled photo of each class in turn; returns the class shown per second."""
    shown = []
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), FPS, (320, 240))
    for _ in range(rounds):
        for c in CLASSES:
            photo = sorted((MINI / c).glob("*.jpg"))[1]
            frame = np.full((240, 320, 3), 30, np.uint8)
            frame[:, 40:280] = np.asarray(Image.open(photo).convert("RGB").resize((240, 240)))
            for _ in range(int(FPS * seconds_each)):
                w.write(frame[:, :, ::-1].copy())
            shown.append(c)
    w.release()
    return path, shown


def open_window(qtbot, project_path: Path) -> MainWindow:
    window = MainWindow(ProjectSession(Project.open(project_path)))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    window.camera_panel.show()
    return window


def camera_threads() -> list[str]:
    return [t.name for t in threading.enumerate()
            if t.name in ("fewlens-camera-read", "fewlens-camera-recognize", "fewlens-camera-capture")]


def test_frames_are_classified_with_the_project_classes(qtbot, tmp_path, project_path):
    video, shown = clothing_video(tmp_path / "clip.avi", seconds_each=1.5)
    window = open_window(qtbot, project_path)
    panel = window.camera_panel
    loop = panel.start_source(CameraSource.parse(str(video)))
    results = {}
    deadline = time.monotonic() + 60
    while (loop.reading or not results) and time.monotonic() < deadline:
        qtbot.wait(20)
        r = loop.latest_result()
        if r is not None:
            results[r.seq] = r
    assert results, loop.error or loop.predict_error
    per_second = int(FPS * 1.5)
    right = 0
    for seq, r in results.items():
        assert sorted(r.class_names) == CLASSES
        right += r.top(1)[0][0] == shown[(seq - 1) // per_second]
    assert right >= 0.8 * len(results)
    # the overlay shows the top classes with bars in the class colors, and the measured rates
    o = panel.overlay_for(loop.latest_result())
    colors = {c.name: c.color for c in window.session.classes}
    assert [name for name, _, _ in o.rows] and all(colors[n] == col for n, _, col in o.rows)
    assert len(o.rows) == 3 and o.fps is not None and o.fps > 0 and o.latency_ms > 0
    # below the unknown threshold the overlay says so (the camera shows the gallery's calibrated
    # confidence: the session's Recognizer, so a clear frame can be above 0.9999)
    top = panel.overlay_for(loop.latest_result()).rows[0][1]
    assert top < 1.0
    window.session.set_threshold(1.0)
    assert panel.overlay_for(loop.latest_result()).unknown
    window.close()


def test_hold_to_capture_adds_labeled_examples_that_survive_reopening(qtbot, tmp_path, project_path):
    video, _ = clothing_video(tmp_path / "clip.avi", seconds_each=2.0, rounds=2)
    window = open_window(qtbot, project_path)
    panel, s = window.camera_panel, window.session
    hat = next(c.id for c in s.classes if c.name == "Hat")
    before = int((s.labels == hat).sum())
    n_before = len(s)
    panel.select_class(hat)
    loop = panel.start_source(CameraSource.parse(str(video)))
    qtbot.waitUntil(lambda: loop.latest_frame() is not None, timeout=20000)
    assert panel.rate_spin.value() == 5  # the default rate
    qtbot.mousePress(panel.hold_button, Qt.MouseButton.LeftButton)
    t0 = time.monotonic()
    qtbot.wait(2000)
    qtbot.mouseRelease(panel.hold_button, Qt.MouseButton.LeftButton)
    held = time.monotonic() - t0
    qtbot.waitUntil(lambda: window.undo_stack.count() == 1, timeout=30000)
    added = len(s) - n_before
    expected = int(np.ceil(held * 5))
    assert abs(added - expected) <= 1 and added >= 9, (added, held)
    assert int((s.labels == hat).sum()) == before + added
    assert window.undo_stack.undoText() == f"Capture {added} images of Hat"
    new_files = [Path(f) for f in s.files[n_before:]]
    assert all(f.is_file() and f.parent == tmp_path / "mini captures" / "Hat" for f in new_files)
    assert s.emb.have[n_before:].all()  # embedded on capture: predictions include them at once
    qtbot.waitUntil(lambda: s.predictions_current, timeout=20000)

    # one Undo removes the whole hold (the files stay on disk); Redo brings it back
    window.undo_stack.undo()
    assert len(s) == n_before and all(f.is_file() for f in new_files)
    window.undo_stack.redo()
    assert len(s) == n_before + added

    # the space bar held in the panel captures too
    n_mid = len(s)
    qtbot.keyPress(panel, Qt.Key.Key_Space)
    qtbot.wait(700)
    qtbot.keyRelease(panel, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 2, timeout=30000)
    assert 3 <= len(s) - n_mid <= 5
    # single shot
    qtbot.mouseClick(panel.shot_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.undo_stack.count() == 3, timeout=30000)
    total = len(s) - n_before
    window.close()
    assert camera_threads() == []

    with Project.open(project_path) as p:
        recs = [r for r in p.images() if Path(r.file).parent == tmp_path / "mini captures" / "Hat"]
        assert len(recs) == total and all(r.class_id == hat and not r.missing for r in recs)


def test_end_of_stream_shows_the_message_and_retry_recovers(qtbot, tmp_path, project_path):
    video, _ = clothing_video(tmp_path / "short.avi", seconds_each=0.4)
    window = open_window(qtbot, project_path)
    panel = window.camera_panel
    panel.start_source(CameraSource.parse(str(video)))
    qtbot.waitUntil(lambda: panel.retry_button.isVisible(), timeout=30000)
    assert panel.view.message == f"{video}: end of the video"
    assert panel.status.text() == f"{video}: end of the video"
    panel.retry_button.click()
    loop = panel.loop
    assert loop is not None and not panel.retry_button.isVisible()
    qtbot.waitUntil(lambda: panel._shown_seq > 0 and panel.view.message == "", timeout=20000)
    window.close()


class DyingCamera:
    """A camera that gives a few frames, then stops (unplugged)."""

    def __init__(self, frames: int):
        self.left = frames

    def get(self, _prop):
        return 0.0

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        time.sleep(0.02)
        return True, np.full((240, 320, 3), 128, np.uint8)

    def release(self):
        pass


def test_a_read_failure_shows_the_message_and_retry_recovers(qtbot, tmp_path, project_path, monkeypatch):
    import core.camera

    monkeypatch.setattr(core.camera, "open_capture", lambda source: DyingCamera(10))
    window = open_window(qtbot, project_path)
    panel = window.camera_panel
    panel.start_source(CameraSource.parse("0"))
    qtbot.waitUntil(lambda: panel.retry_button.isVisible(), timeout=20000)
    assert panel.view.message.startswith("camera 0: stopped sending frames")
    monkeypatch.setattr(core.camera, "open_capture", lambda source: DyingCamera(10_000))
    panel.retry_button.click()
    qtbot.waitUntil(lambda: panel.loop.frames_read > 20 and panel.view.message == "", timeout=20000)
    assert panel.loop.state == "running" and not panel.retry_button.isVisible()
    window.close()
    assert camera_threads() == []


def test_closing_the_window_leaves_no_capture_thread(qtbot, tmp_path, project_path):
    video, _ = clothing_video(tmp_path / "clip.avi", seconds_each=3.0)
    window = open_window(qtbot, project_path)
    loop = window.camera_panel.start_source(CameraSource.parse(str(video)))
    qtbot.waitUntil(lambda: loop.latest_result() is not None, timeout=30000)
    assert "fewlens-camera-read" in camera_threads()
    window.close()
    assert camera_threads() == []
    assert not loop.alive


def test_the_roi_is_dragged_and_resized_on_the_view(qtbot, tmp_path, project_path):
    from core.camera import Roi

    video, _ = clothing_video(tmp_path / "clip.avi", seconds_each=3.0)
    window = open_window(qtbot, project_path)
    panel = window.camera_panel
    loop = panel.start_source(CameraSource.parse(str(video)))
    qtbot.waitUntil(lambda: panel.view.roi_rect() is not None, timeout=20000)
    view = panel.view
    r = view.roi_rect()
    assert abs(r.width() - r.height()) < 1.5  # the default: a centered square, full height
    # resize from the bottom-right corner (it stays square), then move it by its middle
    from PySide6.QtCore import QPoint

    corner = r.bottomRight().toPoint()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=corner)
    qtbot.mouseMove(view, corner - QPoint(40, 20))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=corner - QPoint(40, 20))
    small = view.roi_rect()
    assert small.width() < r.width() - 15 and abs(small.width() - small.height()) < 1.5
    assert small.topLeft() == r.topLeft()  # the opposite corner stayed put
    mid = small.center().toPoint()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=mid)
    qtbot.mouseMove(view, mid + QPoint(10, 5))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=mid + QPoint(10, 5))
    moved = view.roi_rect()
    assert abs(moved.left() - small.left() - 10) < 1.5 and abs(moved.width() - small.width()) < 0.5
    assert loop.roi == view.roi and isinstance(loop.roi, Roi)
    # what is classified follows: the crop has the ROI's size in frame pixels
    x0, y0, x1, y1 = loop.roi.pixels(320, 240)
    assert loop.roi_crop().shape == (y1 - y0, x1 - x0, 3) and x1 - x0 < 240
    window.close()
