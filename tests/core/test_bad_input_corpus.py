"""The generated bad-input corpus (tests/core/bad_inputs.py) through every entry point: ``fewlens
predict``, ``fewlens project create``, the GUI import and Try it.  Each bad file gives exactly one
line naming it with the expected reason; every good file is done exactly once (the folder link
``loop_dir -> .`` adds nothing); nothing else is said, and no traceback."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from bad_inputs import CASES, CLOTHING, files_given_explicitly, make_corpus

from core.cli import main
from core.project import Project

GOOD = [c for c in CASES if c.reason is None]
BAD = [c for c in CASES if c.reason is not None]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad") / "corpus"
    make_corpus(root)
    return root


@pytest.fixture
def support(tmp_path) -> Path:
    root = tmp_path / "support"
    for c in ("Hat", "Shoes"):
        (root / c).mkdir(parents=True)
        for f in sorted((CLOTHING / c).iterdir())[:2]:
            shutil.copy(f, root / c)
    return root


def _lines_naming(text: str, path: Path) -> list[str]:
    return [line for line in text.splitlines() if f"{path}: " in line]


def _assert_each_bad_named_once(err: str, root: Path, prefix: str | dict[str, str] = "fewlens: skipped") -> None:
    for c in BAD:
        lines = _lines_naming(err, root / c.name)
        assert len(lines) == 1, (c.name, err)
        want = prefix if isinstance(prefix, str) else prefix[c.stage]
        assert lines[0] == f"{want} {root / c.name}: {lines[0].split(': ', 2)[-1]}" and c.reason in lines[0], lines[0]
    for c in GOOD:
        assert not _lines_naming(err, root / c.name), (c.name, err)
    assert "Traceback" not in err


def test_corpus_is_what_the_issue_lists(corpus):
    kinds = " ".join(c.what for c in CASES)
    for word in ("zero-byte", "cut in half", "extension", "CRC", "bomb", "60000x2", "16-bit", "CMYK", "RGBA",
                 "animated", "EXIF", "unicode", "missing file", "itself"):
        assert word in kinds
    assert (corpus / "loop_dir").is_symlink()


def test_predict_over_the_corpus_folder(corpus, support, capsys):
    rc = main(["predict", "--support", str(support), "--images", str(corpus), "--format", "json", "--adapt", "off"])
    out, err = capsys.readouterr()
    assert rc == 1  # partial: results for the good files, a non-zero exit for the bad ones
    _assert_each_bad_named_once(err, corpus)
    doc = json.loads(out)
    got = sorted(Path(r["path"]).name for r in doc["predictions"])
    assert got == sorted(c.name for c in GOOD)  # each once: loop_dir was not followed
    assert all(np.isfinite(r["confidence"]) for r in doc["predictions"])
    assert sorted(Path(e["path"]).name for e in doc["errors"]) == sorted(c.name for c in BAD)


def test_predict_with_the_corpus_files_named_explicitly(corpus, support, capsys):
    rc = main(["predict", "--support", str(support), "--images", *map(str, files_given_explicitly(corpus)),
               "--adapt", "off"])
    out, err = capsys.readouterr()
    assert rc == 1
    _assert_each_bad_named_once(err, corpus)
    assert len(out.strip().splitlines()) == 1 + len(GOOD)


def test_project_create_over_the_corpus(corpus, tmp_path, capsys):
    src = tmp_path / "src"
    shutil.copytree(CLOTHING / "Hat", src / "Hat")
    (src / "mixed").symlink_to(corpus)  # a class folder that is a link to the corpus (outside the tree)
    p = tmp_path / "P.fewlens"
    assert main(["project", "create", str(p), "--from", str(src), "--embed", "--device", "cpu"]) == 1
    out, err = capsys.readouterr()
    _assert_each_bad_named_once(err, src / "mixed", {"read": "fewlens: skipped", "decode": "fewlens: could not embed"})
    read_bad = sum(c.stage == "read" for c in BAD)
    with Project.open(p) as proj:
        n = proj.counts()
        # files that could be read are in the project (labeled, to be fixed by the user); the
        # undecodable ones simply have no embedding
        assert n.images == 6 + len(CASES) - read_bad and n.classes == 2
        assert proj.embedding_cache.count() == 6 + len(GOOD)


# -- GUI ----------------------------------------------------------------------------------------------


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    pytest.importorskip("pytestqt")
    from app.main_window import MainWindow
    from app.session import ProjectSession

    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))
    path = tmp_path / "gui.fewlens"
    Project.create(path).close()
    w = MainWindow(ProjectSession(Project.open(path)))
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.close()


def _idle(w) -> bool:
    s = w.session
    return not w.jobs and s.pending_embeddings == 0 and s.predictions_current


def test_gui_import_of_the_corpus(qtbot, window, corpus):
    w = window
    asked = []
    w.imports.ask_use_subfolders = lambda names: asked.append(names) or False
    w.imports.import_paths([corpus])
    qtbot.waitUntil(lambda: _idle(w), timeout=120_000)
    assert asked == []  # loop_dir is not a class candidate: no question
    assert sorted(Path(f).name for f in w.session.files) == sorted(c.name for c in GOOD)
    assert w.report.isVisible()
    assert sorted(w.report.file_names()) == sorted(c.name for c in BAD)
    reasons = {Path(e.path).name: e.reason for e in w.report.errors}
    for c in BAD:
        assert c.reason in reasons[c.name], (c.name, reasons[c.name])


def test_try_it_on_the_corpus(qtbot, window, corpus):
    from app.widgets.try_it import TryItDialog

    w = window
    w.imports.ask_use_subfolders = lambda names: True
    src = corpus.parent / "labeled"
    if not src.exists():
        for c in ("Hat", "Shoes"):
            shutil.copytree(CLOTHING / c, src / c)
    w.imports.import_paths([src])
    qtbot.waitUntil(lambda: len(w.session) == 12 and _idle(w), timeout=120_000)
    dlg = TryItDialog(w.session, w)
    qtbot.addWidget(dlg)
    dlg.try_paths(files_given_explicitly(corpus))
    qtbot.waitUntil(lambda: dlg.job is None or not dlg.job.running, timeout=120_000)
    qtbot.waitUntil(lambda: len(dlg.results) == len(CASES), timeout=30_000)
    by_name = {r.path.name: r for r in dlg.results}
    assert sorted(by_name) == sorted(c.name for c in CASES)
    for c in CASES:
        r = by_name[c.name]
        if c.reason is None:
            assert r.error is None and r.top, c.name
        else:
            assert r.error and c.reason in r.error, (c.name, r.error)
    dlg.close()


# -- export and camera ----------------------------------------------------------------------------------


def test_export_with_the_corpus_as_a_class_then_predict_the_corpus_with_the_model(corpus, support, tmp_path, capsys):
    """A support class folder full of bad files: each is named once, the model is written from the good
    ones, and the exported model predicts the corpus with the same one-line-per-bad-file outcome."""
    (support / "Mixed").symlink_to(corpus)
    model = tmp_path / "out" / "model.onnx"
    rc = main(["export", "--support", str(support), "--format", "onnx", "-o", str(model), "--adapt", "off"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert model.is_file() and "Traceback" not in err
    for c in BAD:  # named (once) as skipped while reading the support set
        assert len(_lines_naming(err, support / "Mixed" / c.name)) == 1, (c.name, err)
    rc = main(["predict", "--model", str(model), "--images", str(corpus), "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 1
    _assert_each_bad_named_once(err, corpus)
    doc = json.loads(out)
    assert sorted(Path(r["path"]).name for r in doc["predictions"]) == sorted(c.name for c in GOOD)
    assert set(doc["classes"]) == {"Hat", "Shoes", "Mixed"}


@pytest.mark.parametrize("kind", ["zero_bytes", "text", "truncated", "missing", "folder"])
def test_camera_on_a_bad_video_source_says_so_in_one_line(tmp_path, kind):
    """The camera panel's loop (core.camera) on video files that are not videos: a one-line message
    naming the file, the loop's threads gone, never a traceback."""
    from core.camera import CameraLoop, CameraSource

    path = tmp_path / f"{kind}.avi"
    if kind == "zero_bytes":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a video\n")
    elif kind == "truncated":
        cv2 = pytest.importorskip("cv2")
        w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
        for i in range(20):
            w.write(np.full((48, 64, 3), i * 10, np.uint8))
        w.release()
        path.write_bytes(path.read_bytes()[:300])  # the header, and not one whole frame
    elif kind == "folder":
        path.mkdir()
    loop = CameraLoop(CameraSource.parse(str(path)), pace=False).start()
    assert loop.wait_for(lambda: loop.state in ("error", "ended"), timeout=20)
    assert loop.stop() and not loop.alive
    assert loop.error and str(path) in loop.error and "\n" not in loop.error and "Traceback" not in loop.error
