"""Adapting the backbone to a project: fine-tune its last stage on the labeled images.

Why: on frozen ImageNet features every transductive and feature trick moved 5-shot accuracy by
about 2 points at most.  Fine-tuning MobileNetV2's last (7x7) stage on the project's labeled images,
then running the default ``softkmeans`` on the adapted embeddings, moved clothing17 5-way 5-shot
from 69.4 to 73.4 % (the 7 classes it was not chosen on: 63.2 -> 67.7), measured over 600 episodes
on a GPU (bench/experiments/accuracy_finetune_gpu.py, BENCHMARKS.md).  At 1 shot it gains nothing on
photos (55.1 -> 54.8), so it runs only once every class has ``MIN_SHOTS`` labels (3: the fewest at
which it gained on both clothing17 and the blood-cell far domain, bench/results/evaluation.md).

The recipe is the one measured; change it only with a new bench run:

- front = stem + ``blocks[:13]``, frozen; tail = ``blocks[13:]`` + the final 1x1 conv, trained
  (1.7 M of the 2.2 M weights, but only the 7x7 maps: ~30 % of the forward cost);
- per labeled image, 8 augmented views (random resized crop of the central 256 x 256 square,
  area 35-100 %, aspect 3:4-4:3, mirrored half the time) go through the front once;
- head: cosine classifier, temperature 10, on the app's transform (L2, minus the mean of the
  project's L2-normalized embeddings, L2), started at the class means and trained with the tail;
- 20 Adam steps at lr 1e-4, each on 2 random views of every labeled image (at most 64 samples;
  5 classes x 5 labels is exactly the measured 50).

Everything here is torch (CUDA when present, else the CPU); the adapted network embeds images
through the same ``embed_batch`` interface as :class:`core.embedder.Embedder`, so
:func:`core.pipeline.embed_files` runs it unchanged.
"""

from __future__ import annotations

import copy
import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .backbones import get_backbone
from .backbones.onnx_export import INPUT_NAME
from .errors import Cancelled, FewLensError
from .preprocess import normalize, resize_center_crop

#: Labels every class needs before the backbone is adapted.  Measured on the same 24 episodes per cell
#: (`python bench/bench_evaluation.py adapt`, frozen -> adapted, 5-way): clothing17 1-2 shots
#: +0.4 / -0.8 (no gain), 3: 62.3 -> 64.9, 4: +3.1, 5: +3.9; pbc_blood_cells +9.6 at 1 shot, +20.0 at 2,
#: 47.6 -> 72.2 at 3.  From 3 it gains on both domains; below, photos gain nothing for an ~18 s CPU job.
MIN_SHOTS = 3


#: ``softkmeans``' output temperature on adapted features, relative to its frozen-feature fit: the
#: adapted network is more confident (ECE on all 17 classes, 5-shot: 8.5 % -> 5.8 % with 0.9; the
#: factor chosen by NLL on the selection classes, bench/experiments/accuracy_adapted_calibration.py).
ADAPTED_TEMPERATURE_SCALE = 0.9


def adapted_method_kwargs(method: str) -> dict:
    """Settings for ``get_method(method, **kw)`` when it runs on adapted features."""
    # ``auto`` forwards it to its softkmeans candidate
    return {"temperature_scale": ADAPTED_TEMPERATURE_SCALE} if method in ("softkmeans", "auto") else {}


@dataclass(frozen=True)
class AdaptationSettings:
    cut: int | None = None  # first trained block; None: the backbone's last stage (MobileNetV2: 13, the 7x7 maps)
    steps: int = 20
    lr: float = 1e-4
    views: int = 8  # augmented views per labeled image, computed once
    views_per_step: int = 2
    max_batch: int = 64
    temperature: float = 10.0
    seed: int = 0


