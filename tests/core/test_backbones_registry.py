"""The backbone registry and `fewlens backbones`."""

from __future__ import annotations

import json

import pytest

from core.backbones import (
    DEFAULT_BACKBONE,
    TFLITE_UINT8_MEAN,
    BackboneSpec,
    get_backbone,
    list_backbones,
    register_backbone,
    unregister_backbone,
)
from core.cli import main
from core.errors import FewLensError

BUNDLED = {
    "mobilenet_v2_imagenet": (1280, 1001),
    "mobilenet_v2_inat_birds": (1280, 965),
    "mobilenet_v2_inat_insects": (1280, 1022),
    "mobilenet_v1_imagenet": (1024, 0),
}


# pip-installed weights (core.backbones.lite), listed after the Coral models
LITE = ["efficientnet_lite0_imagenet", "efficientnet_lite2_imagenet", "mobilenet_v2_lite2_imagenet",
        "mobilenet_v2_lite0_lite2_imagenet"]


def test_bundled_specs_state_what_they_are():
    specs = {s.id: s for s in list_backbones()}
    assert DEFAULT_BACKBONE == "mobilenet_v2_imagenet"
    for sid, (dim, classes) in BUNDLED.items():
        s = specs[sid]
        assert s.embed_dim == dim and s.input_size == 224 and s.resize_size == 256
        assert s.mean == TFLITE_UINT8_MEAN and s.normalization() == "(p-128)/128"
        assert "Apache-2.0" in s.license and "google-coral" in s.source
        assert s.weights_file.is_file()
        assert (len(s.labels) if s.labels else 0) == classes
    assert specs["mobilenet_v2_imagenet"].labels[0] == "background"
    ids = {s.weights_id() for s in specs.values()}
    assert len(ids) == len(specs)  # one cache key per model


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(FewLensError, match="mobilenet_v2_imagenet"):
        get_backbone("resnet9000")


def test_register_backbone_for_other_modules():
    spec = BackboneSpec(
        id="test_plugin_backbone", title="plug-in", embed_dim=4, license="MIT", source="test", builder=lambda: None
    )
    assert register_backbone(spec) is spec
    assert get_backbone("test_plugin_backbone") is spec
    assert "test_plugin_backbone" in [s.id for s in list_backbones()]
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_backbone(BackboneSpec(id="test_plugin_backbone", title="x", embed_dim=1, license="", source=""))
    finally:
        unregister_backbone("test_plugin_backbone")
    assert "test_plugin_backbone" not in [s.id for s in list_backbones()]


def test_cli_lists_backbones(capsys):
    assert main(["backbones"]) == 0
    out = capsys.readouterr().out
    for sid in BUNDLED:
        assert sid in out
    assert "mobilenet_v2_imagenet  (default)" in out
    assert "head: 1001 classes" in out and "head: none" in out and "Apache-2.0" in out

    assert main(["backbones", "--json"]) == 0
    rows = {r["id"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mobilenet_v1_imagenet"]["embed_dim"] == 1024 and rows["mobilenet_v1_imagenet"]["head"] == "none"
    assert rows["mobilenet_v2_inat_birds"]["head"] == "965 classes"
    assert rows["mobilenet_v2_imagenet"]["default"] is True


def test_cli_bad_user_model_is_one_line_error(tmp_path, capsys):
    bad = tmp_path / "broken.onnx"
    bad.write_text("not onnx")
    assert main(["backbones", "--add", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("fewlens: error:") and str(bad) in err and len(err.splitlines()) == 1


def test_meta_trained_backbones_are_listed(monkeypatch):
    """core.meta.checkpoints.bundled_backbone_specs() feeds list_backbones(), imported lazily."""
    import sys
    import types

    from core.backbones import registry

    plugin = types.ModuleType("core.meta.checkpoints")
    plugin.bundled_backbone_specs = lambda: [
        BackboneSpec(id="omniglot_test_conv4", title="Conv-4", embed_dim=64, license="MIT", source="test",
                     input_size=28, resize_size=28)
    ]
    monkeypatch.setitem(sys.modules, "core.meta.checkpoints", plugin)
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_bundled_loaded", False)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    assert get_backbone("mobilenet_v2_imagenet").id == "mobilenet_v2_imagenet"
    assert registry._plugins_loaded is False  # a bundled id never loads the plug-ins (torch-free path)
    assert get_backbone("omniglot_test_conv4").input_size == 28  # an unknown id does
    ids = [s.id for s in list_backbones()]
    assert ids[:4] == list(BUNDLED) and "omniglot_test_conv4" in ids

    # a broken plug-in must not hide the bundled backbones
    def broken():
        raise RuntimeError("corrupt checkpoint")

    plugin.bundled_backbone_specs = broken
    monkeypatch.setattr(registry, "_registry", {})
    monkeypatch.setattr(registry, "_bundled_loaded", False)
    monkeypatch.setattr(registry, "_plugins_loaded", False)
    assert [s.id for s in list_backbones()] == list(BUNDLED) + LITE


def test_every_backbone_has_its_own_name_in_the_picker():
    """The GUI's backbone picker shows a title up to " ("; two models must never look the same there."""
    names = [s.title.split(" (")[0] for s in list_backbones()]
    assert len(names) == len(set(names)), names
    assert "Omniglot Conv-4 · ProtoNet seed 1" in names
