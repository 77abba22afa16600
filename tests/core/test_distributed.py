"""``fewlens predict-distributed`` on a local Ray cluster (2 CPUs, loopback only) equals the
single-process runner (core.batch with the same exported model) row for row."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from onnx_contract import build_contract_model

ray = pytest.importorskip("ray", reason="Ray Data is the optional [distributed] extra")

CLOTHING = Path(__file__).parents[1] / "data" / "clothing_mini"
N_GENERATED = 240
N_PHOTOS = len(list(CLOTHING.rglob("*.jpg")))


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    from core.embedder import Embedder
    from core.images import load_image

    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    classes = ["Hat", "Pants", "Shoes"]
    protos = np.stack([emb.embed_images([load_image(f) for f in sorted((CLOTHING / c).glob("*.jpg"))[:2]]).mean(0)
                       for c in classes])
    return build_contract_model(tmp_path_factory.mktemp("model") / "clothing.onnx", "mobilenet_v2_imagenet",
                                protos, classes, threshold=0.5)


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    """A few hundred generated images (JPEG/PNG, odd sizes, a grayscale one), the clothing photos,
    and a corrupt file, in nested folders."""
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(N_GENERATED):
        h, w = int(rng.integers(40, 160)), int(rng.integers(40, 160))
        base = rng.integers(0, 255, 3)
        px = np.clip(base + rng.normal(0, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        d = root / f"set{i % 3}"
        d.mkdir(exist_ok=True)
        img = Image.fromarray(px)
        if i % 17 == 0:
            img = img.convert("L")
        img.save(d / f"g{i:03d}.{'png' if i % 2 else 'jpg'}")
    for f in sorted(CLOTHING.rglob("*.jpg")):
        shutil.copy(f, root / f.name)
    (root / "set1" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return root


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _read_csv_rows(paths) -> dict[str, dict]:
    rows = {}
    for p in paths:
        with open(p, newline="", encoding="utf-8") as f:
            for r in csv.DictReader(f):
                rows[r["path"]] = r
    return rows


@pytest.mark.slow
def test_ray_output_equals_the_single_process_runner(model, images, tmp_path, local_ray):
    from core.batch import iter_image_files, predict_to_csv
    from core.batch_predictors import OnnxPredictor
    from core.cli import main

    single = tmp_path / "single.csv"
    s = predict_to_csv(iter_image_files([images]), OnnxPredictor(model), single)
    assert s.predicted == N_GENERATED + N_PHOTOS and s.n_errors == 1
    out = tmp_path / "ray_out"
    assert main(["predict-distributed", "--model", str(model), "--images", str(images),
                 "--output", str(out), "--workers", "2"]) == 0
    want = _read_csv_rows([single])
    got = _read_csv_rows(sorted(out.glob("*.csv")))
    assert set(got) == set(want) and len(got) == N_GENERATED + N_PHOTOS + 1
    assert want[str(images / "set1" / "corrupt.jpg")]["error"]
    for path, w in want.items():
        g = got[path]
        assert g == w, path  # same cells: classes, probabilities to 4 decimals, unknown flag, error
    # the photos get their class (2-shot prototypes): the model is not a constant
    photos = [w for p, w in want.items() if Path(p).parent == images]
    right = sum(any(f.name == Path(w["path"]).name for f in (CLOTHING / w["top_class"]).glob("*.jpg")) for w in photos)
    assert right >= 12


@pytest.mark.slow
def test_parquet_output_and_a_missing_model(model, images, tmp_path, local_ray, capsys):
    import pyarrow.parquet as pq

    from core.cli import main

    out = tmp_path / "pq"
    assert main(["predict-distributed", "--model", str(model), "--images", str(images / "set0"),
                 "--output", str(out), "--format", "parquet"]) == 0
    table = pq.read_table(out)
    assert table.num_rows == N_GENERATED // 3 and "top_class" in table.column_names
    assert main(["predict-distributed", "--model", str(tmp_path / "nope.onnx"), "--images", str(images),
                 "--output", str(out)]) == 1
    assert f"{tmp_path / 'nope.onnx'}: file not found" in capsys.readouterr().err