#: Architectures with a ``stem / blocks / last`` torch port whose last stage the recipe fine-tunes.  The
#: EfficientNet-Lite ones share MobileNetV2's layout (inverted residuals, ReLU6); the recipe was tuned on
#: MobileNetV2 and runs unchanged on them (bench/bench_backbones.py measures it).  A feature ensemble
#: adapts the one member its spec names (``info["adapts"]``; see :func:`trained_part`).
ADAPTABLE_ARCHITECTURES = frozenset({"mobilenet_v2", "efficientnet_lite0", "efficientnet_lite2"})


def _torch_installed() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None  # the light bundle has none


def can_adapt(backbone_id: str) -> bool:
    """Whether this backbone has a torch port with the last stage the recipe is written for (and
    this install has torch: without it ``--adapt auto`` and the app keep the pretrained features)."""
    if not _torch_installed():
        return False
    try:
        spec = get_backbone(backbone_id)
    except FewLensError:
        return False
    if spec.builder is None:
        return False
    arch = spec.info.get("architecture")
    if arch == "ensemble":  # it adapts one member (core/backbones/ensemble.py), if that one can
        return bool(spec.info.get("adapts")) and spec.info["adapts"] != backbone_id and can_adapt(spec.info["adapts"])
    return arch in ADAPTABLE_ARCHITECTURES


def why_not_adaptable(backbone_id: str) -> str:
    """One line for the user when :func:`can_adapt` is False."""
    if not _torch_installed():
        return "this FewLens build has no torch (the light bundle), so it cannot adapt the backbone to the labels"
    try:
        spec = get_backbone(backbone_id)
    except FewLensError as e:
        return str(e)
    if spec.builder is None:
        return f"{backbone_id} cannot be adapted: it is an ONNX model, FewLens has no trainable torch module for it"
    if spec.info.get("architecture") == "ensemble":
        return (f"{backbone_id} cannot be adapted: none of its members ({spec.info.get('members', '?')}) is one "
                f"FewLens knows how to fine-tune")
    return (f"{backbone_id} cannot be adapted: {spec.info.get('architecture', 'its architecture')} has no last "
            f"stage FewLens knows how to fine-tune (adaptable: MobileNetV2, EfficientNet-Lite and their ensemble)")


#: Labeled images may grow by this factor past the set a backbone was adapted to before it is
#: adapted again.  Between adaptations the method refits on the adapted features at once, so new
#: labels count immediately; re-training the backbone for each one cost the user a ~35 s job per
#: label (issue 10).  bench/bench_readapt.py measures what waiting costs.
READAPT_GROWTH = 1.5


def needs_readaptation(trained: np.ndarray, labels: np.ndarray, unlabeled: int = -1) -> bool:
    """Whether a backbone adapted to the row-aligned labels ``trained`` should be adapted again
    for ``labels``: a class came or went, a label it was trained on changed (a correction teaches
    it something different), or the labeled set grew by READAPT_GROWTH.  Otherwise the adapted
    features stay in use and only the method refits."""
    trained = np.asarray(trained)
    labels = np.asarray(labels)
    if trained.shape != labels.shape:
        return True
    had = trained != unlabeled
    has = labels != unlabeled
    if set(np.unique(trained[had]).tolist()) != set(np.unique(labels[has]).tolist()):
        return True
    if np.any(had & (labels != trained)):
        return True
    return int(has.sum()) >= READAPT_GROWTH * max(1, int(had.sum()))


