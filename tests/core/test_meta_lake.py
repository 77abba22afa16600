"""``fewlens omniglot-lake`` on a miniature all_runs archive built from the Omniglot fixture."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.cli import main
from core.meta.lake import load_runs, runs_as_dataset
from core.meta.trainer import EpisodicTrainer, TrainConfig

MINI = Path(__file__).parents[1] / "data" / "omniglot_mini"


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lake") / "proto.pt"
    cfg = TrainConfig(datasets=[str(MINI)], ways=5, shots=1, queries=1, episodes=3, val_every=0, hidden=16)
    EpisodicTrainer(cfg, "cpu", out, log=lambda s: None).train()
    return out


def _make_runs(tmp_path: Path, same_drawing: bool) -> tuple[Path, list[list[int]]]:
    """Two runs of 5-way one-shot in Lake's layout, test items in a shuffled class order."""
    zp = tmp_path / ("same.zip" if same_drawing else "runs.zip")
    answers = []
    with zipfile.ZipFile(zp, "w") as z:
        for r, alphabet in enumerate(["Latin", "Balinese"], start=1):
            chars = sorted((MINI / alphabet).iterdir())
            order = np.random.default_rng(r).permutation(len(chars))
            lines = []
            for c, cdir in enumerate(chars, start=1):
                files = sorted(cdir.glob("*.png"))
                z.write(files[0], f"run{r:02d}/training/class{c:02d}.png")
            for item, c in enumerate(order, start=1):
                files = sorted(chars[c].glob("*.png"))
                z.write(files[0 if same_drawing else 1], f"run{r:02d}/test/item{item:02d}.png")
                lines.append(f"run{r:02d}/test/item{item:02d}.png run{r:02d}/training/class{c + 1:02d}.png")
            z.writestr(f"run{r:02d}/class_labels.txt", "\n".join(lines) + "\n")
            answers.append(order.tolist())
    return zp, answers


def test_runs_parse_with_answers(tmp_path):
    zp, answers = _make_runs(tmp_path, same_drawing=False)
    runs = load_runs(zp, store_size=56)
    assert [r.name for r in runs] == ["run01", "run02"]
    assert runs[0].train.shape == (5, 1, 56, 56) and runs[0].test.shape == (5, 1, 56, 56)
    assert [r.answers.tolist() for r in runs] == answers
    ds = runs_as_dataset(runs)
    assert len(ds) == 10 and all(len(a) == 2 for a in ds.images)


def test_lake_command_scores_identical_drawings_perfectly(tmp_path, tiny_checkpoint, capsys):
    zp, _ = _make_runs(tmp_path, same_drawing=True)
    assert main(["omniglot-lake", "--runs", str(zp), "--backbone", str(tiny_checkpoint), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["error_pct"] == 0.0 and res["queries"] == 10 and len(res["runs"]) == 2


def test_lake_command_with_embedding_method_and_episodes(tmp_path, tiny_checkpoint, capsys):
    zp, _ = _make_runs(tmp_path, same_drawing=False)
    rc = main(["omniglot-lake", "--runs", str(zp), "--backbone", str(tiny_checkpoint), "--method", "linear_probe",
               "--episodes", "5", "--json"])
    assert rc == 0
    res = json.loads(capsys.readouterr().out)
    assert 0.0 <= res["error_pct"] <= 100.0 and res["method"] == "linear_probe"
    assert sum(r["errors"] for r in res["runs"]) == res["errors"]


def test_lake_command_reports_a_bad_archive(tmp_path, tiny_checkpoint, capsys):
    bad = tmp_path / "not_runs.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("readme.txt", "nothing here")
    assert main(["omniglot-lake", "--runs", str(bad), "--backbone", str(tiny_checkpoint)]) == 1
    assert "not_runs.zip" in capsys.readouterr().err
