"""Wires the accuracy estimate, the Evaluation view and "Label next" into the main window.

The window creates one :class:`EvaluationController` and tells it about session changes; the
controller owns the :class:`EvaluationService`, the status-bar estimate ("Estimated accuracy
84 % ± 6, from 25 labels", a button that opens the view), the Model menu entries and the
``N`` / ``Shift+N`` keys that step through the suggested images.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence

from core.live_model import UNLABELED

from .. import undo
from ..evaluation_service import EvaluationService
from ..widgets.evaluation_view import EvaluationView
from ..widgets.gallery import GalleryFilter
from ..widgets.status_button import StatusButton

SUGGESTION_TITLE = "Label next"


class EvaluationController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.service: EvaluationService | None = None
        self.view: EvaluationView | None = None
        self.status = StatusButton()
        self.status.setObjectName("statusEstimate")
        self.status.clicked.connect(self.show_view)
        self.status.set_help("How often the model is right on your labeled images (each held out in turn). "
                             "Click for the per-class view.")
        # stretch 1: the estimate takes what is left of the bar and elides itself when the adaptation's
        # progress shares it, instead of being clipped at both ends
        window.statusBar().addWidget(self.status, 1)
        self.act_view = self._action("&Evaluation…", self.show_view, "Ctrl+E",
                                     "Accuracy per class, confusion matrix, reliability, possible mislabels, map")
        self.act_next = self._action("Label &next", lambda: self.step(+1), "N",
                                     "Show the images worth labeling next (uncertain, varied, new classes); "
                                     "N / Shift+N step through them")
        self.act_prev = self._action("Previous suggestion", lambda: self.step(-1), "Shift+N")
        menu = window.model_menu
        menu.addSeparator()
        for a in (self.act_view, self.act_next, self.act_prev):
            menu.addAction(a)
            window.addAction(a)  # the keys work wherever the focus is
        # the gallery's item view eats letter keys (type-to-search) before window shortcuts see them
        window.gallery.installEventFilter(self)
        self._update_status()

    def eventFilter(self, obj, e) -> bool:  # noqa: N802
        if e.type() == QEvent.Type.KeyPress and e.key() == Qt.Key.Key_N:
            mods = e.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
            if mods in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.ShiftModifier):
                self.step(-1 if mods == Qt.KeyboardModifier.ShiftModifier else +1)
                return True
        return False

    def _action(self, text, slot, shortcut, tip="") -> QAction:
        a = QAction(text, self.window)
        a.triggered.connect(lambda _=False: slot())
        a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        return a

    # ------------------------------------------------------------------ session
    def set_session(self, session) -> None:
        self.shutdown()
        self.service = EvaluationService(session, self)
        self.service.updated.connect(self._update_status)
        self.service.started.connect(self._update_status)
        session.predictionsChanged.connect(self._update_status)
        self._update_status()

    def shutdown(self) -> None:
        if self.view is not None:
            self.view.close()
            self.view.deleteLater()
            self.view = None
        if self.service is not None:
            self.service.shutdown()
            self.service.deleteLater()
            self.service = None

    def choice_text(self) -> str:
        """What the model in use is, in the user's words (the live ``auto`` choice when there is one)."""
        s = self.service.session if self.service is not None else None
        if s is None:
            return ""
        chosen = s.pred.chosen
        if chosen is not None:
            return chosen.message()
        res = self.service.result
        if s.method == "auto" and res is not None and res.evaluation is not None and res.evaluation.choice is not None:
            return res.evaluation.choice.message()
        return ""

    def _update_status(self) -> None:
        svc = self.service
        res = svc.result if svc is not None else None
        if svc is None or res is None:
            self.status.set_status("Estimating accuracy…" if svc is not None and svc.session.labeled_count else "")
            return
        ev = res.evaluation
        text = ev.headline() if ev is not None else ""
        choice = self.choice_text()
        if choice:
            text = f"{text}  ·  {choice}" if text else choice
        if svc.stale and svc.session.labeled_count:
            text += "  (updating…)"
        self.status.set_status(text)

    # ------------------------------------------------------------------ view
    def show_view(self) -> EvaluationView | None:
        if self.service is None:
            return None
        if self.view is None:
            self.view = EvaluationView(self.service, self.window)
            self.view.showImages.connect(self.show_images)
            self.view.relabelRequested.connect(self.relabel)
        self.view.show()
        self.view.raise_()
        return self.view

    def show_images(self, image_ids: list, title: str) -> None:
        w = self.window
        w.set_filter(GalleryFilter("ids", ids=tuple(int(i) for i in image_ids), title=f"{title} ({len(image_ids)})"))
        if image_ids:
            w.gallery.select_ids(list(image_ids), current=int(image_ids[0]))

    def relabel(self, image_id: int, class_id: int) -> None:
        s = self.window.session
        if s is not None and s.row_of(image_id) is not None:
            self.window.class_actions._push(undo.LabelCommand(s, [image_id], class_id))

    # ------------------------------------------------------------------ label next
    def suggestion_ids(self) -> list[int]:
        svc = self.service
        if svc is None or svc.result is None:
            return []
        s = svc.session
        out = []
        for sg in svc.result.suggestions:
            iid = int(svc.result.ids[sg.index])
            r = s.row_of(iid)
            if r is not None and s.labels[r] == UNLABELED:
                out.append(iid)
        return out

    def step(self, direction: int) -> None:
        w = self.window
        f = w.model.filter
        if f.kind == "ids" and f.title.startswith(SUGGESTION_TITLE) and f.ids:
            ids = list(f.ids)
            cur = w.gallery.currentIndex()
            cur_id = w.model.image_id(cur) if cur.isValid() else ids[0]
            k = ids.index(cur_id) if cur_id in ids else -direction
            s = w.session
            # skip the ones labeled since: they are done
            for _ in range(len(ids)):
                k = (k + direction) % len(ids)
                r = s.row_of(ids[k])
                if r is not None and s.labels[r] == UNLABELED:
                    break
            w.gallery.select_ids([ids[k]], current=ids[k])
            return
        ids = self.suggestion_ids()
        if not ids:
            w.statusBar().showMessage("No suggestions yet: they appear once the images are analysed.", 4000)
            return
        w.set_filter(GalleryFilter("ids", ids=tuple(ids), title=f"{SUGGESTION_TITLE} ({len(ids)})"))
        w.gallery.select_ids([ids[0]], current=ids[0])
        w.gallery.setFocus()
