"""The CPU inference path must not import torch once the ONNX export is cached."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from core.backbones import get_backbone
from core.backbones.onnx_export import onnx_path_for

SCRIPT = r"""
import json, sys
from core.embedder import Embedder
from core.images import load_image
e = Embedder("mobilenet_v2_imagenet", device=sys.argv[1])
img = load_image(sys.argv[2])
vec = e.embed_images([img])
top = e.classify([img], k=1)[0][0][0]
print(json.dumps({"torch": "torch" in sys.modules, "device": e.device, "dim": int(vec.shape[1]), "top": top}))
"""


def _run(device: str, image) -> dict:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, device, str(image)], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_cpu_path_never_imports_torch(data_dir):
    onnx_path_for(get_backbone("mobilenet_v2_imagenet"))  # make sure the export is cached
    for device in ("cpu", "auto"):
        res = _run(device, data_dir / "coral" / "images" / "parrot.jpg")
        assert res["torch"] is False, f"device={device} imported torch"
        assert res["device"] == "cpu" and res["dim"] == 1280 and res["top"] == "macaw"
