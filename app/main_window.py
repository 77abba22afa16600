"""The FewLens main window: classes | gallery | detail, menus, toolbar, status bar.

The window wires views to the :class:`ProjectSession` and turns user gestures
into undoable commands or background jobs; it holds no project state itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from PySide6.QtCore import QCoreApplication, QSize, Qt, QThreadPool, QTimer, Signal
from PySide6.QtGui import QAction, QColor, QGuiApplication, QKeySequence, QUndoStack
from PySide6.QtWidgets import (
    QCheckBox,
    QColorDialog,
    QComboBox,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from core.errors import FewLensError
from core.methods import DEFAULT_METHOD, method_names
from core.project import Project

from . import file_dialogs, undo
from .adapter import AdaptJob, BackboneAdapter
from .camera_panel import CameraPanel
from .classes_panel import ClassesPanel
from .detail_view import DetailView
from .evaluation_controller import EvaluationController
from .filter_bar import FilterBar
from .gallery import GalleryFilter, GalleryModel, GalleryView
from .help import HelpDialog
from .pickers import TOGGLE, backbone_choice, fill_grouped, method_choices
from .import_report import ImportReport
from .live_model import UNLABELED, auto_threshold_help
from .reliability import one_class_hint, project_open_failed
from .session import ProjectSession, recent_projects, remember_project
from . import labels_actions
from .task_banner import TaskBanner
from .theme import icon
from .welcome import WelcomeDialog
from .wording import plural, tidy_class_name
from .thumbnails import ThumbnailLoader
from .tile_delegate import TileDelegate, tile_size
from .try_it import TryItDialog, urls_to_paths
from .workers import (
    DetailJob,
    EmbedMissingJob,
    ImportJob,
    ImportPlan,
    Job,
    BackboneListJob,
    LocateJob,
    OpenProjectJob,
    SaveAsJob,
    cached_embedder,
    subfolder_names,
)

PROJECT_FILTER = "FewLens projects (*.fewlens)"

THUMB = 148
#: gallery zoom steps (thumbnail side in px): small tiles for browsing big projects
THUMB_SIZES = (96, 124, 148, 196, 256)


def readable_id(backbone_id: str) -> str:
    """"mobilenet_v2_imagenet" -> "MobileNet V2 · ImageNet": shown until the registry is read."""
    known = {"mobilenet": "MobileNet", "imagenet": "ImageNet", "inat": "iNat", "conv4": "Conv-4"}
    words = [known.get(w, w.upper() if w[:1] == "v" and w[1:].isdigit() else w.capitalize())
             for w in backbone_id.split("_")]
    return " ".join(words[:2]) + (" · " + " ".join(words[2:]) if len(words) > 2 else "")


class LazyComboBox(QComboBox):
    """A combo box whose items are loaded when first opened (``popupRequested``)."""

    popupRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.loaded = False
        self.pending_popup = False

    def showPopup(self) -> None:  # noqa: N802
        if not self.loaded:
            self.pending_popup = True
            self.popupRequested.emit()
        else:
            self.pending_popup = False
        super().showPopup()


class MainWindow(QMainWindow):
    def __init__(self, session: ProjectSession | None = None):
        super().__init__()
        self.session: ProjectSession | None = None
        self.setWindowTitle("FewLens")
        self.setAcceptDrops(True)
        self.resize(1360, 860)

        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(3)  # import + re-embed + open/locate can overlap
        # the detail view's decode must not queue behind a long import
        self.detail_pool = QThreadPool(self)
        self.detail_pool.setMaxThreadCount(1)
        self.thumbs = ThumbnailLoader(size=THUMB, parent=self)
        self.undo_stack = QUndoStack(self)
        self.jobs: list[Job] = []
        self.try_dialog: TryItDialog | None = None
        self.device_label = ""
        self._detail_job: DetailJob | None = None
        self.adapter: BackboneAdapter | None = None
        self.tidy_folder_names = True  # subfolder "Common_Chickweed" -> class "Common Chickweed"
        self.ask_recover = None  # tests answer the "Recover a copy" question (see app.reliability)

        self._build_views()
        self._build_camera_panel()
        self._build_actions()
        self._build_menus()
        self._build_toolbar()
        self._build_status()
        # accuracy estimate, Evaluation view, "Label next" (issue 15): app/evaluation_controller.py
        self.evaluation = EvaluationController(self)

        self._status_timer = QTimer(self, singleShot=True, interval=80)
        self._status_timer.timeout.connect(self._update_status)
        self._threshold_timer = QTimer(self, singleShot=True, interval=400)
        self._threshold_timer.timeout.connect(self._persist_threshold)
        if session is not None:
            self.set_session(session)
        else:
            self._update_enabled()

    # ================================================================== construction
    def _build_views(self) -> None:
        self.classes_panel = ClassesPanel()
        self.classes_panel.addRequested.connect(self.add_class_interactive)
        self.classes_panel.renameRequested.connect(self.rename_class)
        self.classes_panel.colorRequested.connect(self.choose_class_color)
        self.classes_panel.mergeRequested.connect(self.merge_classes)
        self.classes_panel.deleteRequested.connect(self.delete_class)
        self.classes_panel.classActivated.connect(self._class_clicked)

        self.model = GalleryModel()
        self.gallery = GalleryView()
        self.gallery.setObjectName("gallery")
        self.gallery.setModel(self.model)
        self.gallery.setItemDelegate(TileDelegate(lambda: self.session, self.thumbs, self.gallery))
        self.gallery.set_tile_size(tile_size(THUMB))
        self.gallery.zoomRequested.connect(self.zoom)
        self.thumbs.ready.connect(self._thumb_ready)
        self.gallery.assignRequested.connect(self.assign_selection)
        self.gallery.unlabelRequested.connect(self.unlabel_selection)
        self.gallery.acceptRequested.connect(self.accept_selection)
        self.gallery.removeRequested.connect(self.remove_selection)
        self.gallery.focusChanged.connect(self._current_changed)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.customContextMenuRequested.connect(self._gallery_menu)
        self.model.rowsRefiltered.connect(self._update_filter_count)

        self.filter_bar = FilterBar()
        self.filter_bar.filterChanged.connect(self.set_filter)
        self.banner = TaskBanner()
        self.report = ImportReport()

        self.detail = DetailView()
        self.detail.acceptRequested.connect(self.accept_selection)
        self.detail.locateRequested.connect(self.locate_missing)

        center = QWidget()
        cl = QVBoxLayout(center)
        cl.setContentsMargins(0, 0, 0, 0)
        cl.setSpacing(0)
        cl.addWidget(self.report)
        cl.addWidget(self.filter_bar)
        cl.addWidget(self.gallery, 1)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.classes_panel)
        self.splitter.addWidget(center)
        self.splitter.addWidget(self.detail)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([250, 780, 330])
        self.splitter.setChildrenCollapsible(False)
        self.splitter.setHandleWidth(1)
        self.classes_panel.setMinimumWidth(220)
        self.setCentralWidget(self.splitter)

    def _build_camera_panel(self) -> None:
        """The Camera dock (app/camera_panel.py), hidden until View > Camera."""
        self.camera_panel = CameraPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.camera_panel)
        self.camera_panel.hide()
        self.camera_panel.needsEmbedding.connect(self.embed_missing)
        self.camera_panel.toggleViewAction().setShortcut("Ctrl+Shift+C")

    def _action(self, text: str, slot, shortcut=None, tip: str = "") -> QAction:
        a = QAction(text, self)
        a.triggered.connect(lambda _=False: slot())
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
        if tip:
            a.setStatusTip(tip)
            a.setToolTip(tip)
        return a

    def _build_actions(self) -> None:
        self.act_new = self._action("&New project…", self.new_project, QKeySequence.StandardKey.New)
        self.act_open = self._action("&Open project…", self.open_project_dialog, QKeySequence.StandardKey.Open)
        self.act_save_as = self._action("Save &As…", self.save_as, QKeySequence.StandardKey.SaveAs,
                                        "Save a copy of this project and continue in the copy")
        self.act_export = self._action("&Export model…", self.export_dialog, "Ctrl+E",
                                       "Save the fitted model as one ONNX file with a standalone runner (or TorchScript)")
        self.act_add_folder = self._action("Add &folder…", self.add_folder_dialog, "Ctrl+Shift+O",
                                           "Import every image in a folder (subfolders can become classes)")
        self.act_add_images = self._action("Add &images…", self.add_images_dialog, None)
        self.act_locate = self._action("&Locate missing files…", self.locate_missing, None,
                                       "Relink images whose files moved, by their content")
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        # batch prediction and the labeled dataset out/in (issue 16): app/batch_dialog.py, app/labels_actions.py
        self.act_predict_folder = self._action("&Predict folder…", self.predict_folder_dialog, None,
                                               "Predict every image in folders into a CSV file, in the background")
        self.act_export_labels = self._action("&Export labels…", lambda: labels_actions.export_labels_dialog(self), None,
                                              "Write the labeled images as one folder per class plus labels.csv")
        self.act_import_labels = self._action("&Import labels…", lambda: labels_actions.import_labels_dialog(self), None,
                                              "Add the images of a labels.csv to this project, labeled")
        self.act_undo = self.undo_stack.createUndoAction(self, "&Undo")
        self.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
        self.act_redo = self.undo_stack.createRedoAction(self, "&Redo")
        self.act_redo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Y")])
        self.act_accept = self._action("&Accept predictions\tEnter", self.accept_selection, None,
                                       "Turn the predictions of the selected images into labels")
        self.act_unlabel = self._action("Remove &label\t0", self.unlabel_selection, None)
        self.act_remove = self._action("&Remove from project\tDel", self.remove_selection, None,
                                       "Remove the selected images from the project (files stay on disk)")
        self.act_select_all = self._action("Select &all", self.gallery.selectAll, QKeySequence.StandardKey.SelectAll)
        self.act_add_class = self._action("Add &class", self.add_class_interactive, "Ctrl+K")
        self.act_try = self._action("&Try it…", self.show_try_it, "Ctrl+T",
                                    "See predictions for images without adding them to the project")
        self.act_zoom_in = self._action("&Larger thumbnails", lambda: self.zoom(+1), QKeySequence.StandardKey.ZoomIn)
        self.act_zoom_out = self._action("&Smaller thumbnails", lambda: self.zoom(-1),
                                         QKeySequence.StandardKey.ZoomOut)
        self.act_adapt = QAction("Adapt the backbone to my labels (5+ per class)", self)
        self.act_adapt.setCheckable(True)
        self.act_adapt.setChecked(True)
        tip = ("Once every class has 5 labeled images, fine-tune the backbone on them in the background "
               "and re-analyse the images with it (about 4 points more accurate on photos). "
               "MobileNetV2 and EfficientNet-Lite backbones only.")
        self.act_adapt.setStatusTip(tip)
        self.act_adapt.setToolTip(tip)
        self.act_adapt.toggled.connect(self._adapt_toggled)

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        f.addAction(self.act_new)
        f.addAction(self._action("New project from &model…", self.new_project_from_model,
                                 tip="Start a project from a model exported by FewLens: its classes, method and threshold"))
        f.addAction(self.act_open)
        self.recent_menu = f.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        f.addAction(self.act_save_as)
        f.addAction(self.act_export)
        f.addSeparator()
        f.addAction(self.act_add_folder)
        f.addAction(self.act_add_images)
        f.addAction(self.act_locate)
        f.addSeparator()
        f.addAction(self.act_predict_folder)
        f.addAction(self.act_export_labels)
        f.addAction(self.act_import_labels)
        f.addSeparator()
        f.addAction(self.act_quit)
        e = mb.addMenu("&Edit")
        e.addAction(self.act_undo)
        e.addAction(self.act_redo)
        e.addSeparator()
        e.addAction(self.act_accept)
        e.addAction(self.act_unlabel)
        e.addAction(self.act_remove)
        e.addSeparator()
        e.addAction(self.act_select_all)
        c = mb.addMenu("&Classes")
        c.addAction(self.act_add_class)
        # the backbone and method pickers live on the toolbar; their one on/off choice lives here
        self.model_menu = mb.addMenu("&Model")
        self.model_menu.addAction(self.act_adapt)
        v = mb.addMenu("&View")
        for kind, text in (("all", "All images"), ("unlabeled", "Unlabeled"), ("labeled", "Labeled"),
                           ("review", "Needs review"), ("unknown", "Unknown")):
            v.addAction(self._action(text, lambda k=kind: self.set_filter(GalleryFilter(k))))
        v.addSeparator()
        v.addAction(self.act_zoom_in)
        v.addAction(self.act_zoom_out)
        v.addSeparator()
        v.addAction(self.act_try)
        v.addAction(self.camera_panel.toggleViewAction())
        h = mb.addMenu("&Help")
        self.act_help = self._action("How FewLens &works", lambda: self.show_help("How FewLens works"),
                                     QKeySequence.StandardKey.HelpContents)
        h.addAction(self.act_help)
        h.addAction(self._action("&Keyboard shortcuts", lambda: self.show_help("Keyboard shortcuts")))
        h.addSeparator()
        h.addAction(self._action("&About FewLens", lambda: self.show_help("About")))

    def _build_toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setIconSize(QSize(20, 20))
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.act_add_folder.setIcon(icon("add-folder"))
        self.act_try.setIcon(icon("try-it"))
        tb.addAction(self.act_add_folder)
        tb.addAction(self.act_try)
        tb.addSeparator()
        tb.addWidget(QLabel("Backbone"))
        self.backbone_combo = LazyComboBox()
        self.backbone_combo.setToolTip("The pretrained network that turns images into features. "
                                       "Changing it re-analyses every image in the background.")
        # Listing backbones loads the meta-trained checkpoints, i.e. imports torch (seconds and
        # ~600 MB that the ONNX Runtime path otherwise never needs), so the list is read on a
        # worker the first time the user opens the selector; until then it shows the current one.
        self._backbone_titles: dict[str, str] = {}
        self._backbones_job: BackboneListJob | None = None
        self.backbone_combo.popupRequested.connect(self._load_backbones)
        self.backbone_combo.currentIndexChanged.connect(self._backbone_picked)
        tb.addWidget(self.backbone_combo)
        tb.addWidget(QLabel("Method"))
        self.method_combo = QComboBox()
        self.method_combo.setToolTip("The few-shot method that learns your classes from the labeled images")
        self._show_all = {"method": False, "backbone": False}
        self._fill_methods(DEFAULT_METHOD)
        self.method_combo.currentIndexChanged.connect(self._method_picked)
        tb.addWidget(self.method_combo)
        tb.addSeparator()
        tb.addWidget(QLabel("Unknown below"))
        self.threshold_auto = QCheckBox("Auto")
        self.threshold_auto.setToolTip(auto_threshold_help())
        self.threshold_auto.toggled.connect(self._threshold_auto_toggled)
        tb.addWidget(self.threshold_auto)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(0, 95)
        self.threshold_slider.setSingleStep(5)
        self.threshold_slider.setFixedWidth(120)
        self.threshold_slider.setToolTip("Predictions less confident than this are marked unknown")
        self.threshold_slider.valueChanged.connect(self._threshold_moved)
        self.threshold_value = QLabel("50%")
        self.threshold_value.setMinimumWidth(36)
        tb.addWidget(self.threshold_slider)
        tb.addWidget(self.threshold_value)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.status_device = QLabel()
        self.status_counts = QLabel()
        self.status_embedding = QLabel()
        # which features the predictions use: pretrained, or adapted to the labels
        self.status_features = QLabel()
        self.status_features.setObjectName("statusFeatures")
        sb.addWidget(self.status_counts)
        sb.addPermanentWidget(self.banner)  # long tasks: here, so they never push the gallery down
        sb.addPermanentWidget(self.status_embedding)
        sb.addPermanentWidget(self.status_features)
        sb.addPermanentWidget(self.status_device)
        sb.setFixedHeight(max(sb.sizeHint().height(), self.banner.sizeHint().height() + 6))

    # ================================================================== session
    def set_session(self, session: ProjectSession) -> None:
        """Show ``session`` (closing the one shown before)."""
        old = self.session
        if self.adapter is not None:
            self.adapter.shutdown()
            self.adapter.deleteLater()
            self.adapter = None
        for job in list(self.jobs):
            job.cancel()
        self.undo_stack.clear()
        self.thumbs.invalidate()
        self.session = session
        self.model.set_session(session)
        self.classes_panel.set_session(session)
        self.detail.set_session(session)
        self.camera_panel.set_session(session, self.undo_stack)
        if old is not None:
            old.close()
        for sig in (session.imagesReset, session.rowsAppended, session.labelsChanged, session.classesChanged,
                    session.predictionsChanged, session.embeddingsChanged):
            sig.connect(self._schedule_status)
        session.predictionsChanged.connect(self._sync_threshold)
        session.featuresChanged.connect(self._schedule_status)
        self.adapter = BackboneAdapter(session, self._start, self._adapt_blocked, self)
        self.evaluation.set_session(session)
        self.adapter.jobStarted.connect(self._schedule_status)
        self.adapter.jobFinished.connect(self._adapt_done)
        self.adapter.restore_now()  # the adaptation saved with the project, for these labels: no re-adapting
        session.predictor.failed.connect(lambda msg: self.statusBar().showMessage(f"Prediction failed: {msg}", 8000))
        self._sync_toolbar()
        self.filter_bar.reset()
        if self.model.rowCount():
            # something in the detail view from the start: the screen explains itself
            self.gallery.select_row(0)
        self.gallery.refresh_focus()
        read_only = getattr(session.project, "read_only", False)
        self.setWindowTitle(f"{session.path.stem} (read-only) — FewLens" if read_only else f"{session.path.stem} — FewLens")
        if read_only:
            self.statusBar().showMessage("This project file is read-only: changes cannot be saved. "
                                         "File > Save As… makes an editable copy.", 20000)
        remember_project(session.path)
        self._update_enabled()
        self._schedule_status()
        self.embed_missing()

    def open_project(self, path: os.PathLike | str, wait: bool = False) -> OpenProjectJob:
        """Open a project: the file is read on a worker (a banner shows it), then the window
        switches to it.  ``wait=True`` blocks until done (startup, tests).  A file that is not
        a project is reported in a message box and the current project stays open."""
        job = OpenProjectJob(Path(path))
        job.finished.connect(self._project_opened)
        self._start(job)
        if wait:
            self.pool.waitForDone()
            QCoreApplication.sendPostedEvents()  # deliver job.finished now
        return job

    def _project_opened(self, job: OpenProjectJob) -> None:
        if job.error or job.project is None:
            if not job.cancelled:
                project_open_failed(self, job.path, job.error or f"{job.path}: not opened", job.damaged,
                                    ask=self.ask_recover)
            return
        try:
            session = ProjectSession(job.project, rows=job.rows)
        except FewLensError as e:  # damage only the session's reads meet: say so, never a blank window
            job.project.close()
            project_open_failed(self, job.path, str(e), bool(getattr(e, "damaged", False)), ask=self.ask_recover)
            return
        self.set_session(session)

    def _load_backbones(self) -> None:
        if self._backbones_job is not None:
            return
        self._backbones_job = BackboneListJob()
        self._backbones_job.finished.connect(self._fill_backbones)
        combo = self.backbone_combo
        combo.blockSignals(True)
        combo.addItem("Loading backbones…")
        combo.setItemData(combo.count() - 1, 0, Qt.ItemDataRole.UserRole - 1)  # not selectable
        combo.blockSignals(False)
        self._start(self._backbones_job, show=False)

    def _fill_backbones(self, job: "BackboneListJob") -> None:
        combo = self.backbone_combo
        current = combo.currentData() or (self.session.backbone if self.session is not None else None)
        self._backbone_choices = []
        for bid, title in job.choices:
            # "MobileNetV2 · ImageNet (default, photos)" -> the name; the details go to the tooltip
            self._backbone_titles[bid] = title
            tip = getattr(job, "tooltips", {}).get(bid, "")  # provenance + license
            self._backbone_choices.append(backbone_choice(bid, title, tip))
        fill_grouped(combo, self._backbone_choices, current, self._show_all["backbone"])
        combo.loaded = True
        if self.session is not None:
            self._sync_toolbar()
        elif current is not None:
            combo.setCurrentIndex(max(0, combo.findData(current)))
        if combo.pending_popup:
            combo.showPopup()

    def _sync_toolbar(self) -> None:
        s = self.session
        self._fill_methods(s.method)  # the project's method is listed even if it is a hidden one
        for combo, value in ((self.backbone_combo, s.backbone), (self.method_combo, s.method)):
            combo.blockSignals(True)
            k = combo.findData(value)
            if k < 0:
                combo.addItem(self._backbone_titles.get(value, readable_id(value)).split(" (")[0], value)
                k = combo.count() - 1
            combo.setCurrentIndex(k)
            combo.blockSignals(False)
        self.act_adapt.blockSignals(True)
        self.act_adapt.setChecked(s.adapt_enabled)
        self.act_adapt.blockSignals(False)
        self._sync_threshold()

    def _sync_threshold(self, *_args) -> None:
        """Show the threshold in use (in Auto mode it follows every refit)."""
        s = self.session
        if s is None:
            return
        value = round(s.effective_threshold * 100)
        for w in (self.threshold_slider, self.threshold_auto):
            w.blockSignals(True)
        self.threshold_auto.setChecked(s.auto_threshold)
        self.threshold_slider.setValue(value)
        for w in (self.threshold_slider, self.threshold_auto):
            w.blockSignals(False)
        self.threshold_value.setText(f"{value}%")
        auto = s.auto_threshold and s.pred.auto_threshold is not None
        self.threshold_value.setToolTip(auto_threshold_help(s.effective_threshold) if auto else "")

    def _update_enabled(self) -> None:
        has = self.session is not None
        for a in (self.act_save_as, self.act_add_folder, self.act_add_images, self.act_locate, self.act_accept,
                  self.act_unlabel, self.act_remove, self.act_add_class, self.act_try, self.act_adapt,
                  self.act_predict_folder, self.act_export_labels, self.act_import_labels, self.act_export):
            a.setEnabled(has)

    def export_dialog(self):
        """File -> Export model… (app/export_dialog.py); the export runs as a tracked job."""
        from .export_dialog import ExportDialog

        if self.session is None:
            return None
        dlg = ExportDialog(self.session, self)
        dlg.exportRequested.connect(self._start)
        dlg.show()
        return dlg

    # ================================================================== jobs
    def _start(self, job: Job, show: bool = True) -> Job:
        self.jobs.append(job)
        job.finished.connect(self._job_done)
        if show:
            self.banner.track(job)
        if hasattr(job, "device"):
            job.device.connect(self._set_device)
        job.start(self.pool)
        self._schedule_status()
        return job

    def _job_done(self, job: Job) -> None:
        if job in self.jobs:
            self.jobs.remove(job)
        # (a cancelled job may fail on its closed project: not news; an adaptation says it itself)
        if job.error and not job.cancelled and not isinstance(job, AdaptJob):
            self.statusBar().showMessage(job.error, 10000)
            if isinstance(job, (ImportJob, EmbedMissingJob)):
                # without embeddings nothing can be predicted: keep this visible until dismissed
                self.report.show_failure(f"{job.title} failed", job.error)
        if isinstance(job, (ImportJob, EmbedMissingJob, LocateJob)) and self.adapter is not None:
            self.adapter.schedule()  # the labels may call for an adaptation now that images are in
        self._schedule_status()

    @property
    def busy(self) -> bool:
        """True while any background job runs or predictions are being refreshed."""
        return bool(self.jobs) or (self.session is not None and not self.session.predictions_current)

    # ================================================================== adapting the backbone
    def _adapt_blocked(self) -> bool:
        """Imports and embedding go first: the adaptation re-analyses every image they bring."""
        return any(isinstance(j, (ImportJob, EmbedMissingJob, LocateJob)) and j.running for j in self.jobs)

    def _adapt_toggled(self, on: bool) -> None:
        if self.session is None:
            return
        self.session.set_adapt_enabled(on)
        if self.adapter is not None:
            if on:
                self.adapter.retry()
            else:
                self.adapter.cancel()
        self._schedule_status()

    def _adapt_done(self, job: AdaptJob) -> None:
        if job.errors and not job.cancelled:
            n = len(job.errors)
            self.report.show_errors(job.errors, 0, title=f"⚠  {n} file{'s' if n != 1 else ''} could not be read "
                                    "while adapting the model", sub="— skipped; the other images were used:")
        if job.cancelled and not job.superseded:
            self.statusBar().showMessage("Adapting cancelled: predictions keep the pretrained features "
                                         "until the labels change.", 8000)
        elif job.error:
            self.statusBar().showMessage(f"Adapting the model failed: {job.error}", 10000)
        elif job.skipped:
            self.statusBar().showMessage(f"Not adapted: {job.skipped}.", 8000)
        elif getattr(job, "notice", None):  # a damaged saved adaptation: it adapts again
            self.statusBar().showMessage(job.notice, 10000)
        self._schedule_status()

    def features_text(self) -> str:
        """The status bar's word on which features the predictions use."""
        s = self.session
        running = self.adapter is not None and self.adapter.running
        if s.adapted_in_use:
            text = f"Features adapted to {s.adapted.n_labels:,} labels"
            return text + (" · updating…" if running else "")
        text = "Pretrained features"
        if running:
            return text + " · adapting…"
        if s.adapt_enabled and s.can_adapt() and not s.labels_allow_adaptation():
            return text + " · adapts at 5 labels per class"
        return text

    def embed_missing(self) -> EmbedMissingJob | None:
        s = self.session
        rows = s.rows_needing_embedding()
        for job in self.jobs:
            if isinstance(job, EmbedMissingJob):
                job.cancel()
        if not rows:
            return None
        job = EmbedMissingJob([(s.files[r], s.hashes[r]) for r in rows], s.backbone, s.project.embedding_cache)
        job.chunk.connect(lambda c, j=job: self.session.set_embeddings(c.hashes, c.vecs, j.backbone)
                          if self.session is s else None)
        return self._start(job, show=len(rows) > 0)

    # ================================================================== importing
    def dragEnterEvent(self, e) -> None:  # noqa: N802
        if e.mimeData().hasUrls() and any(u.isLocalFile() for u in e.mimeData().urls()):
            e.acceptProposedAction()

    def dragMoveEvent(self, e) -> None:  # noqa: N802
        if e.mimeData().hasUrls():
            e.acceptProposedAction()

    def dropEvent(self, e) -> None:  # noqa: N802
        paths = urls_to_paths(e.mimeData())
        if not paths:
            return
        e.acceptProposedAction()
        # A lone .fewlens file dropped on the window opens it rather than importing it.
        if len(paths) == 1 and paths[0].suffix.lower() == ".fewlens":
            self.open_project(paths[0])
            return
        self.import_paths(paths)

    def ask_use_subfolders(self, names: list[str]) -> bool | None:
        """Offer subfolder names as class labels.  True / False, or None to cancel the import."""
        shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
        box = QMessageBox(self)
        box.setWindowTitle("Use folder names as labels?")
        box.setText(f"This folder has {len(names)} subfolder{'s' if len(names) != 1 else ''}: {shown}.")
        box.setInformativeText("Label each image with the name of its subfolder? "
                               "Choose “Import unlabeled” to label them yourself.")
        tidy = [n for n in names if tidy_class_name(n) != n]
        check = None
        if tidy:  # "Common_Chickweed" is a folder's name, not what a botanist calls the class
            check = QCheckBox(f"Write names as people do: “{tidy_class_name(tidy[0])}”, not “{tidy[0]}”")
            check.setChecked(self.tidy_folder_names)
            box.setCheckBox(check)
        yes = box.addButton("Use as labels", QMessageBox.ButtonRole.YesRole)
        no = box.addButton("Import unlabeled", QMessageBox.ButtonRole.NoRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.setDefaultButton(yes)
        box.exec()
        if check is not None:
            self.tidy_folder_names = check.isChecked()
        if box.clickedButton() is yes:
            return True
        if box.clickedButton() is no:
            return False
        return None

    def import_paths(self, paths: list[Path], ask_subfolders: bool = True) -> ImportJob | None:
        if self.session is None:
            return None
        paths = [Path(p) for p in paths]
        names = subfolder_names(paths) if ask_subfolders else []
        use_labels = False
        if names:
            answer = self.ask_use_subfolders(names)
            if answer is None:
                return None
            use_labels = answer
        s = self.session
        job = ImportJob(ImportPlan(paths, use_labels), s.backbone, s.project.embedding_cache)
        # chunks of a project the user has since closed are dropped, not added to the new one
        job.chunk.connect(lambda c, j=job: self._import_chunk(j, c) if self.session is s else None)
        job.finished.connect(self._import_done)
        return self._start(job)

    def _import_chunk(self, job: ImportJob, chunk) -> None:
        s = self.session
        if s is None:
            return
        labels = None
        if any(chunk.class_names):
            labels = [self._class_for_import(name) if name else None for name in chunk.class_names]
        vecs = chunk.vecs if job.backbone == s.backbone else None
        s.add_images(chunk.paths, chunk.hashes, vecs, labels)
        if vecs is None:
            self.embed_missing()

    def _class_for_import(self, name: str) -> int:
        """Class id for a subfolder name, created on first use (import is not an undo step)."""
        s = self.session
        if self.tidy_folder_names:
            name = tidy_class_name(name)
        for c in s.classes:
            if c.name.casefold() == name.casefold():
                return c.id
        return s.add_class(name)

    def _import_done(self, job: ImportJob) -> None:
        imported = job.imported
        if job.cancelled:
            self.statusBar().showMessage("Import cancelled: the images imported so far were kept.", 8000)
        elif job.total:
            self.statusBar().showMessage(f"Imported {plural(imported, 'image')}.", 6000)
        if job.errors:
            self.report.show_errors(job.errors, imported)

    def add_folder_dialog(self) -> None:
        folder = file_dialogs.get_existing_directory(self, "Add a folder of images")
        if folder:
            self.import_paths([Path(folder)])

    def predict_folder_dialog(self, folders=None):
        """File -> Predict folder…: a modeless dialog (app/batch_dialog.py); returns it (tests drive it)."""
        from .batch_dialog import PredictFolderDialog

        dlg = PredictFolderDialog(self)
        dlg.add_folders(folders or [])
        dlg.import_requested.connect(lambda folders: self.import_paths(folders, ask_subfolders=False))  # unlabeled
        dlg.show()
        return dlg

    def add_images_dialog(self) -> None:
        patterns = " ".join(f"*{e}" for e in sorted(_image_suffixes()))
        files = file_dialogs.get_open_file_names(self, "Add images", "", f"Images ({patterns})")
        if files:
            self.import_paths([Path(f) for f in files])

    def locate_missing(self) -> None:
        s = self.session
        if s is None:
            return
        if not s.missing.any():
            QMessageBox.information(self, "Locate missing files", "No files are missing.")
            return
        folder = file_dialogs.get_existing_directory(self, "Where are the missing images now?")
        if folder:
            self.start_locate(Path(folder))

    def start_locate(self, folder: Path) -> LocateJob:
        job = LocateJob(self.session, folder)
        job.finished.connect(self._locate_done)
        return self._start(job)

    def _locate_done(self, job: LocateJob) -> None:
        if job.error or self.session is None:
            return
        self.thumbs.invalidate()
        self.session.refresh_missing()
        left = int(self.session.missing.sum())
        self.statusBar().showMessage(
            f"Relinked {job.count:,} file{'s' if job.count != 1 else ''}" + (f"; {left:,} still missing." if left else "."),
            8000)
        self.embed_missing()

    # ================================================================== labeling
    def _push(self, cmd: undo._SessionCommand) -> bool:
        self.undo_stack.push(cmd)
        if cmd.error:
            QMessageBox.warning(self, "FewLens", cmd.error)
            return False
        return True

    def selected_ids(self) -> list[int]:
        return self.gallery.selected_ids()

    def assign_selection(self, position: int) -> None:
        s = self.session
        ids = self.selected_ids()
        if s is None or not ids:
            return
        if position >= len(s.classes):
            self.statusBar().showMessage(
                f"There is no class {position + 1} yet: add one in the Classes panel (Ctrl+K).", 5000)
            return
        self._push(undo.LabelCommand(s, ids, s.classes[position].id))

    def unlabel_selection(self) -> None:
        s = self.session
        if s is None:
            return
        ids = [i for i in self.selected_ids() if s.labels[s.row_of(i)] != UNLABELED]
        if ids:
            self._push(undo.LabelCommand(s, ids, None))

    def accept_selection(self) -> None:
        s = self.session
        if s is None:
            return
        ids = [i for i in self.selected_ids() if s.labels[s.row_of(i)] == UNLABELED]
        preds = s.predicted_labels(ids)
        if preds:
            self._push(undo.AcceptPredictionsCommand(s, preds))
        elif ids:
            self.statusBar().showMessage("No confident prediction to accept for the selection.", 4000)

    def remove_selection(self) -> None:
        ids = self.selected_ids()
        if self.session is not None and ids and self._push(undo.RemoveImagesCommand(self.session, ids)):
            n = len(ids)
            self.statusBar().showMessage(
                f"Removed {n} image{'s' if n != 1 else ''} from the project (files stay on disk). "
                "Ctrl+Z brings them back.", 6000)

    def gallery_menu(self) -> QMenu | None:
        """The right-click menu for the selection: every labeling action, with its key."""
        s = self.session
        ids = self.selected_ids()
        if s is None or not ids:
            return None
        n = len(ids)
        m = QMenu(self)
        label = m.addMenu(f"Label {'image' if n == 1 else f'{n} images'} as")
        label.setEnabled(bool(s.classes))
        for k, c in enumerate(s.classes):
            act = label.addAction(f"{c.name}\t{k + 1}" if k < 9 else c.name)
            act.triggered.connect(lambda _=False, k=k: self.assign_selection(k))
        m.addAction("Accept prediction" + ("s" if n > 1 else "") + "\tEnter", self.accept_selection)
        m.addAction("Remove label\t0", self.unlabel_selection)
        m.addSeparator()
        m.addAction("Copy file path" + ("s" if n > 1 else ""), lambda: QGuiApplication.clipboard().setText(
            "\n".join(s.files[s.row_of(i)] for i in ids)))
        m.addAction("Remove from project\tDel", self.remove_selection)
        return m

    def _gallery_menu(self, pos) -> None:
        m = self.gallery_menu()
        if m is not None:
            m.exec(self.gallery.viewport().mapToGlobal(pos))

    # ================================================================== classes
    def _next_class_name(self) -> str:
        taken = {c.name.casefold() for c in self.session.classes}
        k = len(self.session.classes) + 1
        while f"class {k}" in taken:
            k += 1
        return f"Class {k}"

    def add_class(self, name: str, color: str | None = None) -> int | None:
        """Add a class (undoable); returns its id, or None when the name is invalid/taken."""
        s = self.session
        name = name.strip()
        if s is None or not name:
            return None
        if any(c.name.casefold() == name.casefold() for c in s.classes):
            QMessageBox.warning(self, "Add class", f"There is already a class named “{name}”.")
            return None
        cmd = undo.AddClassCommand(s, name, color)
        return cmd.class_id if self._push(cmd) else None

    def add_class_interactive(self) -> None:
        if self.session is None:
            return
        cid = self.add_class(self._next_class_name())
        if cid is not None:
            self.classes_panel.start_rename(cid)

    def rename_class(self, class_id: int, name: str) -> None:
        s = self.session
        name = name.strip()
        if any(c.name.casefold() == name.casefold() and c.id != class_id for c in s.classes):
            QMessageBox.warning(self, "Rename class", f"There is already a class named “{name}”.")
            self.classes_panel.refresh()
            return
        self._push(undo.RenameClassCommand(s, class_id, name))

    def choose_class_color(self, class_id: int) -> None:
        c = self.session.class_by_id(class_id)
        color = QColorDialog.getColor(QColor(c.color), self, f"Color of {c.name}")
        if color.isValid():
            self._push(undo.ClassColorCommand(self.session, class_id, color.name()))

    def merge_classes(self, src_id: int, dst_id: int) -> None:
        self._push(undo.MergeClassesCommand(self.session, src_id, dst_id))

    def confirm_delete_class(self, name: str, count: int) -> bool:
        text = (f"Delete the class “{name}”?\n\nIts {count} labeled image{'s' if count != 1 else ''} "
                "will become unlabeled (they stay in the project). You can undo this.")
        return QMessageBox.question(self, "Delete class", text) == QMessageBox.StandardButton.Yes

    def delete_class(self, class_id: int) -> None:
        c = self.session.class_by_id(class_id)
        if c is not None and self.confirm_delete_class(c.name, c.count):
            self._push(undo.DeleteClassCommand(self.session, class_id))

    # ================================================================== filters / selection
    def set_filter(self, f: GalleryFilter) -> None:
        if self.session is None:
            return
        self.model.set_filter(f)
        c = self.session.class_by_id(f.class_id) if f.kind == "class" else None
        self.filter_bar.show_filter(f, c.name if c else None)
        self.classes_panel.set_active_class(c.id if c else None)
        if self.model.rowCount() and (not self.gallery.selected_ids() or f.kind in ("review", "unknown")):
            self.gallery.select_row(0)  # a review starts at the top: the least sure image

    def zoom(self, step: int) -> None:
        """Bigger or smaller tiles (Ctrl + / Ctrl -, or Ctrl + mouse wheel on the gallery)."""
        k = min(range(len(THUMB_SIZES)), key=lambda i: abs(THUMB_SIZES[i] - self.thumbs.size))
        size = THUMB_SIZES[max(0, min(len(THUMB_SIZES) - 1, k + step))]
        if size != self.thumbs.size:
            self.thumbs.set_size(size)
            self.gallery.set_tile_size(tile_size(size))
            current = self.gallery.currentIndex()
            if current.isValid():
                self.gallery.scrollTo(current)

    def _class_clicked(self, class_id: int) -> None:
        self.set_filter(GalleryFilter("class", class_id))
        self.gallery.setFocus()  # number keys keep labeling the gallery selection

    def _update_filter_count(self) -> None:
        n = len(self.session) if self.session is not None else 0
        self.filter_bar.set_count(self.model.rowCount(), n)

    def _thumb_ready(self, image_id: int) -> None:
        idx = self.model.index_of_image(image_id)
        if idx.isValid():
            self.gallery.update(idx)

    def _current_changed(self, image_id: int, count: int | None = None) -> None:
        s = self.session
        if count is None:
            count = len(self.gallery.selectionModel().selectedIndexes())
        self.detail.show_image(image_id, count)
        if self._detail_job is not None:
            self._detail_job.cancel()
            self._detail_job = None
        if s is None or image_id < 0:
            return
        row = s.row_of(image_id)
        if row is None or s.missing[row]:
            self.detail.set_loaded(image_id, None, "This file is missing.", [])
            return
        job = DetailJob(image_id, s.file_path(row), s.backbone)
        job.loaded.connect(lambda r: self.detail.set_loaded(r.image_id, r.image, r.error, r.backbone_sees))
        self._detail_job = job
        job.start(self.detail_pool)

    # ================================================================== toolbar settings
    def _fill_methods(self, current: str | None) -> None:
        fill_grouped(self.method_combo, method_choices(method_names(embedding_level_only=True)), current,
                     self._show_all["method"])

    def _toggle_show_all(self, which: str) -> None:
        """The picker's last entry: show every choice, or only those that fit a photo project."""
        self._show_all[which] = not self._show_all[which]
        current = None
        if self.session is not None:
            current = self.session.method if which == "method" else self.session.backbone
        if which == "method":
            self._fill_methods(current)
            QTimer.singleShot(0, self.method_combo.showPopup)
        else:
            fill_grouped(self.backbone_combo, getattr(self, "_backbone_choices", []), current,
                         self._show_all["backbone"])
            QTimer.singleShot(0, self.backbone_combo.showPopup)

    def _backbone_picked(self, _index: int) -> None:
        bid = self.backbone_combo.currentData()
        if bid == TOGGLE:
            self._toggle_show_all("backbone")
            return
        if self.session is None or not bid or bid == self.session.backbone:
            return
        self.session.set_backbone(bid)
        self.device_label = ""
        self.embed_missing()

    def _method_picked(self, _index: int) -> None:
        name = self.method_combo.currentData()
        if name == TOGGLE:
            self._toggle_show_all("method")
            return
        if self.session is not None and name:
            self.session.set_method(name)

    def _threshold_moved(self, value: int) -> None:
        self.threshold_value.setText(f"{value}%")
        if self.session is not None:
            self.session.set_threshold(value / 100.0, persist=False)  # a manual value: Auto off
            self.threshold_auto.blockSignals(True)
            self.threshold_auto.setChecked(False)
            self.threshold_auto.blockSignals(False)
            self._threshold_timer.start()

    def _threshold_auto_toggled(self, auto: bool) -> None:
        if self.session is not None:
            self.session.set_auto_threshold(auto)
            self._sync_threshold()

    def _persist_threshold(self) -> None:
        if self.session is not None:
            self.session.set_threshold(self.session.threshold, persist=True)

    # ================================================================== try it
    def show_try_it(self) -> TryItDialog | None:
        if self.session is None:
            return None
        if self.try_dialog is None or self.try_dialog.session is not self.session:
            self.try_dialog = TryItDialog(self.session, self)
        self.try_dialog.show()
        self.try_dialog.raise_()
        return self.try_dialog

    # ================================================================== help / welcome
    def show_help(self, tab: str) -> HelpDialog:
        dlg = getattr(self, "help_dialog", None)
        backbone = self.session.backbone if self.session is not None else None
        if dlg is None or dlg.backbone_id != backbone:
            dlg = self.help_dialog = HelpDialog(backbone, self)
            dlg.backbone_id = backbone
        dlg.show_tab(tab)
        return dlg

    def show_welcome(self) -> WelcomeDialog:
        dlg = WelcomeDialog(self)
        dlg.ownImagesRequested.connect(self._start_own_project)
        dlg.show()
        self.welcome = dlg
        return dlg

    def _start_own_project(self) -> None:
        self.new_project()
        if self.session is not None and not len(self.session):
            self.add_folder_dialog()

    # ================================================================== file menu
    def new_project(self) -> None:
        path = file_dialogs.get_save_file_name(self, "New project", str(Path.home() / "Untitled.fewlens"), PROJECT_FILTER,
                                               "fewlens")
        if not path:
            return
        if not path.endswith(".fewlens"):
            path += ".fewlens"
        try:
            session = ProjectSession(Project.create(path, overwrite=True))
        except FewLensError as e:
            QMessageBox.warning(self, "New project", str(e))
            return
        self.set_session(session)

    def new_project_from_model(self, model: str | None = None, path: str | None = None) -> None:
        """File -> New project from model…: classes, colors, method and threshold of an exported .onnx
        (core.model_import); labeling goes on from there."""
        from core.model_import import project_from_model

        if model is None:
            model = file_dialogs.get_open_file_name(self, "New project from model", "", "FewLens model (*.onnx)")
            if not model:
                return
        if path is None:
            path = file_dialogs.get_save_file_name(self, "New project", str(Path(model).with_suffix(".fewlens")),
                                                   PROJECT_FILTER, "fewlens")
            if not path:
                return
        path = str(path) if str(path).endswith(".fewlens") else f"{path}.fewlens"
        try:
            session = ProjectSession(Project.open(project_from_model(model, path, overwrite=True)))
        except FewLensError as e:
            QMessageBox.warning(self, "New project from model", str(e))
            return
        self.set_session(session)

    def open_project_dialog(self) -> None:
        path = file_dialogs.get_open_file_name(self, "Open project", "", PROJECT_FILTER)
        if path:
            self.open_project(path)

    def save_as(self) -> None:
        if self.session is None:
            return
        path = file_dialogs.get_save_file_name(self, "Save project as", str(self.session.path), PROJECT_FILTER, "fewlens")
        if not path:
            return
        if not path.endswith(".fewlens"):
            path += ".fewlens"
        self.start_save_as(Path(path))

    def start_save_as(self, path: Path) -> SaveAsJob:
        job = SaveAsJob(self.session.project, path)
        job.finished.connect(self._project_opened)
        return self._start(job)

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        items = [p for p in recent_projects() if self.session is None or p != self.session.path]
        if not items:
            a = self.recent_menu.addAction("No recent projects")
            a.setEnabled(False)
        for p in items:
            self.recent_menu.addAction(p.name, lambda p=p: self.open_project(p)).setToolTip(str(p))

    # ================================================================== status
    def _set_device(self, label: str) -> None:
        first = not self.device_label
        self.device_label = label
        self._schedule_status()
        if first and self.detail.image_id >= 0 and not self.detail.backbone_sees:
            self._current_changed(self.detail.image_id)  # the model is loaded now: ask what it sees

    def _schedule_status(self, *_args) -> None:
        if not self._status_timer.isActive():
            self._status_timer.start()

    def _update_status(self) -> None:
        s = self.session
        if s is None:
            self.status_counts.setText("No project open")
            return
        n = len(s)
        labeled = s.labeled_count
        missing = int(s.missing.sum())
        parts = [plural(n, "image"), f"{labeled:,} labeled", plural(len(s.classes), "class")]
        unknown = int((s.unknown & (s.labels == UNLABELED) & (s.pred.top != UNLABELED)).sum())
        if unknown:
            parts.append(f"{unknown:,} unknown")
        if missing:
            parts.append(f"{missing:,} missing")
        hint = one_class_hint(int(np.unique(s.labels[s.labels != UNLABELED]).size) if labeled else 0)
        if hint:
            parts.append("⚠ one class labeled: label a second one for real predictions")
        self.status_counts.setText("  ·  ".join(parts))
        self.status_counts.setToolTip(hint)
        self.filter_bar.set_unknown_count(unknown)
        pending = s.pending_embeddings
        if pending:
            self.status_embedding.setText(f"Analysing {pending:,} images…")
        elif s.refining:
            self.status_embedding.setText(f"Refining predictions ({s.method})…")
        else:
            self.status_embedding.setText("")
        emb = cached_embedder(s.backbone)
        label = self.device_label or (getattr(emb, "device_label", "") if emb is not None else "")
        if not label:
            # every vector came from the cache, so no backbone was loaded: say so only while
            # a job is actually loading one, and name the adapted model's device when it is used
            if s.adapted_in_use:
                on_ort = getattr(s.adapted.network, "session", None) is not None  # the CPU's ONNX export
                label = ("GPU · CUDA (torch)" if s.adapted.device == "cuda"
                         else "CPU · ONNX Runtime" if on_ort else "CPU · torch")
            elif any(isinstance(j, (ImportJob, EmbedMissingJob)) for j in self.jobs):
                label = "Loading model…"
        self.status_device.setText(label)
        self.status_features.setText(self.features_text())
        self.status_features.setToolTip(
            f"Predictions use {s.backbone} fine-tuned on {s.adapted.n_labels:,} of your labeled images."
            if s.adapted_in_use else
            "Predictions use the pretrained backbone's features. Model > Adapt the backbone to my labels "
            "fine-tunes it once every class has 5 labeled images (MobileNetV2 backbones).")
        self._update_filter_count()

    # ================================================================== closing
    def closeEvent(self, e) -> None:  # noqa: N802
        self.camera_panel.shutdown()  # first: what it captured is added before the project closes
        if self.adapter is not None:
            self.adapter.shutdown()
        self.evaluation.shutdown()
        for job in list(self.jobs):
            job.cancel()
        if self._detail_job is not None:
            self._detail_job.cancel()
        self.pool.waitForDone(10000)
        self.detail_pool.waitForDone(5000)
        self.thumbs.shutdown()
        if self.try_dialog is not None:
            self.try_dialog.close()
        if self.session is not None:
            self.session.close()
            self.session = None
            self.model.set_session(None)
        super().closeEvent(e)


def _image_suffixes() -> frozenset[str]:
    from core.images import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS
