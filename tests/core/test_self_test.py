"""``fewlens --self-test``: what a user (or `make bundle`) runs to see that an install works."""

from __future__ import annotations

import pytest

from core.cli import main
from core.self_test import CHECK_NAMES


@pytest.fixture
def fast(monkeypatch, tmp_path):
    monkeypatch.setenv("FEWLENS_SELF_TEST_FAST", "1")  # 3 classes x 7 photos, one adaptation step
    monkeypatch.setenv("FEWLENS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path / "data"))


def test_every_check_passes_in_the_pip_install(fast, capsys):
    code = main(["--self-test"])
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert code == 0, out.out + out.err
    status = {line.split()[1]: line.split()[0] for line in lines[:-1]}
    # the dev install has torch, OpenCV and the app: nothing may be skipped here
    assert status == {name: "ok" for name in CHECK_NAMES}
    predict = next(line for line in lines if line.split()[1] == "predict")
    assert "6 images, 3 classes" in predict  # 3 classes x (7 - 5 labeled)
    assert lines[-1].startswith("self-test: passed")
    assert "Traceback" not in out.err


def test_missing_sample_photos_fail_with_one_line_naming_the_folder(fast, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("FEWLENS_ASSETS_DIR", str(tmp_path / "no-assets"))
    code = main(["--self-test"])
    out = capsys.readouterr()
    assert code == 1
    assert f"FAIL  sample   {tmp_path / 'no-assets' / 'sample' / 'images'}: the bundled sample photos are missing" \
        in out.out
    assert out.out.splitlines()[-1] == "self-test: 1 of 6 checks failed: sample"
    assert "Traceback" not in out.out + out.err


def test_without_torch_predict_keeps_the_pretrained_features(monkeypatch, capsys):
    """The light bundle: `--adapt auto` must not crash on the missing torch, `--adapt on` says why."""
    import json
    from pathlib import Path

    import core.adaptation

    monkeypatch.setattr(core.adaptation, "_torch_installed", lambda: False)
    data = Path(__file__).resolve().parent.parent / "data" / "clothing_mini"
    query = sorted((data / sorted(p.name for p in data.iterdir() if p.is_dir())[0]).iterdir())[0]
    assert main(["predict", "--support", str(data), "--images", str(query), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["adapted"] is False
    assert main(["predict", "--support", str(data), "--images", str(query), "--adapt", "on"]) == 1
    assert "--adapt on: this FewLens build has no torch" in capsys.readouterr().err
