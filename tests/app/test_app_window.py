"""Main-window features beyond the core loop: keys, class deletion, missing files,
Try it, the sample project and the `fewlens gui` command."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QLineEdit  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.sample_project import LABELED_PER_CLASS, ensure_sample_project, sample_images_dir  # noqa: E402
from app.session import ProjectSession  # noqa: E402
from core.live_model import UNLABELED  # noqa: E402
from core.project import Project  # noqa: E402
from app_helpers import idle, imported_window  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"


@pytest.fixture
def labeled_window(qtbot, tmp_path, monkeypatch):
    """clothing_mini imported with its folder names as labels, then 4 of 6 per class unlabeled."""
    window = imported_window(qtbot, tmp_path, monkeypatch)
    s = window.session
    assert sorted(c.name for c in s.classes) == ["Hat", "Pants", "Shoes"] and s.labeled_count == 18
    keep = {int(s.ids[r]) for c in s.classes for r in np.flatnonzero(s.labels == c.id)[:2]}
    s.set_labels([int(i) for i in s.ids if int(i) not in keep], None)
    s.set_threshold(0.0)  # a manual threshold: no prediction is "unknown" here
    qtbot.waitUntil(lambda: idle(window), timeout=20_000)
    yield window
    window.close()


def test_enter_accepts_and_delete_removes(qtbot, labeled_window):
    w = labeled_window
    s = w.session
    unl = [int(i) for i in s.ids[s.labels == UNLABELED]][:3]
    w.gallery.select_ids(unl, current=unl[0])
    w.gallery.setFocus()
    expected = s.predicted_labels(unl)
    assert len(expected) == 3
    qtbot.keyClick(w.gallery, Qt.Key.Key_Return)
    assert {i: int(s.labels[s.row_of(i)]) for i in unl} == expected
    qtbot.keyClick(w.gallery, Qt.Key.Key_0)  # 0 removes the label again
    assert all(s.labels[s.row_of(i)] == UNLABELED for i in unl)

    w.gallery.select_ids(unl[:2], current=unl[0])
    qtbot.keyClick(w.gallery, Qt.Key.Key_Delete)
    assert len(s) == 16 and s.project.image_count() == 16
    assert all(p.exists() for p in w.photos.rglob("*.jpg"))  # never deleted from disk
    qtbot.keyClick(w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert len(s) == 18 and s.project.image_count() == 18


def test_right_click_menu_offers_every_labeling_action(labeled_window):
    w = labeled_window
    s = w.session
    img = int(s.ids[s.labels == UNLABELED][0])
    w.gallery.select_ids([img], current=img)
    menu = w.class_actions.gallery_menu()
    texts = [a.text().split("\t")[0] for a in menu.actions() if a.text()]
    assert texts == ["Label image as", "Accept prediction", "Remove label", "Copy file path", "Remove from project"]
    label_as = menu.actions()[0].menu()
    shoes = next(a for a in label_as.actions() if a.text().startswith("Shoes"))
    shoes.trigger()
    assert s.class_by_id(int(s.labels[s.row_of(img)])).name == "Shoes"


def test_delete_class_asks_with_count_and_undoes(qtbot, labeled_window):
    w = labeled_window
    s = w.session
    hat = next(c for c in s.classes if c.name == "Hat")
    asked = []
    w.class_actions.confirm_delete_class = lambda name, count: asked.append((name, count)) or False
    w.class_actions.delete_class(hat.id)
    assert asked == [("Hat", 2)] and s.class_by_id(hat.id) is not None  # said no: nothing happened
    w.class_actions.confirm_delete_class = lambda name, count: True
    w.class_actions.delete_class(hat.id)
    assert s.class_by_id(hat.id) is None and s.labeled_count == 4
    qtbot.waitUntil(lambda: idle(w), timeout=20_000)
    assert hat.id not in set(s.pred.top.tolist())
    w.undo_stack.undo()
    assert s.class_by_id(hat.id).name == "Hat" and s.labeled_count == 6


def test_missing_files_are_shown_and_located(qtbot, tmp_path, labeled_window):
    w = labeled_window
    path = w.session.path
    labels = dict(w.session.project.labels())
    w.close()
    moved = tmp_path / "moved"
    w.photos.rename(moved)
    w2 = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(w2)
    w2.show()
    s = w2.session
    assert s.missing.all() and len(s) == 18  # shown as missing, not dropped
    info = s.image_row(0)
    assert info.missing and "missing" in w2.model._tooltip(info).lower()
    w2.imports.start_locate(moved)
    qtbot.waitUntil(lambda: not w2.jobs and not s.missing.any(), timeout=30_000)
    assert all(str(p).startswith(str(moved)) for p in s.paths)
    assert dict(s.project.labels()) == labels
    qtbot.waitUntil(lambda: idle(w2), timeout=30_000)
    w2.close()


def test_try_it_predicts_without_adding(qtbot, labeled_window):
    w = labeled_window
    s = w.session
    dialog = w.show_try_it()
    probe = sorted((MINI / "Shoes").glob("*.jpg"))[-1]
    dialog.try_paths([probe])
    qtbot.waitUntil(lambda: len(dialog.results) == 1 and dialog.job and not dialog.job.running, timeout=30_000)
    result = dialog.results[0]
    assert result.error is None and len(result.top) == 3
    assert s.class_by_id(result.top[0][0]).name == "Shoes"
    assert result.backbone_sees  # the ImageNet head has an opinion too
    assert len(s) == 18 and s.project.image_count() == 18  # not added
    assert "Shoes" in dialog.row_text(0) and probe.name in dialog.row_text(0)
    dialog.close()


def test_sample_project_is_built_outside_assets(tmp_path, monkeypatch):
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    assets = sample_images_dir()

    def fingerprint() -> str:
        h = hashlib.sha256()
        for f in sorted(assets.parent.rglob("*")):
            h.update(f"{f}:{f.stat().st_mtime_ns}:{f.stat().st_size}".encode())
        return h.hexdigest()

    before = fingerprint()
    path = ensure_sample_project()
    assert path.parent == tmp_path / "data"
    with Project.open(path) as p:
        classes = p.classes()
        assert len(classes) == 6 and all(c.count == LABELED_PER_CLASS for c in classes)
        assert p.counts().images == 72 and p.counts().unlabeled == 72 - 6 * LABELED_PER_CLASS
        assert not p.missing_images()
        p.set_labels([r.id for r in p.images()][:5], classes[0].id)  # the user edits their copy
    assert ensure_sample_project() == path  # reopened, not rebuilt
    assert fingerprint() == before  # assets/ untouched


def test_gui_command_is_registered():
    from core.cli import build_parser

    args = build_parser().parse_args(["gui", "some.fewlens"])
    assert args.project == "some.fewlens" and callable(args.func)


def test_cancel_import_keeps_what_was_imported(qtbot, tmp_path, monkeypatch):
    from app.jobs import embedding as workers

    monkeypatch.setattr(workers, "CHUNK", 4)
    path = tmp_path / "c.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    window.imports.ask_use_subfolders = lambda names: False
    # The worker waits after its first chunk until the user's click has landed: with every photo
    # already in the embedding cache it would otherwise finish before the UI thread sees a chunk.
    import threading

    import core.pipeline

    clicked, real_embed, calls = threading.Event(), core.pipeline.embed_files, []

    def embed_files(*a, **kw):
        if calls:
            clicked.wait(30)
        calls.append(1)
        return real_embed(*a, **kw)

    monkeypatch.setattr(core.pipeline, "embed_files", embed_files)

    def user_clicks_cancel(_chunk):
        window.banner.cancel_button.click()
        clicked.set()

    job = window.imports.import_paths([MINI])
    job.chunk.connect(user_clicks_cancel)
    assert window.banner.isVisible()
    qtbot.waitUntil(lambda: not window.jobs, timeout=60_000)
    s = window.session
    assert job.cancelled and 4 <= len(s) < 18
    assert s.emb.have.all() and s.project.image_count() == len(s)
    assert not window.banner.isVisible()
    assert "cancelled" in window.statusBar().currentMessage().lower()
    window.close()


def test_add_class_button_then_type_its_name(qtbot, tmp_path):
    path = tmp_path / "n.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    qtbot.mouseClick(window.classes_panel.add_button, Qt.MouseButton.LeftButton)
    s = window.session
    assert [c.name for c in s.classes] == ["Class 1"]
    editors = window.classes_panel.list.viewport().findChildren(QLineEdit)  # opened on the new class
    assert len(editors) == 1 and editors[0].text() == "Class 1"
    editor = editors[0]
    editor.selectAll()
    qtbot.keyClicks(editor, "Sneakers")
    qtbot.keyClick(editor, Qt.Key.Key_Return)  # the delegate commits on the next event-loop turn
    qtbot.waitUntil(lambda: [c.name for c in s.classes] == ["Sneakers"], timeout=5_000)
    assert [c.name for c in s.project.classes()] == ["Sneakers"]
    window.undo_stack.undo()  # rename undone, then the add
    assert [c.name for c in s.classes] == ["Class 1"]
    window.undo_stack.undo()
    assert s.classes == []
    window.close()


def test_zoom_changes_tile_and_thumbnail_size(qtbot, tmp_path):
    from app.main_window import THUMB_SIZES

    path = tmp_path / "z.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    before = window.gallery.gridSize()
    window.zoom(-1)
    assert window.thumbs.size < THUMB_SIZES[-1] and window.gallery.gridSize().width() < before.width()
    for _ in range(10):
        window.zoom(+1)
    assert window.thumbs.size == THUMB_SIZES[-1]  # clamped at the largest step
    window.close()


def test_open_project_reads_off_the_ui_thread_and_reports_bad_files(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    first, second = tmp_path / "a.fewlens", tmp_path / "b.fewlens"
    Project.create(first).close()
    with Project.create(second) as p:
        p.add_class("Owl")
        p.add_images([(tmp_path / "owl.jpg", "0" * 64)])
    window = MainWindow(ProjectSession(Project.open(first)))
    qtbot.addWidget(window)
    window.files.open_project(second)
    qtbot.waitUntil(lambda: window.session.path == second, timeout=10_000)
    assert len(window.session) == 1 and window.session.classes[0].name == "Owl"
    assert window.session.missing.all()  # the file is not there: shown as missing
    assert window.windowTitle().startswith("b")

    # Save As: a copy with everything, and the window continues in the copy
    copy = tmp_path / "copy.fewlens"
    window.files.start_save_as(copy)
    qtbot.waitUntil(lambda: window.session.path == copy, timeout=10_000)
    assert [c.name for c in window.session.classes] == ["Owl"] and len(window.session) == 1
    with Project.open(second) as original:
        assert original.image_count() == 1  # the original is untouched

    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda *a: warnings.append(a[2]))
    junk = tmp_path / "notes.fewlens"
    junk.write_text("not a project")
    job = window.files.open_project(junk, wait=True)
    assert job.error and warnings and "notes.fewlens" in warnings[0]
    assert window.session.path == copy  # the open project stays open
    window.close()


def test_a_model_that_cannot_load_is_reported(qtbot, tmp_path, monkeypatch):
    from app.jobs import embedding as workers
    from core.errors import ModelFileError

    def broken(backbone):
        raise ModelFileError(tmp_path / "model.onnx", "truncated file")

    monkeypatch.setattr(workers, "get_embedder", broken)
    path = tmp_path / "m.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    window.imports.ask_use_subfolders = lambda names: False
    window.imports.import_paths([MINI / "Hat"])
    qtbot.waitUntil(lambda: not window.jobs, timeout=10_000)
    assert window.report.isVisible() and "model.onnx" in window.report.list.item(0).text()
    assert len(window.session) == 0
    window.close()


def test_a_second_project_reuses_embeddings_of_the_same_photos(qtbot, tmp_path, monkeypatch):
    from app.jobs import embedding as workers

    def import_into(name: str) -> MainWindow:
        path = tmp_path / name
        Project.create(path).close()
        window = MainWindow(ProjectSession(Project.open(path)))
        qtbot.addWidget(window)
        window.imports.ask_use_subfolders = lambda names: False
        window.imports.import_paths([MINI / "Shoes"])
        qtbot.waitUntil(lambda: len(window.session) == 6 and idle(window), timeout=60_000)
        return window

    import_into("first.fewlens").close()
    computed = []
    real = workers.get_embedder

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def embed_batch(self, x):
            computed.append(len(x))
            return self.inner.embed_batch(x)

    monkeypatch.setattr(workers, "get_embedder", lambda b: Counting(real(b)))
    second = import_into("second.fewlens")
    assert computed == [] and second.session.emb.have.all()  # all from the user-wide cache
    assert second.session.project.embedding_cache.count() >= 6  # and now inside the project file
    second.close()


def test_backbone_list_loads_when_the_selector_opens(qtbot, tmp_path):
    path = tmp_path / "b.fewlens"
    Project.create(path).close()
    window = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(window)
    window.show()
    combo = window.backbone_combo
    assert combo.count() == 1 and combo.currentText() == "MobileNet V2 · ImageNet"  # before the registry
    combo.showPopup()
    qtbot.waitUntil(lambda: combo.loaded, timeout=60_000)
    combo.hidePopup()
    ids = [combo.itemData(k) for k in range(combo.count())]
    assert {"mobilenet_v2_imagenet", "mobilenet_v1_imagenet", "mobilenet_v2_inat_birds"} <= set(ids)
    assert combo.currentData() == window.session.backbone == "mobilenet_v2_imagenet"
    window.close()