def should_adapt(labels: Sequence, backbone_id: str) -> bool:
    """True when >= 2 classes each have >= MIN_SHOTS labeled images and the backbone can adapt."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    return len(counts) >= 2 and int(counts.min()) >= MIN_SHOTS and can_adapt(backbone_id)


def trained_part(model) -> tuple[object, str, slice | None]:
    """(module whose last stage is trained, its state_dict prefix, its columns in the embedding).

    A plain backbone trains itself; a feature ensemble trains its ``adapted_member`` only, on that
    member's own crop and statistics, and its embedding is the member's columns of the joined one."""
    k = getattr(model, "adapted_member", None)
    if k is None:
        return model, "", None
    return model.members[k], f"members.{k}.", model.member_columns(k)


def training_spec(spec):
    """The spec whose preprocessing the trained module expects (an ensemble's adapted member's own)."""
    adapts = spec.info.get("adapts")
    return get_backbone(adapts) if adapts else spec


def augmented_views(img: Image.Image, n: int, rng: np.random.Generator, spec) -> np.ndarray:
    """(n, 3, S, S) normalized random resized crops of the central square (see the module docstring)."""
    size = spec.input_size
    square = resize_center_crop(img, spec.resize_size, spec.resize_size)
    side = square.size[0]
    out = np.empty((n, 3, size, size), np.float32)
    for i in range(n):
        area = rng.uniform(0.35, 1.0)
        aspect = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
        w = min(side, side * math.sqrt(area * aspect))
        h = min(side, side * math.sqrt(area / aspect))
        x0, y0 = rng.uniform(0, side - w), rng.uniform(0, side - h)
        view = square.resize((size, size), Image.Resampling.BILINEAR, box=(x0, y0, x0 + w, y0 + h))
        if rng.random() < 0.5:
            view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out[i] = normalize(np.asarray(view, np.uint8), spec)
    return out


@dataclass
class AdaptedBackbone:
    """A backbone whose last stage was fine-tuned on one set of labels; embeds like an Embedder."""

    spec: object  # the base BackboneSpec (preprocessing, id)
    model: object  # torch module: the full network with the adapted tail, eval mode
    device: str
    fingerprint: str  # hash of the adapted weights: what embeddings computed with it depend on
    history: list[float] = field(default_factory=list)  # training loss per step

    @property
    def embed_dim(self) -> int:
        return self.spec.embed_dim

    #: ONNX Runtime session of the adapted network (CPU only; see ``use_onnxruntime``)
    session: object = None
    #: first trained block: ``model.blocks[cut:]`` and ``model.last`` are what adaptation changed
    cut: int = 13

    def use_onnxruntime(self, threads: int | None = None) -> bool:
        """Embed on ONNX Runtime from now on (CPU): ~4x faster than torch eager on MobileNetV2, which
        matters when a whole project is re-embedded.  The export (TorchScript path, in memory) takes
        well under a second.  Returns False, leaving torch in charge, if the export fails."""
        import io
        import logging

        import torch

        from .backbones.onnx_export import EMBEDDING_OUTPUT, INPUT_NAME, _export_torchscript
        from .ort import new_ort_session

        class EmbedOnly(torch.nn.Module):  # the embedding output only, not the ImageNet head
            def __init__(self, net):
                super().__init__()
                self.net = net

            def forward(self, x):
                return self.net(x)

        if self.device != "cpu":
            return False
        try:
            buf = io.BytesIO()
            size = self.spec.input_size
            _export_torchscript(EmbedOnly(self.model).eval(), torch.zeros(2, 3, size, size), buf, [EMBEDDING_OUTPUT])
            self.session = new_ort_session(buf.getvalue(), threads)
        except Exception as e:  # an exporter gap must not cost the user the adaptation
            logging.getLogger(__name__).warning("adapted backbone stays on torch: ONNX export failed (%s)", e)
            self.session = None
        return self.session is not None

    def embed_batch(self, x: np.ndarray) -> np.ndarray:
        """(N, 3, H, W) float32 preprocessed batch -> (N, D) float32."""
        if self.session is not None:
            (emb,) = self.session.run(None, {INPUT_NAME: np.ascontiguousarray(x, np.float32)})
            return emb.astype(np.float32, copy=False)
        import torch

        with torch.no_grad():
            t = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
            return self.model(t).float().cpu().numpy()

    def embed_images(self, images: Sequence[Image.Image], batch: int = 32) -> np.ndarray:
        from .preprocess import preprocess_batch

        if not images:
            return np.zeros((0, self.embed_dim), np.float32)
        return np.concatenate([self.embed_batch(preprocess_batch(list(images[i:i + batch]), self.spec))
                               for i in range(0, len(images), batch)])


def adapt_backbone(
    backbone_id: str,
    images: Sequence[Image.Image],
    labels: Sequence,
    center_embeddings: np.ndarray | None = None,
    settings: AdaptationSettings = AdaptationSettings(),
    device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> AdaptedBackbone:
    """Fine-tune ``backbone_id``'s last stage on labeled ``images`` (PIL) and return the adapted network.

    ``center_embeddings``: frozen embeddings of the project's images (labeled and unlabeled), whose
    L2-normalized mean the head's transform subtracts, as ``softkmeans`` does; without them the
    labeled images' own mean is used.  ``progress(done, total)`` counts views embedded and steps
    taken; ``cancel()`` returning True raises :class:`Cancelled`.
    """
    import torch
    import torch.nn.functional as F

    if not can_adapt(backbone_id):
        raise FewLensError(why_not_adaptable(backbone_id))
    labels = np.asarray(labels)
    if len(images) != len(labels) or len(images) == 0:
        raise ValueError("adapt_backbone needs one label per image and at least one image")
    classes, y = np.unique(labels, return_inverse=True)
    if len(classes) < 2:
        raise ValueError("adapt_backbone needs at least two classes")
    s = settings
    spec = get_backbone(backbone_id)
    view_spec = training_spec(spec)  # an ensemble trains one member, on that member's own crop
    torch.manual_seed(s.seed)
    rng = np.random.default_rng(s.seed)
    model = spec.build_torch().to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    net, _, columns = trained_part(model)
    blocks = net.blocks
    cut = s.cut if s.cut is not None else getattr(net, "last_stage_start", 13)
    if not 0 <= cut <= len(blocks):
        raise ValueError(f"cut {cut} outside 0..{len(blocks)}")
    tail = torch.nn.Sequential(*copy.deepcopy(list(blocks[cut:])), copy.deepcopy(net.last)).to(device)
    total = len(images) + s.steps
    done = 0

    def tick() -> None:
        nonlocal done
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        done += 1
        if progress is not None:
            progress(done, total)

    def front(x: np.ndarray) -> torch.Tensor:
        with torch.no_grad():
            return blocks[:cut](net.stem(torch.from_numpy(x).to(device)))

    # the front runs once per image: its clean crop and its augmented views
    clean, views = [], []
    for img in images:
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        x = np.concatenate([normalize(np.asarray(resize_center_crop(img, view_spec.resize_size,
                                                                    view_spec.input_size), np.uint8), view_spec)[None],
                            augmented_views(img, s.views, rng, view_spec)])
        f = front(x)
        clean.append(f[:1])
        views.append(f[1:])
        tick()
    clean_t, views_t = torch.cat(clean), torch.stack(views)  # (n, C, H, W), (n, V, C, H, W)
    yt = torch.from_numpy(y.astype(np.int64)).to(device)

    def embed(x: torch.Tensor) -> torch.Tensor:
        return tail(x).mean((2, 3))

    with torch.no_grad():
        f0 = F.normalize(embed(clean_t), dim=1)
        if center_embeddings is not None and len(center_embeddings):
            ce = np.asarray(center_embeddings, np.float32)
            if columns is not None:  # the trained member's part of the joined embedding
                ce = ce[:, columns]
            ce = ce / np.maximum(np.linalg.norm(ce, axis=1, keepdims=True), 1e-12)
            mean = torch.from_numpy(ce.mean(0)).to(device)
        else:
            mean = f0.mean(0)

        def transform(f: torch.Tensor) -> torch.Tensor:
            return F.normalize(F.normalize(f, dim=1) - mean, dim=1)

        fs = transform(embed(clean_t))
        protos = torch.stack([fs[yt == k].mean(0) for k in range(len(classes))])
    protos = protos.clone().requires_grad_(True)
    params = [p for p in tail.parameters()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.Adam([*params, protos], lr=s.lr)
    gen = torch.Generator(device="cpu").manual_seed(s.seed)
    history: list[float] = []
    n = len(images)
    per_step = min(s.max_batch, s.views_per_step * n)
    for _ in range(s.steps):
        # each labeled image views_per_step times (a random subset when that exceeds max_batch)
        img_idx = torch.arange(n).repeat(s.views_per_step)
        if len(img_idx) > per_step:
            img_idx = img_idx[torch.randperm(len(img_idx), generator=gen)[:per_step]]
        view_idx = torch.randint(s.views, (len(img_idx),), generator=gen)
        x = views_t[img_idx.to(device), view_idx.to(device)]
        logits = s.temperature * transform(embed(x)) @ F.normalize(protos, dim=1).T
        loss = F.cross_entropy(logits, yt[img_idx.to(device)])
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss.detach()))
        tick()
    tail.eval()
    for p in tail.parameters():
        p.requires_grad_(False)
    # splice the trained tail back: the network now runs end to end like the original
    net.blocks = torch.nn.Sequential(*blocks[:cut], *tail[:-1])
    net.last = tail[-1]
    h = hashlib.sha256(spec.weights_id().encode())
    for t in tail.state_dict().values():
        h.update(t.detach().cpu().numpy().tobytes())
    adapted = AdaptedBackbone(spec, model.eval(), device, h.hexdigest()[:32], history, cut=cut)
    adapted.use_onnxruntime()
    return adapted


def _trained_keys(model, cut: int) -> list[str]:
    """state_dict keys of the trained stage, in the order adapt_backbone hashes them."""
    _, prefix, _ = trained_part(model)
    keys = []
    for k in model.state_dict():
        if not k.startswith(prefix):
            continue
        head, _, rest = k[len(prefix):].partition(".")
        if head == "last" or (head == "blocks" and int(rest.partition(".")[0]) >= cut):
            keys.append(k)
    return keys


def trained_state(adapted: AdaptedBackbone) -> dict[str, np.ndarray]:
    """The adapted stage's weights and buffers (all the rest is the pretrained backbone), in order."""
    sd = adapted.model.state_dict()
    return {k: sd[k].detach().cpu().numpy() for k in _trained_keys(adapted.model, adapted.cut)}


