"""An exported FewLens classifier over a large image collection on Ray Data.

    predict_distributed("model.onnx", ["s3://bucket/photos/"], "s3://bucket/preds/", fmt="parquet")

Ray does the scheduling: ``read_binary_files`` lists and reads the files (local folders, s3://,
gs://, anything pyarrow's file systems take) and ``map_batches`` runs an actor pool of
``OnnxBatchPredictor``, each holding one ONNX Runtime session.  Each actor decodes with
core.batch_predictors.load_uint8 (the standalone runner's preprocessing, so both feed the model
the same pixels) and formats rows with core.batch.format_row (the same cells as
``fewlens predict -o OUT.csv``).  Output is Ray's sharded CSV or Parquet folder.  Unreadable
files are rows with ``error`` set, as in the standalone CSV.

Optional: ``pip install fewlens[distributed]`` (Ray Data).  A remote cluster (``--address``)
needs fewlens installed on its nodes; the model travels with the job (its bytes are an actor
constructor argument), so it need not be on shared storage.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .batch import DEFAULT_TOP_K, csv_header, format_error_row, format_row
from .batch_predictors import Geometry, load_uint8, read_model_metadata, run_in_chunks
from .errors import FewLensError, ImageError
from .images import IMAGE_EXTENSIONS

INSTALL_HINT = "Ray is not installed: pip install 'fewlens[distributed]' (or pip install 'ray[data]')"


def _import_ray():
    try:
        import ray
        import ray.data  # noqa: F401  (ray without the [data] extra has no ray.data deps)
    except ImportError:
        raise FewLensError(INSTALL_HINT) from None
    return ray


class OnnxBatchPredictor:
    """A Ray Data actor: a batch ``{"path", "bytes"}`` -> the CSV columns of core.batch."""

    def __init__(self, model: bytes, meta: dict, top_k: int = DEFAULT_TOP_K, threads: int = 1):
        from .ort import new_ort_session

        self.session = new_ort_session(model, threads)
        self.classes = [str(c) for c in meta["classes"]]
        self.geometry = Geometry(int(meta["input"]["size"]), int(meta["input"]["resize"]))
        self.threshold = float(meta.get("unknown_threshold") or 0.0)
        bb = meta.get("backbone") or {}
        self.backbone = str(bb.get("id", "?")) if isinstance(bb, dict) else str(bb)
        self.method = str(meta.get("method", "?"))
        self.k = max(1, min(top_k, len(self.classes)))
        self.columns = csv_header(self.k)

    def __call__(self, batch: dict) -> dict:
        paths = [str(p) for p in batch["path"]]
        pixels, ok, rows = [], [], [None] * len(paths)
        for i, (p, data) in enumerate(zip(paths, batch["bytes"])):
            try:
                pixels.append(load_uint8(p, self.geometry, data=bytes(data)))
                ok.append(i)
            except ImageError as e:
                rows[i] = format_error_row(p, e.reason, self.k, self.backbone, self.method)
        if ok:
            # the single-process runner's fixed run shape: same arena footprint, same numbers
            probs = run_in_chunks(lambda x: self.session.run(["probs"], {"images": x})[0], np.stack(pixels))
            for i, pr in zip(ok, probs):
                rows[i] = format_row(paths[i], pr, self.classes, self.threshold, self.k, self.backbone, self.method)
        return {c: [r[j] for r in rows] for j, c in enumerate(self.columns)}


def predict_distributed(
    model: os.PathLike | str,
    images: list[str],
    output: str,
    fmt: str = "csv",
    address: str | None = None,
    workers: int = 2,
    batch_size: int = 32,
    top_k: int = DEFAULT_TOP_K,
    threads_per_worker: int = 1,
) -> None:
    """Predict every image under ``images`` (files, folders or URIs) into ``output`` (a folder
    or URI Ray writes shards to), streaming: nothing is materialized on the driver.  Starts a
    local Ray when none is running and ``address`` is None."""
    if fmt not in ("csv", "parquet"):
        raise FewLensError(f"--format must be csv or parquet, not {fmt!r}")
    meta = read_model_metadata(model)
    model_bytes = Path(model).read_bytes()
    for p in images:
        if "://" not in p and not Path(p).exists():
            raise ImageError(p, "file not found")
    ray = _import_ray()
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 **({} if address else {"num_cpus": max(workers, 1)}))
    exts = sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS)
    exts += [e.upper() for e in exts]
    ctx = ray.data.DataContext.get_current()
    ctx.execution_no_progress_timeout_s = 600  # a stall is an error in minutes, not Ray's 30-minute default
    ds = ray.data.read_binary_files([os.fspath(p) for p in images], include_paths=True, file_extensions=exts)
    out = ds.map_batches(
        OnnxBatchPredictor,
        fn_constructor_args=(model_bytes, meta, top_k, threads_per_worker),
        batch_size=batch_size,
        batch_format="numpy",
        concurrency=workers,
        # half a CPU each: whole-CPU actors on a cluster of exactly `workers` CPUs would leave
        # none for the read tasks that feed them (Ray Data then stalls, it does not error)
        num_cpus=0.5,
    )
    if fmt == "csv":
        out.write_csv(output)
    else:
        out.write_parquet(output)


__all__ = ["INSTALL_HINT", "OnnxBatchPredictor", "predict_distributed"]
