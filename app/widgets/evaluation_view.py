"""The Evaluation view: how good the model is on this project, class by class (issue 15).

A non-modal window with tabs: per-class table, confusion matrix (a click on a cell shows exactly
those images in the gallery), reliability diagram, possible mislabels (one click relabels), and
the embedding map (click or lasso selects in the gallery).  Everything comes from the
:class:`~app.evaluation_service.EvaluationService`'s latest result; nothing is computed here.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QButtonGroup, QDialog, QHBoxLayout, QHeaderView, QLabel, QPushButton, QRadioButton,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from core.live_model import UNLABELED

from .evaluation_plots import ConfusionMatrixWidget, EmbeddingMapWidget, ReliabilityWidget


def _pct(v: float) -> str:
    return "–" if v != v else f"{100 * v:.0f} %"


class EvaluationView(QDialog):
    #: image ids to show in the gallery, and what the filter bar calls them
    showImages = Signal(list, str)
    #: relabel one image (image id, class id)
    relabelRequested = Signal(int, int)

    def __init__(self, service, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Evaluation — FewLens")
        self.setWindowFlag(Qt.WindowType.Tool, False)
        self.resize(860, 620)
        self.service = service
        lay = QVBoxLayout(self)
        self.headline = QLabel()
        self.headline.setObjectName("evaluationHeadline")
        f = self.headline.font()
        f.setPointSizeF(f.pointSizeF() * 1.35)
        f.setBold(True)
        self.headline.setFont(f)
        self.choice_label = QLabel()
        self.choice_label.setWordWrap(True)
        self.note = QLabel()
        self.note.setProperty("role", "hint")
        self.note.setWordWrap(True)
        lay.addWidget(self.headline)
        lay.addWidget(self.choice_label)
        lay.addWidget(self.note)
        self.tabs = QTabWidget()
        lay.addWidget(self.tabs, 1)

        self.table = QTableWidget(0, 6)
        self.table.setHorizontalHeaderLabels(["Class", "Labels", "Held out", "Accuracy", "Precision", "Recall"])
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.tabs.addTab(self.table, "Per class")

        self.confusion = ConfusionMatrixWidget()
        self.confusion.cellClicked.connect(self._cell_clicked)
        cw = QWidget()
        cl = QVBoxLayout(cw)
        hint = QLabel("Each labeled image was held out and predicted by the model fitted on the other labels. "
                      "Click a cell to see those images in the gallery.")
        hint.setWordWrap(True)
        hint.setProperty("role", "hint")
        cl.addWidget(hint)
        cl.addWidget(self.confusion, 1)
        self.tabs.addTab(cw, "Confusion matrix")

        self.reliability = ReliabilityWidget()
        self.tabs.addTab(self.reliability, "Reliability")

        self.mislabels = QTableWidget(0, 4)
        self.mislabels.setHorizontalHeaderLabels(["Image", "Your label", "Model says", ""])
        self.mislabels.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.mislabels.verticalHeader().hide()
        self.mislabels.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.mislabels.cellDoubleClicked.connect(self._mislabel_activated)
        self.tabs.addTab(self.mislabels, "Possible mislabels")

        mw = QWidget()
        ml = QVBoxLayout(mw)
        top = QHBoxLayout()
        self.by_label = QRadioButton("Color by label")
        self.by_pred = QRadioButton("by prediction")
        self.by_pred.setChecked(True)
        grp = QButtonGroup(self)
        for b in (self.by_label, self.by_pred):
            grp.addButton(b)
            b.toggled.connect(self._fill_map)
            top.addWidget(b)
        top.addStretch(1)
        mh = QLabel("PCA of the embeddings. Click a dot or drag a loop around several to show them in the gallery.")
        mh.setProperty("role", "hint")
        top.addWidget(mh)
        ml.addLayout(top)
        self.map = EmbeddingMapWidget()
        self.map.selected.connect(self._map_selected)
        ml.addWidget(self.map, 1)
        self.tabs.addTab(mw, "Map")

        service.updated.connect(self.refresh)
        service.started.connect(self._started)
        self.refresh()

    # ------------------------------------------------------------------ filling
    @property
    def session(self):
        return self.service.session

    def _class_names(self, labels) -> tuple[list[str], list[str]]:
        names, colors = [], []
        for c in labels:
            info = self.session.class_by_id(int(c))
            names.append(info.name if info else f"class {c}")
            colors.append(info.color if info else "#888888")
        return names, colors

    def _started(self) -> None:
        if self.service.result is not None:
            self.note.setText("Updating for your latest labels…")

    def refresh(self) -> None:
        res = self.service.result
        ev = res.evaluation if res is not None else None
        self.note.setText("")
        if ev is None:
            self.headline.setText("No estimate yet" if res is None else "Label some images to see an estimate")
            self.choice_label.setText("")
            self.table.setRowCount(0)
            self.confusion.set_data(np.zeros((0, 0)), [], [])
            self.reliability.set_bins(None)
            self.mislabels.setRowCount(0)
            self._fill_map()
            return
        self.headline.setText(ev.headline())
        choice = ev.choice.message() if ev.choice is not None else f"Method: {ev.method} (chosen by you)"
        self.choice_label.setText(choice)
        self.choice_label.setObjectName("evaluationChoice")
        self.note.setText(f"{ev.cv.folds} on your labeled images, {ev.cv.n_scored} held out and predicted; "
                          f"computed on the {ev.features} features in {res.seconds:.1f} s.")
        names, colors = self._class_names(ev.cv.classes)
        self.table.setRowCount(len(ev.stats))
        for i, (s, name) in enumerate(zip(ev.stats, names)):
            for j, v in enumerate([name, str(s.labeled), str(s.scored), _pct(s.recall), _pct(s.precision), _pct(s.recall)]):
                item = QTableWidgetItem(v)
                if j:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(i, j, item)
        self.confusion.set_data(ev.confusion, names, colors)
        self.reliability.set_bins(ev.bins)
        self.mislabels.setRowCount(len(ev.mislabels))
        for i, m in enumerate(ev.mislabels):
            row = int(ev.rows[m.index])
            image_id = int(res.ids[row])
            pname = self._class_names([m.predicted])[0][0]
            self.mislabels.setItem(i, 0, QTableWidgetItem(self.session.file_path(row).name
                                                          if row < len(self.session) else str(image_id)))
            self.mislabels.setItem(i, 1, QTableWidgetItem(self._class_names([m.label])[0][0]))
            self.mislabels.setItem(i, 2, QTableWidgetItem(f"{pname} ({100 * (1 - m.label_prob):.0f} % not yours)"))
            b = QPushButton(f"Relabel as {pname}")
            b.clicked.connect(lambda _=False, iid=image_id, cid=int(m.predicted): self.relabelRequested.emit(iid, cid))
            self.mislabels.setCellWidget(i, 3, b)
            self.mislabels.item(i, 0).setData(Qt.ItemDataRole.UserRole, image_id)
        self.mislabels.resizeColumnToContents(3)
        self._fill_map()

    def _fill_map(self, *_args) -> None:
        res = self.service.result
        s = self.session
        if res is None or len(res.ids) != len(s) or not np.array_equal(res.ids, s.ids):
            self.map.set_points(np.zeros((0, 2)), np.zeros(0, np.int64), np.zeros(0, bool), [])
            return
        ids = [c.id for c in s.classes]
        index = {cid: k for k, cid in enumerate(ids)}
        labels = s.labels
        shown = labels.copy() if self.by_label.isChecked() else np.where(labels != UNLABELED, labels, s.pred.top)
        if not self.by_label.isChecked():
            shown = np.where((labels == UNLABELED) & s.unknown, UNLABELED, shown)
        idx = np.array([index.get(int(v), -1) for v in shown], np.int64)
        self.map.set_points(res.map_xy, idx, labels != UNLABELED, [c.color for c in s.classes])

    # ------------------------------------------------------------------ actions
    def cell_image_ids(self, i: int, j: int) -> list[int]:
        """Image ids behind confusion cell (row i: labeled as, column j: predicted as)."""
        res = self.service.result
        ev = res.evaluation
        rows = ev.cell_rows(ev.cv.classes[i], ev.cv.classes[j])
        return res.image_ids(rows)

    def _cell_clicked(self, i: int, j: int) -> None:
        ev = self.service.result.evaluation
        names, _ = self._class_names(ev.cv.classes)
        title = f"{names[i]} predicted as {names[j]}" if i != j else f"{names[i]} predicted right"
        self.showImages.emit(self.cell_image_ids(i, j), title)

    def _mislabel_activated(self, row: int, _col: int) -> None:
        item = self.mislabels.item(row, 0)
        if item is not None:
            self.showImages.emit([int(item.data(Qt.ItemDataRole.UserRole))], "Possible mislabel")

    def _map_selected(self, idx: list) -> None:
        res = self.service.result
        if res is not None:
            self.showImages.emit(res.image_ids(idx), "Selected on the map")
