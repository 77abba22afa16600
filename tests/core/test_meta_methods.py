"""The meta-learning suite's methods on frozen embeddings: each learns a small synthetic task."""

from __future__ import annotations

import numpy as np
import pytest

from core.methods import get_method, method_names

WAYS, DIM = 5, 32


def _task(seed: int, shots: int, queries: int = 10, noise: float = 1.5):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(WAYS, DIM))

    def draw(n):
        y = np.repeat(np.arange(WAYS), n)
        return (centers[y] + noise * rng.normal(size=(len(y), DIM))).astype(np.float32), y

    return draw(shots), draw(queries)


@pytest.mark.parametrize("name", ["siamese", "relation", "maml", "linear_probe", "finetune"])
@pytest.mark.parametrize("shots", [1, 5])
def test_method_learns_synthetic_task(name, shots):
    accs = []
    for seed in range(4):
        (xs, ys), (xq, yq) = _task(seed, shots)
        m = get_method(name)
        m.process_support_set(xs, [f"class{c}" for c in ys])
        pred = m.predict(xq, threshold=0.0)
        assert pred.probs.shape == (len(xq), WAYS)
        np.testing.assert_allclose(pred.probs.sum(1), 1.0, rtol=1e-4)
        accs.append(np.mean(pred.top == np.array([f"class{c}" for c in yq])))
    # chance is 20 %
    assert np.mean(accs) > 0.6, f"{name} {shots}-shot accuracy {np.mean(accs):.2f}"


def test_methods_are_registered():
    for name in ("siamese", "relation", "maml", "linear_probe", "finetune"):
        assert name in method_names()


def test_maml_inner_loop_lowers_support_loss():
    (xs, ys), _ = _task(0, 5, noise=4.0)
    m = get_method("maml", steps=10)
    m.process_support_set(xs, ys)
    losses = m.support_losses_
    assert len(losses) == 11
    assert losses[-1] < losses[0] * 0.9
    assert all(b <= a + 1e-6 for a, b in zip(losses, losses[1:]))


def test_siamese_answers_same_or_different():
    (xs, ys), (xq, yq) = _task(1, 5)
    m = get_method("siamese").process_support_set(xs, ys)
    same = [m.same_probability(xq[i], xs[ys == yq[i]][0]) for i in range(len(xq))]
    diff = [m.same_probability(xq[i], xs[ys != yq[i]][0]) for i in range(len(xq))]
    assert all(0.0 <= p <= 1.0 for p in same + diff)
    assert np.mean(same) > np.mean(diff) + 0.2


def test_finetune_exposes_image_level_interface():
    m = get_method("finetune")
    assert getattr(m, "needs_images", False)
    assert callable(m.process_support_images) and callable(m.predict_proba_images)


def test_heads_load_weights_meta_trained_for_the_backbone(tmp_path):
    import torch

    from core.errors import ModelFileError
    from core.meta.checkpoints import save_checkpoint
    from core.meta.heads import RelationHead, SiameseHead

    torch.manual_seed(0)
    head = SiameseHead(DIM)
    with torch.no_grad():
        head.weight.uniform_(-1, 0)
    path = save_checkpoint({"config": {"method": "siamese", "dim": DIM}, "model": head.state_dict()},
                           tmp_path / "siamese.pt")
    (xs, ys), (xq, _) = _task(0, 1)
    m = get_method("siamese", weights=str(path)).process_support_set(xs, ys)
    torch.testing.assert_close(m.head.weight, head.weight)  # loaded as-is, not refitted
    rel = RelationHead(DIM, 16)
    rpath = save_checkpoint({"config": {"method": "relation", "dim": DIM, "relation_hidden": 16},
                             "model": rel.state_dict()}, tmp_path / "relation.pt")
    r = get_method("relation", weights=str(rpath)).process_support_set(xs, ys)
    assert r.predict_proba(xq).shape == (len(xq), WAYS)
    with pytest.raises(ModelFileError, match="siamese.pt"):
        get_method("siamese", weights=str(path)).process_support_set(xs[:, :16], ys)
    with pytest.raises(ModelFileError, match="siamese.pt"):
        get_method("relation", weights=str(path)).process_support_set(xs, ys)
