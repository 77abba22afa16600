"""The open project as the GUI sees it: one model service shared by every view.

``ProjectSession`` owns the :class:`core.project.Project` and mirrors what the
views need in NumPy arrays row-aligned with the gallery (ids, labels,
embeddings, predictions), so painting 100,000 tiles never touches SQLite or
the disk.  Every mutation goes to the project first (it autosaves: each call is
one committed transaction), then to the arrays, then out as a signal.  Undo
commands (app/undo.py) call the public mutators here.

Live adaptation: a label change bumps a generation counter and asks the
:class:`LivePredictor` for a refit; it runs on its own thread and the newest
result replaces the old one, so the UI thread never waits for a matmul.

Two feature matrices: ``emb`` holds the frozen (pretrained) embeddings, cached as
always; ``adapted`` holds the embeddings of a backbone fine-tuned on the labels
(app/adapter.py), when one has landed.  Predictions use the adapted matrix only
while it still describes this project (:attr:`adapted_in_use`); otherwise the
frozen one, exactly as before adaptation existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, Signal

from core.methods import DEFAULT_METHOD, method_names
from core.project import ClassInfo, DeletedClass, Project

from core.adapted_features import AdaptedFeatures, backbone_can_adapt, covers_rows, labels_allow_adaptation
from core.live_model import (UNLABELED, EmbeddingMatrix, PredictionState, ProjectRows, grow_predictions,
                             read_project_rows)

from .predictor import LivePredictor
from .session_images import SessionImages

DEFAULT_THRESHOLD = 0.2


def default_backbone() -> str:
    try:
        from core.backbones import DEFAULT_BACKBONE

        return DEFAULT_BACKBONE
    except ImportError:  # a light bundle without the backbone registry
        return "mobilenet_v2_imagenet"


@dataclass(frozen=True)
class ImageRow:
    """What a view needs about one gallery row (built on demand, never stored per row)."""

    row: int
    id: int
    path: Path
    label: int  # class id or UNLABELED
    missing: bool
    embedded: bool
    predicted: int  # class id or UNLABELED
    confidence: float
    unknown: bool


class ProjectSession(SessionImages, QObject):
    # rows were removed/reordered (or everything changed): views reset
    imagesReset = Signal()
    # rows first..last were appended (an import chunk): views can insert instead of resetting
    rowsAppended = Signal(int, int)
    # labels of these rows changed (np.ndarray of rows)
    labelsChanged = Signal(object)
    classesChanged = Signal()
    # a new PredictionState was swapped in
    predictionsChanged = Signal()
    # embeddings arrived for some rows (how many rows still lack one is `pending_embeddings`)
    embeddingsChanged = Signal()
    settingsChanged = Signal()
    # an adapted matrix landed or was dropped, or adaptation was switched on/off
    featuresChanged = Signal()
    # labels, method, features or backbone changed: recognizer() / recognizer_snapshot() is new
    recognizerChanged = Signal()

    def __init__(self, project: Project, parent: QObject | None = None, rows: "ProjectRows | None" = None):
        """``rows``: the project's image table already read (by :func:`read_project_rows` on a
        worker thread, so opening a 100k-image project does not stall the UI)."""
        super().__init__(parent)
        self.project = project
        self.backbone: str = project.get_setting("backbone") or default_backbone()
        method = project.get_setting("method") or DEFAULT_METHOD
        self.method: str = method if method in method_names(embedding_level_only=True) else DEFAULT_METHOD
        self.threshold: float = float(project.get_setting("unknown_threshold", DEFAULT_THRESHOLD))
        # "Auto": the threshold comes from the labeled images (leave-one-out) on every refit
        self.auto_threshold: bool = bool(project.get_setting("unknown_threshold_auto", True))
        # adapt the backbone to the labels once every class has 5 (issue 5's default)
        self.adapt_enabled: bool = bool(project.get_setting("adapt_backbone", True))
        self.adapted: AdaptedFeatures | None = None
        self.classes: list[ClassInfo] = []
        self.ids = np.zeros(0, np.int64)
        # absolute paths as strings: 100k Path objects would cost half a second to build
        self.files: list[str] = []
        self.hashes: list[str] = []
        self.labels = np.zeros(0, np.int64)
        self.missing = np.zeros(0, bool)
        self.emb = EmbeddingMatrix()
        self.pred = PredictionState.empty(0)
        self.unknown = np.zeros(0, bool)
        self._row_of: dict[int, int] = {}
        self._removed_vecs: dict[tuple[str, str], np.ndarray] = {}  # for undoing removals
        self._hash_index: tuple[int, dict[str, int], dict[str, list[int]]] | None = None
        self._generation = 0
        # generation at which rows were last added/removed/reordered: older results are misaligned
        self._rows_generation = 0
        self._recognizer = None  # app.session_recognizer.RecognizerSnapshot, by fit
        self.predictor = LivePredictor(self)
        self.predictor.finished.connect(self._on_predictions)
        self._load(rows)

    # ------------------------------------------------------------------ loading
    def _load(self, rows: "ProjectRows | None") -> None:
        rows = rows if rows is not None else read_project_rows(self.project)
        self.ids, self.files, self.hashes = rows.ids, rows.files, rows.hashes
        self.labels, self.missing, self._row_of = rows.labels, rows.missing, rows.row_of
        n = len(self.ids)
        self.emb = EmbeddingMatrix()
        self.emb.resize(n)
        self.pred = PredictionState.empty(n)
        self.unknown = np.zeros(n, bool)
        self.classes = self.project.classes()

    @property
    def path(self) -> Path:
        return Path(self.project.path)

    def close(self) -> None:
        self.predictor.shutdown()
        self.project.close()

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self.ids)

    def __bool__(self) -> bool:  # an empty project is still a session (len() would say False)
        return True

    def file_path(self, row: int) -> Path:
        return Path(self.files[row])

    @property
    def paths(self) -> list[Path]:
        """Every image path (builds N Path objects: for tests and small projects)."""
        return [Path(f) for f in self.files]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(int(image_id))

    def rows_of(self, image_ids) -> np.ndarray:
        return np.array([self._row_of[int(i)] for i in image_ids if int(i) in self._row_of], np.int64)

    def image_row(self, row: int) -> ImageRow:
        pred = self.pred
        has_pred = row < len(pred.top) and pred.top[row] != UNLABELED
        return ImageRow(
            row=row,
            id=int(self.ids[row]),
            path=Path(self.files[row]),
            label=int(self.labels[row]),
            missing=bool(self.missing[row]),
            embedded=bool(self.emb.have[row]) if row < self.emb.n else False,
            predicted=int(pred.top[row]) if has_pred else UNLABELED,
            confidence=float(pred.confidence[row]) if has_pred else 0.0,
            unknown=bool(self.unknown[row]) if has_pred else False,
        )

    def class_by_id(self, class_id: int) -> ClassInfo | None:
        for c in self.classes:
            if c.id == class_id:
                return c
        return None

    def class_counts(self) -> dict[int, tuple[int, int]]:
        """{class id: (labeled, predicted among unlabeled)}."""
        if not self.classes:
            return {}
        size = max(c.id for c in self.classes) + 1  # class ids are small autoincrement ints
        lab = self.labels[(self.labels >= 0) & (self.labels < size)]
        labeled = np.bincount(lab, minlength=size)
        top = self.pred.top[(self.labels == UNLABELED) & ~self.unknown]
        predicted = np.bincount(top[(top >= 0) & (top < size)], minlength=size)
        return {c.id: (int(labeled[c.id]), int(predicted[c.id])) for c in self.classes}

    @property
    def labeled_count(self) -> int:
        return int((self.labels != UNLABELED).sum())

    @property
    def pending_embeddings(self) -> int:
        """Images in the project that still need an embedding (missing files excluded)."""
        return int((~self.emb.have & ~self.missing).sum())

    def rows_needing_embedding(self) -> list[int]:
        return np.flatnonzero(~self.emb.have & ~self.missing).tolist()

    # ------------------------------------------------------------------ labels
    def set_labels(self, image_ids, class_id: int | None) -> dict[int, int | None]:
        prev = self.project.set_labels(image_ids, class_id)
        rows = self.rows_of(prev.keys())
        self.labels[rows] = UNLABELED if class_id is None else class_id
        self._labels_changed(rows)
        return prev

    def apply_labels(self, labels: dict[int, int | None], labeled_by: str = "user") -> dict[int, int | None]:
        prev = self.project.apply_labels(labels, labeled_by=labeled_by)
        known = {c.id for c in self.classes}
        rows = []
        for img_id, cid in labels.items():
            r = self._row_of.get(int(img_id))
            if r is not None:
                self.labels[r] = cid if cid in known else UNLABELED
                rows.append(r)
        self._labels_changed(np.asarray(rows, np.int64))
        return prev

    def predicted_labels(self, image_ids) -> dict[int, int]:
        """{image id: predicted class} for the given images that have a confident prediction."""
        out = {}
        for img_id in image_ids:
            r = self._row_of.get(int(img_id))
            if r is not None and self.pred.top[r] != UNLABELED and not self.unknown[r]:
                out[int(img_id)] = int(self.pred.top[r])
        return out

    def _labels_changed(self, rows: np.ndarray) -> None:
        self.classes = self.project.classes()  # counts
        self.labelsChanged.emit(rows)
        self.classesChanged.emit()
        self.request_refit()

    # ------------------------------------------------------------------ classes
    def add_class(self, name: str, color: str | None = None) -> int:
        cid = self.project.add_class(name, color)
        self._classes_changed()
        return cid

    def rename_class(self, class_id: int, name: str) -> str:
        old = self.project.rename_class(class_id, name)
        self._classes_changed(refit=False)
        return old

    def set_class_color(self, class_id: int, color: str) -> str:
        old = self.project.set_class_color(class_id, color)
        self._classes_changed(refit=False)
        return old

    def delete_class(self, class_id: int) -> DeletedClass:
        deleted = self.project.delete_class(class_id)
        self.labels[self.labels == class_id] = UNLABELED
        self._classes_changed()
        return deleted

    def merge_classes(self, src_ids: list[int], dst_id: int) -> list[DeletedClass]:
        deleted = self.project.merge_classes(src_ids, dst_id)
        for d in deleted:
            self.labels[self.labels == d.id] = dst_id
        self._classes_changed()
        return deleted

    def restore_classes(self, deleted: list[DeletedClass]) -> None:
        self.project.restore_class(deleted)
        for d in deleted:
            self.labels[self.rows_of(d.image_ids)] = d.id
        self._classes_changed()

    def _classes_changed(self, refit: bool = True) -> None:
        self.classes = self.project.classes()
        self.classesChanged.emit()
        self.labelsChanged.emit(np.arange(len(self.ids)))
        if refit:
            self.request_refit()

    # ------------------------------------------------------------------ settings
    def set_method(self, name: str) -> None:
        if name == self.method:
            return
        self.method = name
        self.project.set_setting("method", name)
        self.settingsChanged.emit()
        self.request_refit()

    def set_backbone(self, backbone: str) -> None:
        """Switch backbone: vectors of the old one are dropped; the caller starts a re-embed
        job (cached vectors of the new backbone come back at once)."""
        if backbone == self.backbone:
            return
        self.backbone = backbone
        self.project.set_setting("backbone", backbone)
        self.emb.clear()
        self._drop_adapted()
        self._generation += 1
        self.pred = PredictionState.empty(len(self.ids), self._generation)
        self.unknown = np.zeros(len(self.ids), bool)
        self.settingsChanged.emit()
        self.embeddingsChanged.emit()
        self.predictionsChanged.emit()
        self.recognizerChanged.emit()

    def set_threshold(self, threshold: float, persist: bool = True) -> None:
        """A manual unknown threshold (turns Auto off): a vectorised compare, no refit.
        ``persist=False`` while a slider is dragged (the window persists the final value)."""
        self.threshold = float(threshold)
        self.auto_threshold = False
        if persist:
            self.project.set_setting("unknown_threshold", self.threshold)
            self.project.set_setting("unknown_threshold_auto", False)
        self._apply_threshold()
        self.settingsChanged.emit()
        self.predictionsChanged.emit()

    def set_auto_threshold(self, auto: bool) -> None:
        self.auto_threshold = bool(auto)
        self.project.set_setting("unknown_threshold_auto", self.auto_threshold)
        self._apply_threshold()
        self.settingsChanged.emit()
        self.predictionsChanged.emit()

    @property
    def effective_threshold(self) -> float:
        """The threshold in use: the estimated one in Auto mode (when there is one)."""
        if self.auto_threshold and self.pred.auto_threshold is not None:
            return float(self.pred.auto_threshold)
        return self.threshold

    def _apply_threshold(self) -> None:
        self.unknown = (self.pred.top != UNLABELED) & (self.pred.confidence < self.effective_threshold)

    # ------------------------------------------------------------------ adapted features
    def set_adapt_enabled(self, enabled: bool) -> None:
        """Turn adapting the backbone on/off (persisted).  Off: predictions go back to the
        pretrained features at once; the adapted matrix is kept, so turning it on again
        while nothing changed needs no new adaptation."""
        enabled = bool(enabled)
        if enabled == self.adapt_enabled:
            return
        self.adapt_enabled = enabled
        self.project.set_setting("adapt_backbone", enabled)
        self.settingsChanged.emit()
        self.featuresChanged.emit()
        self.request_refit()

    def can_adapt(self) -> bool:
        """Whether the current backbone can be adapted at all (MobileNetV2 only), cached."""
        return backbone_can_adapt(self.backbone)

    def labels_allow_adaptation(self) -> bool:
        """``core.adaptation.should_adapt`` on the current labels (>= 2 classes x ``MIN_SHOTS`` labels)."""
        return labels_allow_adaptation(self.labels, self.backbone)

    def adapted_covers_rows(self) -> bool:
        """The adapted matrix was computed for exactly these rows with this backbone."""
        return covers_rows(self.adapted, self.backbone, self.ids, self.emb.have)

    @property
    def adapted_in_use(self) -> bool:
        """Predictions use the adapted features: on, covering every row, and the labels still
        at >= ``MIN_SHOTS`` per class (new labels after it landed apply through the method at once)."""
        return self.adapt_enabled and self.adapted_covers_rows() and self.labels_allow_adaptation()

    def active_embeddings(self) -> EmbeddingMatrix:
        return self.adapted.matrix if self.adapted_in_use else self.emb

    def set_adapted(self, features: AdaptedFeatures) -> bool:
        """An adaptation finished.  Kept only if it matches the current rows and backbone
        (rows added or removed while it ran make it useless); returns whether it was kept."""
        if features.backbone != self.backbone or not np.array_equal(features.ids, self.ids):
            return False
        self.adapted = features
        self.featuresChanged.emit()
        self.request_refit()
        return True

    def _drop_adapted(self) -> None:
        if self.adapted is not None:
            self.adapted = None
            self.featuresChanged.emit()

    # ------------------------------------------------------------------ predictions
    def request_refit(self, rows_changed: bool = False) -> None:
        self._generation += 1
        if rows_changed:
            self._rows_generation = self._generation
        if self.adapted is not None and not self.adapted_covers_rows():
            self._drop_adapted()  # rows or backbone moved on: it can never apply again
        # the automatic unknown threshold stays calibrated on the pretrained features: the adapted
        # backbone was trained on the labeled images, so their held-out confidence is inflated
        # (it put the threshold at 90 % on the sample project, marking most photos unknown)
        self.predictor.request(self._generation, self.method, self.active_embeddings(), self.labels.copy(),
                               calibration=self.emb, method_kwargs=self.method_kwargs())
        self.recognizerChanged.emit()

    def recognizer_snapshot(self):
        """The current fit as a callable that builds its Recognizer once, on the caller's thread
        (app/session_recognizer.py); the same object until the fit changes."""
        from .session_recognizer import snapshot_for

        self._recognizer = snapshot_for(self, self._recognizer)
        return self._recognizer

    def recognizer(self):
        """The session's fitted Recognizer (built lazily: fits on this thread), or None when
        nothing is labeled yet."""
        return self.recognizer_snapshot()()

    def method_kwargs(self) -> dict:
        """Settings of the method for the features predictions use now (adapted ones rescale
        softkmeans' confidence: they are more confident than the pretrained ones it was fitted on)."""
        from core.adaptation import adapted_method_kwargs

        return adapted_method_kwargs(self.method) if self.adapted_in_use else {}

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def predictions_current(self) -> bool:
        """True when the predictions shown reflect the latest labels and embeddings."""
        return self.pred.generation == self._generation and not self.pred.preview and not self.predictor.busy

    @property
    def refining(self) -> bool:
        """Showing instant preview predictions while the chosen method finishes."""
        return self.pred.preview

    def _on_predictions(self, state: PredictionState) -> None:
        if state.generation < self._rows_generation or len(state.top) > len(self.ids):
            return  # rows were removed/reordered meanwhile; a newer request is already queued
        if state.auto_threshold is None and state.preview:
            state.auto_threshold = self.pred.auto_threshold  # keep the last estimate during a preview
        if state.chosen is None and state.preview:
            state.chosen = self.pred.chosen
        self.pred = state
        self._grow_predictions(len(self.ids))  # rows appended since the request: no prediction yet
        self._apply_threshold()
        self.predictionsChanged.emit()
        if not state.preview:  # its calibrated confidence and threshold are the recognizer's
            self.recognizerChanged.emit()

    def _grow_predictions(self, n: int) -> None:
        self.pred, self.unknown = grow_predictions(self.pred, self.unknown, n)
