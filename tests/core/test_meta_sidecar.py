"""Listing backbones (the GUI's menu, the light bundle) must not import torch."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

from core.meta.checkpoints import bundled_checkpoints, config_sidecar, load_checkpoint, read_config


def test_listing_backbones_does_not_import_torch():
    code = (
        "import sys, json\n"
        "from core.backbones import list_backbones\n"
        "ids = [b.id for b in list_backbones()]\n"
        "print(json.dumps({'ids': ids, 'torch': 'torch' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    res = json.loads(out.strip().splitlines()[-1])
    assert "omniglot_conv4_protonet" in res["ids"] and "mobilenet_v2_imagenet" in res["ids"]
    assert res["torch"] is False


def test_every_bundled_checkpoint_has_a_matching_sidecar():
    for sid, path in bundled_checkpoints().items():
        side = json.loads(config_sidecar(path).read_text())
        assert side["config"] == json.loads(json.dumps(load_checkpoint(path)["config"], default=str)), sid


def test_stale_sidecar_falls_back_to_the_checkpoint(tmp_path):
    src = bundled_checkpoints()["omniglot_conv4_protonet"]
    ck = tmp_path / "model.pt"
    shutil.copy(src, ck)
    doc = json.loads(config_sidecar(src).read_text())
    doc["config"]["method"] = "something-else"
    doc["checkpoint_sha256"] = "0" * 64  # belongs to another file
    config_sidecar(ck).write_text(json.dumps(doc))
    assert read_config(ck)["method"] == "protonet"