def network_from_state(backbone_id: str, cut: int, state: dict[str, np.ndarray], device: str = "cpu",
                       fingerprint: str | None = None) -> AdaptedBackbone:
    """Rebuild an adapted network from :func:`trained_state`.  ValueError when the weights do not fit
    the backbone or (with ``fingerprint``) are not the ones that were saved."""
    import torch

    spec = get_backbone(backbone_id)
    model = spec.build_torch().to(device).eval()
    keys = _trained_keys(model, cut)
    if list(state) != keys:
        raise ValueError(f"the saved weights do not match {backbone_id}'s last stage")
    sd = model.state_dict()
    for k in keys:
        if tuple(sd[k].shape) != tuple(state[k].shape):
            raise ValueError(f"the saved weight {k} has shape {tuple(state[k].shape)}, not {tuple(sd[k].shape)}")
    model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}, strict=False)
    for p in model.parameters():
        p.requires_grad_(False)
    h = hashlib.sha256(spec.weights_id().encode())
    for k in keys:
        h.update(np.ascontiguousarray(state[k]).tobytes())
    fp = h.hexdigest()[:32]
    if fingerprint is not None and fp != fingerprint:
        raise ValueError("the saved weights are damaged (their fingerprint does not match)")
    adapted = AdaptedBackbone(spec, model.eval(), device, fp, cut=cut)
    adapted.use_onnxruntime()
    return adapted


