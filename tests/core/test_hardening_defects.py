"""Issue 14's defects, each reproduced as a user met it (CLI or engine call), then fixed.

Damaged / read-only project files (defects 3 and 9) are in tests/core/test_project_damage.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.cli import main
from core.errors import ImageError, ProjectError
from core.project import Project, existing_files

CLOTHING = Path(__file__).parents[1] / "data" / "clothing_mini"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture
def clothes(tmp_path) -> Path:
    d = tmp_path / "D"
    shutil.copytree(CLOTHING, d, ignore=shutil.ignore_patterns("LICENSE.txt"))
    return d


# -- 1: a self-referential symlink costs one entry ---------------------------------------------------


def test_self_link_costs_one_entry_in_existing_files(clothes):
    hat = clothes / "Hat"
    (hat / "self.jpg").symlink_to("self.jpg")
    files = [str(p) for p in sorted(hat.glob("*-*.jpg"))]
    # 16+ files in one folder take the directory-scan path that used to give up on the folder
    for i in range(12):
        shutil.copy(files[0], hat / f"copy{i}.jpg")
    files = [str(p) for p in sorted(hat.iterdir()) if p.name != "self.jpg"]
    assert len(files) >= 16
    assert existing_files(files + [str(hat / "self.jpg")]) == set(files)


def test_self_link_in_project_create_and_info(clothes, tmp_path, capsys):
    (clothes / "Hat" / "self.jpg").symlink_to("self.jpg")
    p = tmp_path / "P.fewlens"
    assert main(["project", "create", str(p), "--from", str(clothes)]) == 1
    err = capsys.readouterr().err
    assert f"{clothes / 'Hat' / 'self.jpg'}: symbolic link loop" in err
    assert main(["project", "info", str(p), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["images"] == 18 and info["missing"] == 0


def test_self_link_keeps_the_subfolder_question(clothes):
    pytest.importorskip("PySide6")
    from core.class_folders import subfolder_names
    from core.images import scan_sources

    (clothes / "self.jpg").symlink_to("self.jpg")
    (clothes / "Hat" / "self.jpg").symlink_to("self.jpg")
    assert subfolder_names([clothes]) == ["Hat", "Pants", "Shoes"]
    images, rejects = scan_sources([clothes])
    assert len(images) == 20  # both links are listed, to be reported by name when read


def test_predict_with_a_self_link_among_the_images(clothes, tmp_path, capsys):
    support = tmp_path / "support"
    for c in ("Hat", "Shoes"):
        (support / c).mkdir(parents=True)
        for f in sorted((clothes / c).iterdir())[:2]:
            shutil.copy(f, support / c)
    bad = tmp_path / "self.jpg"
    bad.symlink_to("self.jpg")
    good = sorted((clothes / "Hat").iterdir())[-1]
    rc = main(["predict", "--support", str(support), "--images", str(bad), str(good), "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 1  # partial failure
    assert f"{bad}: symbolic link loop" in err
    doc = json.loads(out)
    assert [Path(r["path"]).name for r in doc["predictions"]] == [good.name]


# -- 7: directory links that loop or point inside the tree ---------------------------------------------


def test_folder_link_loop_is_not_imported_twice(clothes, tmp_path, capsys):
    (clothes / "loop_dir").symlink_to(".")
    (clothes / "Hat" / "again").symlink_to("..")
    (clothes / "Boots").symlink_to("Shoes")  # a second name for a class already there
    outside = tmp_path / "elsewhere" / "Socks"
    shutil.copytree(clothes / "Pants", outside)
    (clothes / "Socks").symlink_to(outside)  # a link out of the tree is a real class
    p = tmp_path / "P.fewlens"
    assert main(["project", "create", str(p), "--from", str(clothes)]) == 0
    captured = capsys.readouterr()
    assert "24 images, 4 classes (Hat 6, Pants 6, Shoes 6, Socks 6)" in captured.out
    assert f"not following {clothes / 'loop_dir'}" in captured.err


def test_find_images_follows_an_outside_link_once(tmp_path):
    from core.images import find_images

    real = tmp_path / "real"
    real.mkdir()
    Image.new("RGB", (8, 8)).save(real / "a.png")
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "one").symlink_to(real)
    (tree / "two").symlink_to(real)
    (real / "back").symlink_to(tree)  # and back again: a loop through the outside
    assert [p.name for p in find_images(tree)] == ["a.png"]


# -- 2: extreme aspect ratio -------------------------------------------------------------------------


def test_extreme_aspect_png_is_refused_fast_by_name(tmp_path):
    from core.images import load_image

    p = tmp_path / "strip.png"
    Image.new("RGB", (60000, 2), (200, 10, 10)).save(p, optimize=True)
    assert p.stat().st_size < 2000
    t = time.perf_counter()
    with pytest.raises(ImageError, match="extreme aspect ratio") as e:
        load_image(p)
    assert e.value.path == str(p) and time.perf_counter() - t < 2


def test_thin_image_below_the_guard_is_cropped_before_resizing(tmp_path):
    from core.backbones import get_backbone
    from core.preprocess import preprocess

    spec = get_backbone("mobilenet_v2_imagenet")
    img = Image.new("RGB", (30000, 60), (10, 200, 10))  # 500:1, passes the guard
    x = preprocess(img, spec)
    assert x.shape == (3, spec.input_size, spec.input_size) and np.isfinite(x).all()
    # an ordinary photo is unchanged by the guard (cached embeddings stay valid)
    from core.preprocess import resize_center_crop

    photo = Image.open(sorted((CLOTHING / "Hat").iterdir())[0]).convert("RGB")
    a = np.asarray(resize_center_crop(photo, 256, 224))
    w, h = photo.size
    s = 256 / min(w, h)
    b = np.asarray(photo.resize((max(224, round(w * s)), max(224, round(h * s))), Image.Resampling.BILINEAR,
                                reducing_gap=None).crop(((max(224, round(w * s)) - 224) // 2,
                                                         (max(224, round(h * s)) - 224) // 2,
                                                         (max(224, round(w * s)) - 224) // 2 + 224,
                                                         (max(224, round(h * s)) - 224) // 2 + 224)))
    assert np.array_equal(a, b)


def test_predict_with_an_extreme_aspect_image_goes_on(clothes, tmp_path, capsys):
    support = tmp_path / "support"
    for c in ("Hat", "Shoes"):
        shutil.copytree(clothes / c, support / c)
    strip = tmp_path / "strip.png"
    Image.new("RGB", (60000, 2)).save(strip)
    good = sorted((clothes / "Pants").iterdir())[0]
    rc = main(["predict", "--support", str(support), "--images", str(strip), str(good), "--format", "json",
               "--adapt", "off"])
    out, err = capsys.readouterr()
    assert rc == 1 and f"{strip}: extreme aspect ratio" in err
    assert len(json.loads(out)["predictions"]) == 1


# -- 4 and 5: user ONNX backbones with a fixed batch, or NaN output --------------------------------------


def _export(path: Path, module, dynamic: bool) -> Path:
    import torch

    kw = dict(dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}) if dynamic else {}
    torch.onnx.export(module.eval(), (torch.zeros(1, 3, 64, 64),), str(path), dynamo=False,
                      input_names=["x"], output_names=["y"], **kw)
    return path


class _Pool:
    @staticmethod
    def make(nan: bool = False):
        import torch

        class Net(torch.nn.Module):
            def __init__(self):
                super().__init__()
                torch.manual_seed(0)
                self.conv = torch.nn.Conv2d(3, 6, 3, stride=2)

            def forward(self, x):
                y = torch.relu(self.conv(x)).mean(dim=(2, 3))
                if nan:  # NaN wherever the first pixel is bright: some images only
                    y = y + torch.log(0.5 - x[:, :1, 0, 0])
                return y

        return Net()


@pytest.fixture
def forget_user_backbones():
    from core.backbones import list_backbones, unregister_backbone

    before = {s.id for s in list_backbones()}
    yield
    for spec in list_backbones():
        if spec.id not in before:
            unregister_backbone(spec.id)


def test_fixed_batch_onnx_runs_one_image_at_a_time(tmp_path, forget_user_backbones):
    from core.backbones import get_backbone
    from core.embedder import Embedder

    fixed = _export(tmp_path / "fixed.onnx", _Pool.make(), dynamic=False)
    dynamic = _export(tmp_path / "dynamic.onnx", _Pool.make(), dynamic=True)
    assert get_backbone(str(fixed)).info.get("fixed batch") == 1  # detected at registration
    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (80, 90, 3), dtype=np.uint8)) for _ in range(5)]
    a = Embedder(str(fixed), device="cpu").embed_images(imgs)
    b = Embedder(str(dynamic), device="cpu").embed_images(imgs)
    assert a.shape == (5, 6) and np.allclose(a, b, atol=1e-5)


def test_nan_embeddings_are_named_and_left_out(tmp_path, forget_user_backbones, capsys):
    model = _export(tmp_path / "nan.onnx", _Pool.make(nan=True), dynamic=True)
    support = tmp_path / "support"
    for c, color in (("dark", (5, 5, 5)), ("red", (90, 0, 0))):
        (support / c).mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (70, 70), (color[0] + i, color[1], color[2])).save(support / c / f"{i}.png")
    q = tmp_path / "q"
    q.mkdir()
    Image.new("RGB", (70, 70), (250, 250, 250)).save(q / "bright.png")  # the model gives NaN here
    Image.new("RGB", (70, 70), (8, 8, 8)).save(q / "dim.png")
    rc = main(["predict", "--support", str(support), "--images", str(q), "--backbone", str(model),
               "--format", "json"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert f"{q / 'bright.png'}: the backbone gave a non-finite embedding" in err
    doc = json.loads(out)
    assert [Path(r["path"]).name for r in doc["predictions"]] == ["dim.png"]
    assert all(np.isfinite(v) for r in doc["predictions"] for v in r["probs"].values())


# -- 6: one class ------------------------------------------------------------------------------------


def test_one_class_support_set_warns(clothes, tmp_path, capsys):
    support = tmp_path / "support"
    shutil.copytree(clothes / "Hat", support / "Hat")
    rc = main(["predict", "--support", str(support), "--images", str(clothes / "Shoes")])
    out, err = capsys.readouterr()
    assert rc == 0 and "only one class (Hat)" in err and "--threshold" in err
    capsys.readouterr()
    main(["predict", "--support", str(support), "--images", str(clothes / "Shoes"), "--threshold", "0.5"])
    assert "only one class" not in capsys.readouterr().err


# -- 8: disk full names the file -----------------------------------------------------------------------


def test_disk_full_names_the_project_file(tmp_path):
    p = tmp_path / "full.fewlens"
    with Project.create(p) as proj:
        con = proj._conn()
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        con.execute(f"PRAGMA max_page_count={pages + 1}")  # what a full disk looks like to SQLite
        with pytest.raises(ProjectError) as e:
            proj.embedding_cache.put_many("b", {f"h{i}": np.ones(4096, np.float32) for i in range(50)})
    assert e.value.path == str(p) and "the disk is full" in str(e.value)


# -- 10: closed stdout --------------------------------------------------------------------------------


def test_closed_stdout_is_a_quiet_exit(tmp_path):
    p = tmp_path / "P.fewlens"
    with Project.create(p) as proj:
        for i in range(300):
            proj.add_class(f"class {i}")
    env = dict(os.environ)
    r = subprocess.run(f"{sys.executable} -m core.cli project info {p} | head -1", shell=True,
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stdout.startswith(str(p)) and r.stderr == ""
    r = subprocess.run(["bash", "-o", "pipefail", "-c", f"{sys.executable} -m core.cli project info {p} | head -1"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr


# -- 11: arch:weights without a "/" ----------------------------------------------------------------------


def test_arch_weights_without_a_slash(tmp_path, monkeypatch, forget_user_backbones):
    import torch
    import torchvision

    from core.backbones import get_backbone

    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18(weights=None, num_classes=3).state_dict(), tmp_path / "weights.pt")
    monkeypatch.chdir(tmp_path)
    spec = get_backbone("resnet18:weights.pt")
    assert spec.id == f"resnet18:{tmp_path / 'weights.pt'}" and spec.embed_dim == 512
    with pytest.raises(Exception, match="weights2.pt: model file not found"):
        get_backbone("resnet18:weights2.pt")


# -- no traceback escapes the CLI -----------------------------------------------------------------------


def test_an_unexpected_error_gives_one_line_and_a_crash_report(monkeypatch, capsys, tmp_path):
    import core.commands.project as cmd

    def boom(args):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(cmd, "run_info", boom)
    rc = main(["project", "info", str(tmp_path / "x.fewlens")])
    err = capsys.readouterr().err
    assert rc == 70 and len(err.strip().splitlines()) == 1
    assert "ZeroDivisionError: simulated bug" in err
    report = Path(err.split("a crash report is in ")[1].split(" — ")[0])
    text = report.read_text()
    assert "Traceback" in text and "in boom" in text and "simulated bug" in text
