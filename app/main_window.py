"""The FewLens main window: classes | gallery | detail, menus, toolbar, status bar.

The window wires views to the :class:`ProjectSession` and turns user gestures
into undoable commands or background jobs; it holds no project state itself.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QThreadPool, QTimer
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QLabel, QMainWindow, QSplitter, QVBoxLayout, QWidget

from .adapter import BackboneAdapter
from .controllers.adaptation import AdaptationActions
from .controllers.class_actions import ClassActions
from .controllers.evaluation import EvaluationController
from .controllers.import_flow import ImportFlow
from .controllers.model_pickers import ModelPickers
from .controllers.project_files import ProjectFiles
from .controllers.status import StatusText
from .jobs import DetailJob, EmbedMissingJob, ImportJob, Job, LocateJob
from .jobs.adapt import AdaptJob
from .recent import remember_project
from .session import ProjectSession
from .widgets.camera_panel import CameraPanel
from .widgets.classes_panel import ClassesPanel
from .widgets.detail_view import DetailView
from .widgets.filter_bar import FilterBar
from .widgets.elided import ElidedLabel
from .widgets.gallery import GalleryFilter, GalleryModel, GalleryView
from .widgets.help import HelpDialog
from .widgets.import_report import ImportReport
from .widgets.task_banner import TaskBanner
from .widgets.thumbnails import ThumbnailLoader
from .widgets.tile_delegate import TileDelegate, tile_size
from .widgets.try_it import TryItDialog, urls_to_paths
from .window_menus import build_actions, build_menus

THUMB = 148
#: gallery zoom steps (thumbnail side in px): small tiles for browsing big projects
THUMB_SIZES = (96, 124, 148, 196, 256)


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

        # controllers: the window builds and wires views, they do the work (app/controllers/)
        self.imports = ImportFlow(self)
        self.adaptation = AdaptationActions(self)
        self.class_actions = ClassActions(self)
        self.files = ProjectFiles(self)
        self.pickers = ModelPickers(self)
        self.status = StatusText(self)
        self._build_views()
        self._build_camera_panel()
        build_actions(self)
        build_menus(self)
        self.pickers.build_toolbar()
        self._build_status()
        # accuracy estimate, Evaluation view, "Label next" (issue 15): app/controllers/evaluation.py
        self.evaluation = EvaluationController(self)

        self._status_timer = QTimer(self, singleShot=True, interval=80)
        self._status_timer.timeout.connect(self.status._update_status)
        self._threshold_timer = QTimer(self, singleShot=True, interval=400)
        self._threshold_timer.timeout.connect(self.pickers._persist_threshold)
        if session is not None:
            self.set_session(session)
        else:
            self._update_enabled()

    # ================================================================== construction
    def _build_views(self) -> None:
        self.classes_panel = ClassesPanel()
        self.classes_panel.addRequested.connect(self.class_actions.add_class_interactive)
        self.classes_panel.renameRequested.connect(self.class_actions.rename_class)
        self.classes_panel.colorRequested.connect(self.class_actions.choose_class_color)
        self.classes_panel.mergeRequested.connect(self.class_actions.merge_classes)
        self.classes_panel.deleteRequested.connect(self.class_actions.delete_class)
        self.classes_panel.classActivated.connect(self._class_clicked)

        self.model = GalleryModel()
        self.gallery = GalleryView()
        self.gallery.setObjectName("gallery")
        self.gallery.setModel(self.model)
        self.gallery.setItemDelegate(TileDelegate(lambda: self.session, self.thumbs, self.gallery))
        self.gallery.set_tile_size(tile_size(THUMB))
        self.gallery.zoomRequested.connect(self.zoom)
        self.thumbs.ready.connect(self._thumb_ready)
        self.gallery.assignRequested.connect(self.class_actions.assign_selection)
        self.gallery.unlabelRequested.connect(self.class_actions.unlabel_selection)
        self.gallery.acceptRequested.connect(self.class_actions.accept_selection)
        self.gallery.removeRequested.connect(self.class_actions.remove_selection)
        self.gallery.focusChanged.connect(self._current_changed)
        self.gallery.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.gallery.customContextMenuRequested.connect(self.class_actions._gallery_menu)
        self.model.rowsRefiltered.connect(self._update_filter_count)

        self.filter_bar = FilterBar()
        self.filter_bar.filterChanged.connect(self.set_filter)
        self.banner = TaskBanner()
        self.report = ImportReport()

        self.detail = DetailView()
        self.detail.acceptRequested.connect(self.class_actions.accept_selection)
        self.detail.locateRequested.connect(self.imports.locate_missing)

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
        """The Camera dock (app/widgets/camera_panel.py), hidden until View > Camera."""
        self.camera_panel = CameraPanel(self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.camera_panel)
        self.camera_panel.hide()
        self.camera_panel.needsEmbedding.connect(self.imports.embed_missing)
        self.camera_panel.toggleViewAction().setShortcut("Ctrl+Shift+C")

    def _build_status(self) -> None:
        sb = self.statusBar()
        # every text here elides (whole text in its tooltip) so a long task's banner keeps its room
        self.status_device = ElidedLabel(min_width=70)
        self.status_counts = ElidedLabel(min_width=120)
        self.status_embedding = ElidedLabel(min_width=80)
        # which features the predictions use: pretrained, or adapted to the labels
        self.status_features = ElidedLabel(min_width=90)
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
            sig.connect(self.status._schedule_status)
        session.predictionsChanged.connect(self.pickers._sync_threshold)
        session.settingsChanged.connect(self.pickers.follow_session)
        session.featuresChanged.connect(self.status._schedule_status)
        self.adapter = BackboneAdapter(session, self._start, self.adaptation._adapt_blocked, self)
        self.evaluation.set_session(session)
        self.adapter.jobStarted.connect(self.status._schedule_status)
        self.adapter.jobFinished.connect(self.adaptation._adapt_done)
        self.adapter.restore_now()  # the adaptation saved with the project, for these labels: no re-adapting
        session.predictor.failed.connect(lambda msg: self.statusBar().showMessage(f"Prediction failed: {msg}", 8000))
        self.pickers._sync_toolbar()
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
        self.status._schedule_status()
        self.imports.embed_missing()

    def _update_enabled(self) -> None:
        has = self.session is not None
        for a in (self.act_save_as, self.act_add_folder, self.act_add_images, self.act_locate, self.act_accept,
                  self.act_unlabel, self.act_remove, self.act_add_class, self.act_try, self.act_adapt,
                  self.act_predict_folder, self.act_export_labels, self.act_import_labels, self.act_export):
            a.setEnabled(has)
        self.act_adapt.setEnabled(has and self.adapt_available)

    # ================================================================== jobs
    def _start(self, job: Job, show: bool = True) -> Job:
        self.jobs.append(job)
        job.finished.connect(self._job_done)
        if show:
            self.banner.track(job)
        if hasattr(job, "device"):
            job.device.connect(self.status._set_device)
        job.start(self.pool)
        self.status._schedule_status()
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
        self.status._schedule_status()

    @property
    def busy(self) -> bool:
        """True while any background job runs or predictions are being refreshed."""
        return bool(self.jobs) or (self.session is not None and not self.session.predictions_current)

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
            self.files.open_project(paths[0])
            return
        self.imports.import_paths(paths)

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