@dataclass
class Adaptation:
    """What :func:`adapt_and_embed` made: the network and the files embedded with it."""

    network: AdaptedBackbone | None  # None when skipped
    embeddings: dict  # Path -> adapted vector, for every embedded file that could be read
    errors: list  # ImageError, each file once
    n_labels: int  # labeled images it was trained on (unreadable ones skipped)
    skipped: str | None = None  # why nothing was adapted


def adapt_and_embed(backbone_id: str, train_files: Sequence, train_labels: Sequence, embed_paths: Sequence,
                    center_embeddings: np.ndarray | None = None, settings: AdaptationSettings | None = None,
                    device: str = "cpu", progress: Callable[[str, int, int], None] | None = None,
                    cancel: Callable[[], bool] | None = None, need_min_shots: bool = False) -> Adaptation:
    """The one adapt path (the app's AdaptJob, the Recognizer builder, ``fewlens eval``): decode the
    labeled files, adapt the backbone to them, embed ``embed_paths`` with the adapted network.

    ``progress(stage, done, total)`` runs over one total (decode + views + steps + embed), stage
    "adapting" then "embedding".  Unreadable files are skipped and reported in ``errors``.
    ``need_min_shots``: skip (``skipped`` says why) unless the readable labels pass should_adapt.
    """
    from .errors import ImageError
    from .images import load_image
    from .pipeline import embed_files

    settings = settings or AdaptationSettings()
    spec = get_backbone(backbone_id)
    n_train = len(train_files)
    total = 2 * n_train + settings.steps + len(embed_paths)
    errors: list = []
    images, labels = [], []
    for k, (f, y) in enumerate(zip(train_files, train_labels)):
        if cancel is not None and cancel():
            raise Cancelled("cancelled")
        try:
            images.append(load_image(f, min_side=spec.resize_size))
            labels.append(y)
        except ImageError as e:  # named in the report, never fatal
            errors.append(e)
        if progress is not None:
            progress("adapting", k + 1, total)
    if need_min_shots and not should_adapt(labels, backbone_id):
        return Adaptation(None, {}, errors, len(labels), "too few readable labeled images to adapt the model")
    if len(set(np.asarray(labels).tolist())) < 2:
        raise FewLensError("adapting the backbone needs readable labeled images of at least two classes")
    network = adapt_backbone(backbone_id, images, labels, center_embeddings=center_embeddings, settings=settings,
                             device=device, cancel=cancel,
                             progress=None if progress is None else
                             lambda done, _t: progress("adapting", n_train + done, total))
    del images  # re-embedding decodes at its own size
    base = 2 * n_train + settings.steps
    res = embed_files(embed_paths, network, cache=None, cancel=cancel,
                      progress=None if progress is None else lambda done, _t: progress("embedding", base + done, total))
    reported = {str(e.path) for e in errors}
    errors.extend(e for e in res.errors if str(e.path) not in reported)
    return Adaptation(network, res.embeddings, errors, len(labels))




