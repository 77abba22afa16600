"""``fewlens project create / info / locate`` as a user runs them."""

from __future__ import annotations

import json
import shutil

import pytest

from core.cli import main
from core.project import Project
from core.recent import recent_projects


def test_create_from_clothing_mini(tmp_path, data_dir, capsys):
    out = tmp_path / "clothes.fewlens"
    assert main(["project", "create", str(out), "--from", str(data_dir / "clothing_mini"),
                 "--backbone", "mobilenet_v2_imagenet", "--threshold", "0.4"]) == 0
    assert "18 images, 3 classes" in capsys.readouterr().out
    with Project.open(out) as p:
        assert {c.name: c.count for c in p.classes()} == {"Hat": 6, "Pants": 6, "Shoes": 6}
        assert p.counts().unlabeled == 0
        by_class = {c.id: c.name for c in p.classes()}
        for r in p.images():
            assert by_class[r.class_id] == r.path.parent.name and not r.missing
        assert p.get_setting("backbone") == "mobilenet_v2_imagenet"
        assert p.get_setting("unknown_threshold") == 0.4
    assert recent_projects()[0] == out

    assert main(["project", "info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 18 and info["labeled"] == 18 and info["missing"] == 0
    assert [c["name"] for c in info["classes"]] == ["Hat", "Pants", "Shoes"]
    assert main(["project", "info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "18 labeled" in text and "Shoes" in text


def test_create_mixed_folder_with_bad_files(tmp_path, data_dir, capsys):
    src = tmp_path / "src"
    shutil.copytree(data_dir / "clothing_mini" / "Hat", src / "Hat" / "nested")
    shutil.copy(next((data_dir / "clothing_mini" / "Shoes").iterdir()), src / "loose.jpg")
    (src / "Empty").mkdir()
    (src / ".thumbnails").mkdir()
    shutil.copy(next((data_dir / "clothing_mini" / "Pants").iterdir()), src / ".thumbnails" / "t.jpg")
    (src / "Hat" / "zero.jpg").write_bytes(b"")
    out = tmp_path / "mixed"  # no suffix: .fewlens is added
    assert main(["project", "create", str(out), "--from", str(src)]) == 1  # partial: one file skipped
    captured = capsys.readouterr()
    assert "zero.jpg" in captured.err
    with Project.open(tmp_path / "mixed.fewlens") as p:
        assert [(c.name, c.count) for c in p.classes()] == [("Hat", 6)]
        assert p.counts().images == 7 and p.counts().unlabeled == 1


def test_create_errors_are_one_clear_line(tmp_path, data_dir, capsys):
    out = tmp_path / "p.fewlens"
    assert main(["project", "create", str(out), "--from", str(tmp_path / "nope")]) == 1
    assert "nope: folder not found" in capsys.readouterr().err
    assert main(["project", "create", str(out), "--from", str(data_dir / "clothing_mini"), "--backbone", "resnet9000"]) == 1
    assert "unknown backbone" in capsys.readouterr().err
    assert not out.exists()
    assert main(["project", "create", str(out), "--from", str(data_dir / "clothing_mini")]) == 0
    capsys.readouterr()
    assert main(["project", "create", str(out), "--from", str(data_dir / "clothing_mini")]) == 1
    assert f"{out}: already exists (use --force" in capsys.readouterr().err
    assert main(["project", "create", str(out), "--from", str(data_dir / "clothing_mini" / "Hat"), "--force"]) == 0
    with Project.open(out) as p:
        assert p.counts().images == 6 and p.counts().classes == 0


def test_info_on_a_non_project(tmp_path, capsys):
    bogus = tmp_path / "notes.fewlens"
    bogus.write_text("shopping list\n")
    assert main(["project", "info", str(bogus)]) == 1
    err = capsys.readouterr().err
    assert str(bogus) in err and "not a FewLens project" in err and err.count("\n") == 1


def test_locate_after_moving_the_photos(tmp_path, data_dir, capsys):
    photos = tmp_path / "photos"
    shutil.copytree(data_dir / "clothing_mini", photos)
    proj = tmp_path / "elsewhere" / "p.fewlens"
    proj.parent.mkdir()
    assert main(["project", "create", str(proj), "--from", str(photos)]) == 0
    photos.rename(tmp_path / "renamed")
    assert main(["project", "info", str(proj), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.split("\n", 1)[1])["missing"] == 18
    assert main(["project", "locate", str(proj), "--in", str(tmp_path / "renamed")]) == 0
    assert "re-linked 18 of 18" in capsys.readouterr().out
    with Project.open(proj) as p:
        assert not p.missing_images()
        assert {c.name: c.count for c in p.classes()} == {"Hat": 6, "Pants": 6, "Shoes": 6}


@pytest.mark.slow
def test_create_with_embed_fills_the_project_cache(tmp_path, data_dir):
    src = tmp_path / "src"
    for cls in ("Hat", "Shoes"):
        (src / cls).mkdir(parents=True)
        for f in sorted((data_dir / "clothing_mini" / cls).iterdir())[:2]:
            shutil.copy(f, src / cls / f.name)
    out = tmp_path / "e.fewlens"
    assert main(["project", "create", str(out), "--from", str(src), "--embed", "--device", "cpu"]) == 0
    with Project.open(out) as p:
        hashes = [r.hash for r in p.images()]
        vecs = p.embedding_cache.get_many(hashes, "mobilenet_v2_imagenet")
        assert len(vecs) == 4 and all(v.shape == (1280,) for v in vecs.values())


def test_project_commands_never_import_torch(tmp_path, data_dir):
    """The light desktop bundle has no torch: the project store and its CLI must not need it."""
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split('.')[0] in ('torch', 'torchvision', 'tflite'):
            raise ImportError('torch-free build: ' + name)
sys.meta_path.insert(0, NoTorch())
from core.cli import main
assert main(['project', 'create', {str(tmp_path / 'p.fewlens')!r}, '--from', {str(data_dir / 'clothing_mini')!r}]) == 0
assert main(['project', 'info', {str(tmp_path / 'p.fewlens')!r}]) == 0
assert 'torch' not in sys.modules
"""
    root = Path(__file__).resolve().parents[2]
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "18 images, 3 classes" in r.stdout
