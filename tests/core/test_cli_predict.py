"""``fewlens predict`` end to end with the bundled ImageNet MobileNetV2 (Coral's imprinting photos)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core.cli import main

IMPRINTING = Path(__file__).parents[1] / "data" / "coral" / "imprinting"


@pytest.fixture
def support_dir(tmp_path) -> Path:
    """cat/dog/hotdog train images arranged as SUPPORT/<class>/<image>."""
    root = tmp_path / "support"
    for f in sorted(IMPRINTING.glob("*_train_*.bmp")):
        cls = f.name.split("_train_")[0]
        (root / cls).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, root / cls / f.name)
    return root


def test_predicts_the_three_imprinting_test_images(support_dir, capsys):
    tests = sorted(IMPRINTING.glob("*_test_*.bmp"))
    assert len(tests) == 3
    rc = main(["predict", "--support", str(support_dir), "--images", *map(str, tests),
               "--backbone", "mobilenet_v2_imagenet", "--format", "json"])
    assert rc == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == ["cat", "dog", "hotdog"]
    got = {Path(r["path"]).name.split("_test_")[0]: r["prediction"] for r in doc["predictions"]}
    assert got == {"cat": "cat", "dog": "dog", "hotdog": "hotdog"}  # 3/3
    for r in doc["predictions"]:
        assert abs(sum(r["probs"].values()) - 1) < 1e-4 and r["confidence"] == max(r["probs"].values())


def test_table_csv_threshold_and_a_bad_query(support_dir, tmp_path, capsys):
    junk = tmp_path / "queries" / "junk.jpg"
    junk.parent.mkdir()
    junk.write_text("not a photo")
    shutil.copy(IMPRINTING / "cat_test_0.bmp", junk.parent / "cat.bmp")
    rc = main(["predict", "--support", str(support_dir), "--images", str(junk.parent)])
    out, err = capsys.readouterr()
    assert rc == 1  # one query unreadable: results for the rest, non-zero exit
    assert f"{junk}: not an image" in err
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["image", "prediction", "conf"] and len(lines) == 2
    assert "cat.bmp" in lines[1] and lines[1].split()[1] == "cat"
    # a threshold above every confidence marks the prediction unknown
    rc = main(["predict", "--support", str(support_dir), "--images", str(junk.parent / "cat.bmp"),
               "--format", "csv", "--threshold", "1.0"])
    out = capsys.readouterr().out.strip().splitlines()
    assert rc == 0 and out[0].startswith("path,prediction,confidence,unknown,p_cat,p_dog,p_hotdog")
    assert out[1].split(",")[1:4:2] == ["", "1"]


def test_loose_support_images_are_flagged(support_dir, capsys):
    shutil.copy(IMPRINTING / "dog_test_0.bmp", support_dir / "unsorted.bmp")
    assert main(["predict", "--support", str(support_dir), "--images", str(IMPRINTING / "cat_test_0.bmp")]) == 0
    assert f"ignoring 1 image(s) directly in {support_dir}" in capsys.readouterr().err


def test_clear_errors(support_dir, tmp_path, capsys):
    assert main(["predict", "--support", str(tmp_path / "missing"), "--images", str(support_dir)]) == 1
    assert f"{tmp_path / 'missing'}: folder not found" in capsys.readouterr().err
    # a class whose only example is unreadable
    broken = support_dir / "ghost"
    broken.mkdir()
    (broken / "ghost.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert main(["predict", "--support", str(support_dir), "--images", str(IMPRINTING / "cat_test_0.bmp")]) == 1
    err = capsys.readouterr().err
    assert f"{broken}: no readable example images for this class" in err
    assert f"{broken / 'ghost.png'}: truncated / corrupt image data" in err
    shutil.rmtree(broken)
    assert main(["predict", "--support", str(support_dir), "--images", str(tmp_path / "nope.jpg")]) == 1
    assert f"{tmp_path / 'nope.jpg'}: file not found" in capsys.readouterr().err
    assert main(["predict", "--support", str(support_dir), "--images", str(IMPRINTING / "cat_test_0.bmp"),
                 "--method", "no_such_method"]) == 1
    assert "unknown method 'no_such_method'" in capsys.readouterr().err