def adapted_episode(paths: Sequence, frozen: np.ndarray, episode, backbone_id: str,
                    settings: AdaptationSettings = AdaptationSettings(), device: str = "cpu"):
    """``fewlens eval``'s adapted path for one episode: (features, episode re-indexed into them).

    The backbone is adapted on the episode's labeled images only, centered on the frozen embeddings
    of every image the episode shows (labeled, unlabeled pool, queries), as the app centers on the
    project; then those images are embedded with the adapted network (:func:`adapt_and_embed`).
    """
    import dataclasses
    from pathlib import Path

    rows = np.concatenate([episode.support, episode.unlabeled, episode.query]).astype(np.int64)
    ns, nu = len(episode.support), len(episode.unlabeled)
    files = [Path(paths[i]) for i in rows]
    a = adapt_and_embed(backbone_id, files[:ns], episode.support_labels, files, center_embeddings=frozen[rows],
                        settings=settings, device=device)
    if a.errors:  # the dataset's files were all embedded once already: a failure now is a real change
        raise a.errors[0]
    feats = np.stack([a.embeddings[f] for f in files])
    local = np.arange(len(rows))
    return feats, dataclasses.replace(episode, support=local[:ns], unlabeled=local[ns:ns + nu],
                                      query=local[ns + nu:])


__all__ = ["ADAPTED_TEMPERATURE_SCALE", "MIN_SHOTS", "Adaptation", "AdaptationSettings", "AdaptedBackbone",
           "adapt_and_embed", "adapt_backbone", "adapted_episode", "adapted_method_kwargs", "augmented_views",
           "can_adapt", "network_from_state", "should_adapt", "trained_part", "trained_state", "training_spec",
           "why_not_adaptable"]
