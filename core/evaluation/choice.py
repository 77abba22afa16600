"""Per-project model choice: which method (and knobs) the project's own labels vouch for.

The unlabeled pool helps when the classes form clean clusters in feature space and hurts when
they do not (issue 15: softkmeans lost to plain ProtoNet on two of six held-out domains), so the
choice is made by cross-validation on the labeled images (core.evaluation.crossval), with the
pool exactly as the app uses it:

- candidates: ``softkmeans`` (prototypes refined with the unlabeled images) and ``protonet``;
- guard: ``softkmeans`` is kept only when, of the held-out labels the two methods disagree on,
  it gets right more than ProtoNet by over one standard deviation of that count (a sign test at
  z = 1: b - c > sqrt(b + c)); otherwise plain ProtoNet (the pool did not clearly help).  The
  plain "more right" guard (z = 0) let noise pick softkmeans on the far domain: 1.8 points below
  ProtoNet at 4 shots; z = 1 keeps it within 0.84 there and costs clothing17 0.7-1.05 points at
  2-4 shots (bench/results/evaluation.md);
- with no class holding two labels nothing can be held out: ``softkmeans``, the measured
  1-shot choice (clothing17 55.0 vs 47.5 %; the far domain 37.2 vs 37.3 %, bench/results/evaluation.md);
- temperature: a power on the chosen method's probabilities fitted by NLL on the held-out
  predictions, shrunk toward 1 on few labels (a handful of held-out images is a noisy fit);
- unknown threshold: the 10 % quantile of the held-out probability of the true label.

Adapting the backbone is not chosen here (each fold would need its own ~18 s fine-tune on a
CPU); core.adaptation's 5-labels-per-class rule stays in charge of that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .crossval import CrossValResult, cross_validate

#: ``softkmeans`` is kept when it gets right more held-out labels than ProtoNet by over
#: MIN_EXTRA + Z * sqrt(disagreements) (at 0 and 0, a tie goes to the better likelihood).
SOFTKMEANS_MIN_EXTRA = 0
SOFTKMEANS_Z = 1.0

#: (name, get_method kwargs, what the user reads)
CANDIDATES: list[tuple[str, dict, str]] = [
    ("softkmeans", {}, "prototypes + unlabeled images"),
    ("protonet", {}, "prototypes only"),
]
FALLBACK = "protonet"
NO_CV_CHOICE = "softkmeans"
#: held-out images at which the fitted temperature counts half (shrinkage toward 1)
TEMPERATURE_PRIOR = 50
UNKNOWN_QUANTILE = 0.1


@dataclass
class ModelChoice:
    method: str
    kwargs: dict
    title: str  # what the user reads, e.g. "prototypes + unlabeled images"
    temperature_power: float = 1.0  # probabilities ** t, renormalised
    threshold: float | None = None  # "unknown" below this confidence
    scores: dict[str, float] = field(default_factory=dict)  # candidate -> held-out accuracy
    n_scored: int = 0
    reason: str = ""
    cv: dict[str, CrossValResult] = field(default_factory=dict, repr=False)

    @property
    def gain_points(self) -> float | None:
        """Held-out accuracy of the choice minus the other candidate's, in points."""
        if len(self.scores) < 2 or self.method not in self.scores:
            return None
        other = max(v for k, v in self.scores.items() if k != self.method)
        return 100.0 * (self.scores[self.method] - other)

    def message(self) -> str:
        """One line for the main window / report."""
        g = self.gain_points
        if g is None:
            return f"Using {self.title} ({self.reason})"
        if abs(g) < 0.5:
            return f"Using {self.title}: as accurate on your labels, with more likely answers"
        if g < 0:  # the guard kept ProtoNet although the pool scored higher: say so, not "-8 points"
            other = next(t for n, _, t in CANDIDATES if n != self.method)
            return (f"Using {self.title}: {other} scored {-g:.0f} points higher on your labels, "
                    f"too few to be sure yet")
        return f"Using {self.title}: {g:+.0f} points on your labels"


def apply_power(probs: np.ndarray, t: float) -> np.ndarray:
    """softmax(t * log p): the temperature change of any softmax output."""
    if t == 1.0 or probs.size == 0:
        return probs
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0)) * t
    logp -= logp.max(1, keepdims=True)
    e = np.exp(logp)
    return (e / e.sum(1, keepdims=True)).astype(np.float32)


def choose_model(support: np.ndarray, labels, unlabeled: np.ndarray | None = None,
                 folds: int | None = None, method_kwargs: dict | None = None,
                 cancel: Callable[[], bool] | None = None) -> ModelChoice:
    """Pick the method for these labels (see the module docstring).  ``method_kwargs`` are
    extra settings per candidate name (adapted features rescale softkmeans' temperature)."""
    from ..methods import get_method
    from ..methods.calibration import fit_temperature

    labels = np.asarray(labels)
    extra = method_kwargs or {}
    titles = {name: title for name, _, title in CANDIDATES}
    cvs: dict[str, CrossValResult] = {}
    for name, kw, _ in CANDIDATES:
        kwargs = {**kw, **extra.get(name, {})}
        cvs[name] = cross_validate(lambda n=name, k=kwargs: get_method(n, **k), support, labels, unlabeled,
                                   folds=folds, cancel=cancel)
    n = cvs[FALLBACK].n_scored
    if n == 0 or len(np.unique(labels)) < 2:
        return ModelChoice(NO_CV_CHOICE, dict(extra.get(NO_CV_CHOICE, {})), titles[NO_CV_CHOICE],
                           reason="2 labels in a class are needed to compare methods", cv=cvs)
    acc = {k: v.accuracy for k, v in cvs.items()}
    s, p = cvs["softkmeans"], cvs["protonet"]
    only_s = int((s.correct & ~p.correct).sum())  # held-out labels only softkmeans gets right
    only_p = int((p.correct & ~s.correct).sum())
    need = SOFTKMEANS_MIN_EXTRA + SOFTKMEANS_Z * np.sqrt(only_s + only_p)
    helps = only_s - only_p > need or (only_s == only_p and need == 0 and s.nll() < p.nll())
    name = "softkmeans" if helps else FALLBACK
    reason = "the unlabeled images helped on your labels" if helps else "the unlabeled images did not help on your labels"
    chosen = cvs[name]
    t = 1.0
    if n >= 4:
        logp = np.log(np.clip(chosen.probs[chosen.scored], 1e-12, 1.0))
        t_fit = fit_temperature(logp, chosen.true_col[chosen.scored], lo=0.25, hi=4.0)
        t = float(np.exp(np.log(t_fit) * n / (n + TEMPERATURE_PRIOR)))
    tp = apply_power(chosen.probs, t)[np.arange(len(labels)), chosen.true_col][chosen.scored]
    threshold = float(np.quantile(tp, UNKNOWN_QUANTILE)) if len(tp) else None
    return ModelChoice(name, dict(extra.get(name, {})), titles[name], t, threshold, acc, n, reason, cvs)


__all__ = ["CANDIDATES", "ModelChoice", "apply_power", "choose_model"]
