"""What keeps ``fewlens predict -o OUT.csv`` in bounded memory (issue 16): ONNX Runtime always
sees one input shape, the streaming CLI never imports torch, the resume index is 8 bytes a row."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from core.backbones import get_backbone
from core.backbones.onnx_export import onnx_path_for
from core.batch import DonePaths, csv_header, read_done_paths
from core.batch_predictors import ORT_CHUNK, MethodPredictor, run_in_chunks

DATA = Path(__file__).resolve().parent.parent / "data"
CLOTHING = DATA / "clothing_mini"


def test_run_in_chunks_feeds_one_shape_and_returns_every_row():
    seen = []

    def run(x):
        seen.append(x.shape)
        return x.sum(1, keepdims=True) * 2

    batch = np.arange(37 * 3, dtype=np.float32).reshape(37, 3)
    out = run_in_chunks(run, batch, chunk=16)
    assert seen == [(16, 3)] * 3  # the last 5 rows padded to 16
    np.testing.assert_array_equal(out, batch.sum(1, keepdims=True) * 2)
    assert run_in_chunks(run, batch[:0]).shape[0] == 0


def test_method_predictor_runs_onnx_runtime_in_fixed_chunks_with_the_same_vectors():
    from core.embedder import Embedder
    from core.images import load_image
    from core.methods import get_method

    emb = Embedder("mobilenet_v2_imagenet", device="cpu")
    files = sorted(CLOTHING.glob("*/*.jpg"))
    images = [load_image(f, min_side=emb.spec.resize_size) for f in files]
    x = emb.preprocess(images)
    direct = emb.embed_batch(x)  # one run of all 18
    method = get_method("protonet")
    method.process_support_set(direct, [f.parent.name for f in files])
    pred = MethodPredictor(emb, method, "protonet")
    shapes = []
    real = emb.embed_batch
    emb.embed_batch = lambda b: (shapes.append(b.shape[0]), real(b))[1]
    try:
        vecs = pred.embed(x)
    finally:
        del emb.embed_batch
    assert shapes == [ORT_CHUNK] * -(-len(files) // ORT_CHUNK)
    np.testing.assert_allclose(vecs, direct, rtol=1e-4, atol=1e-5)
    assert list(np.argmax(pred.head(vecs), 1)) == list(np.argmax(pred.head(direct), 1))


def test_streaming_predict_on_the_cpu_never_imports_torch(tmp_path):
    onnx_path_for(get_backbone("mobilenet_v2_imagenet"))  # the export is cached: torch is not needed
    out = tmp_path / "out.csv"
    code = ("import sys; from core.cli import main; rc = main(['predict', '--support', %r, '--images', %r, "
            "'--adapt', 'off', '--device', 'cpu', '-o', %r]); "
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH'); sys.exit(rc)") % (
        str(CLOTHING), str(DATA / "coral" / "images"), str(out))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "NO-TORCH"
    rows = list(csv.reader(open(out, newline="", encoding="utf-8")))
    assert len(rows) > 1 and all(r[1] in ("Hat", "Pants", "Shoes") for r in rows[1:])


def _write_rows(path: Path, paths: list[str], header: list[str]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        for p in paths:
            w.writerow([p, "Hat", "0.9", "0", *([""] * (len(header) - 4))])


def test_resume_index_holds_8_bytes_a_row_and_knows_every_path(tmp_path):
    header = csv_header(3)
    paths = [f"/photos/season 1/cam-{i % 7}/IMG_{i:06d}.jpg" for i in range(20000)]
    out = tmp_path / "out.csv"
    _write_rows(out, paths, header)
    done = read_done_paths(out, header)
    assert isinstance(done, DonePaths) and len(done) == len(paths)
    assert done._keys.dtype == np.uint64 and done._keys.nbytes == 8 * len(paths)  # no strings kept
    assert all(p in done for p in paths[::97])
    assert "/photos/season 1/cam-0/IMG_020000.jpg" not in done and "" not in done


def test_resume_index_drops_a_torn_row_longer_than_one_read_block(tmp_path):
    header = csv_header(3)
    out = tmp_path / "out.csv"
    _write_rows(out, ["a.jpg", "b.jpg", "c.jpg"], header)
    whole = out.read_bytes()
    with open(out, "ab") as f:
        f.write(b"/" + b"x" * 200_000)  # killed while writing a very long path
    done = read_done_paths(out, header)
    assert out.read_bytes() == whole and len(done) == 3 and "c.jpg" in done
    out.write_bytes(b"path,top_cl")  # torn inside the header: nothing done, file emptied
    assert len(read_done_paths(out, header)) == 0 and out.read_bytes() == b""
