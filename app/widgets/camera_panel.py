"""The Camera panel (a dock of the main window): live recognition and capturing examples.

The capture-and-recognize loop is core.camera.CameraLoop (its own two threads); this panel
only polls its newest frame and result on a UI-thread timer and paints them, so a slow model
or a stalled stream never blocks the window.  Faults show in the view with a Retry button;
closing the panel or the window stops every camera thread.

Hold to capture (button or space bar): frames of the classified region are added as
examples of the chosen class at the chosen rate (app/camera_capture.py), one undo step per
hold; the model the camera uses follows the labels (app/camera_model.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QCoreApplication, Qt, QTimer, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QHBoxLayout, QInputDialog, QLabel, QPushButton,
                               QSpinBox, QVBoxLayout, QWidget)

from core.camera import CameraLoop, CameraSource, list_cameras
from core.errors import FewLensError

from .. import file_dialogs
from ..camera_capture import CaptureCommand, CaptureJob, CaptureSaver, capture_folder
from ..camera_model import session_predictor
from ..relay import RelayedSignals
from .camera_view import LiveView, Overlay

POLL_MS = 30  # the view repaints at most this often (~33 Hz), whatever the camera's rate
MODEL_REFRESH_MS = 700  # labels changing (a capture every 200 ms) refit the camera's model at most this often
DEFAULT_RATE = 5  # captures per second while held
SMOOTH_FRAMES = 5
RESOLUTIONS = [None, (640, 480), (1280, 720), (1920, 1080)]


class CameraPanel(RelayedSignals, QDockWidget):
    camerasListed = Signal(object)  # list[CameraInfo], from the enumeration thread
    needsEmbedding = Signal()  # a capture was added without an embedding (the backbone failed)

    def __init__(self, parent: QWidget | None = None):
        super().__init__("Camera", parent)
        self.setObjectName("cameraPanel")
        self.session = None
        self.undo_stack = None
        self.loop: CameraLoop | None = None
        self.source: CameraSource | None = None
        self._retired: list[CameraLoop] = []  # stopped loops whose threads may still be finishing
        self._roi = None
        self._shown_seq = 0
        self._shown_result = None
        self._batch = 0
        self._batch_ids: dict[int, list[int]] = {}
        self._batch_class: dict[int, str] = {}
        self._hold: int | None = None  # the batch being captured while the button / space is held
        self.saver = CaptureSaver(self)
        self.saver.saved.connect(self._on_saved)
        self.saver.failed.connect(self._set_status)
        self.saver.batchDone.connect(self._on_batch_done)
        self._listing = False
        self._listed = False
        self._cams = []
        self.camerasListed.connect(self._fill_cameras)
        self._relay = self.make_relay()  # the listing thread reports through it (app.relay says why)
        self._build()
        self._poll = QTimer(self, interval=POLL_MS)
        self._poll.timeout.connect(self._tick)
        self._model_timer = QTimer(self, singleShot=True, interval=MODEL_REFRESH_MS)
        self._model_timer.timeout.connect(self._refresh_model)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(8, 8, 8, 8)
        lay.setSpacing(6)
        top = QHBoxLayout()
        self.source_combo = QComboBox()
        self.source_combo.setMinimumWidth(180)
        self.source_combo.activated.connect(self._source_picked)
        self.resolution_combo = QComboBox()
        for r in RESOLUTIONS:
            self.resolution_combo.addItem("Default size" if r is None else f"{r[0]}×{r[1]}", r)
        self.resolution_combo.setToolTip("Resolution asked of the camera (the driver may choose another)")
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self._start_stop)
        top.addWidget(self.source_combo, 1)
        top.addWidget(self.resolution_combo)
        top.addWidget(self.start_button)
        self.view = LiveView()
        self.view.roiChanged.connect(self._roi_changed)
        msg = QHBoxLayout()
        self.status = QLabel()
        self.status.setProperty("role", "hint")
        self.status.setWordWrap(True)
        self.retry_button = QPushButton("Retry")
        self.retry_button.clicked.connect(self.retry)
        self.retry_button.hide()
        msg.addWidget(self.status, 1)
        msg.addWidget(self.retry_button)
        opts = QHBoxLayout()
        self.mirror_box = QCheckBox("Mirror")
        self.mirror_box.toggled.connect(self._mirror_toggled)
        self.freeze_box = QCheckBox("Freeze")
        self.freeze_box.toggled.connect(self._freeze_toggled)
        self.smooth_box = QCheckBox(f"Smooth ({SMOOTH_FRAMES} frames)")
        self.smooth_box.toggled.connect(self._smooth_toggled)
        for b in (self.mirror_box, self.freeze_box, self.smooth_box):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the space bar is for capturing
            opts.addWidget(b)
        opts.addStretch(1)
        cap = QHBoxLayout()
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class captured frames are labeled with")
        self.rate_spin = QSpinBox()
        self.rate_spin.setRange(1, 30)
        self.rate_spin.setValue(DEFAULT_RATE)
        self.rate_spin.setSuffix(" /s")
        self.rate_spin.setToolTip("Frames added per second while capturing is held")
        self.hold_button = QPushButton("Hold to capture")
        self.hold_button.setProperty("role", "primary")
        self.hold_button.setToolTip("Hold this button (or the space bar) to add frames as examples")
        self.hold_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.hold_button.pressed.connect(self.begin_hold)
        self.hold_button.released.connect(self.end_hold)
        self.shot_button = QPushButton("Capture one")
        self.shot_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.shot_button.clicked.connect(self.capture_one)
        cap.addWidget(QLabel("Add to"))
        cap.addWidget(self.class_combo, 1)
        cap.addWidget(self.rate_spin)
        cap.addWidget(self.hold_button)
        cap.addWidget(self.shot_button)
        lay.addLayout(top)
        lay.addWidget(self.view, 1)
        lay.addLayout(msg)
        lay.addLayout(opts)
        lay.addLayout(cap)
        self.setWidget(w)
        self._fill_sources()
        self._update_enabled()

    # ------------------------------------------------------------------ session
    def set_session(self, session, undo_stack) -> None:
        """Follow ``session`` (the window opened another project)."""
        self.end_hold()
        self.session, self.undo_stack = session, undo_stack
        self._batch_ids.clear()
        for sig in (session.labelsChanged, session.classesChanged, session.featuresChanged,
                    session.settingsChanged, session.imagesReset, session.embeddingsChanged):
            sig.connect(self._schedule_model)
        session.classesChanged.connect(self._fill_classes)
        self._fill_classes()
        self._refresh_model()

    def _schedule_model(self, *_args) -> None:
        if not self._model_timer.isActive():  # throttle, not debounce: a long hold still refits
            self._model_timer.start()

    def _refresh_model(self) -> None:
        if self.loop is not None and self.session is not None:
            self.loop.set_predictor(session_predictor(self.session))

    def _fill_classes(self) -> None:
        current = self.class_combo.currentData()
        self.class_combo.clear()
        for c in self.session.classes if self.session is not None else []:
            self.class_combo.addItem(c.name, c.id)
        k = self.class_combo.findData(current)
        if k >= 0:
            self.class_combo.setCurrentIndex(k)
        self._update_enabled()

    def select_class(self, class_id: int) -> None:
        self.class_combo.setCurrentIndex(self.class_combo.findData(class_id))

    # ------------------------------------------------------------------ sources
    def showEvent(self, e) -> None:  # noqa: N802
        super().showEvent(e)
        if not self._listed:
            self.refresh_cameras()

    def refresh_cameras(self) -> None:
        """Enumerate cameras on a thread (opening each one can take a second)."""
        if self._listing:
            return
        self._listing = True

        relay = self._relay  # the thread holds the relay, never the panel

        def work():
            try:
                found = list_cameras()
            except Exception:  # no camera backend at all: offer files and URLs only
                found = []
            relay.send("camerasListed", found)

        threading.Thread(target=work, name="fewlens-camera-list", daemon=True).start()

    def _fill_cameras(self, cams) -> None:
        self._listing = False
        self._listed = True
        self._cams = list(cams)
        self._fill_sources()

    def _fill_sources(self) -> None:
        """Cameras found, the file or URL in use, then the pickers; the source in use is selected."""
        c = self.source_combo
        cams, keep = self._cams, self.source
        c.blockSignals(True)
        c.clear()
        for cam in cams:
            c.addItem(f"{cam.name} (camera {cam.index}, {cam.width}×{cam.height})", ("index", cam.index))
        if not cams:
            c.addItem("No camera found", None)
            c.setItemData(c.count() - 1, 0, Qt.ItemDataRole.UserRole - 1)  # not selectable
        if keep is not None and keep.kind != "index":
            c.addItem(Path(str(keep.value)).name if keep.kind == "file" else str(keep.value), (keep.kind, keep.value))
        c.addItem("Video file…", ("pick-file", None))
        c.addItem("Stream URL…", ("pick-url", None))
        c.addItem("Look for cameras again", ("refresh", None))
        k = c.findData((keep.kind, keep.value)) if keep is not None else -1
        c.setCurrentIndex(k if k >= 0 else 0 if cams else 1 if keep is not None else 0)
        c.blockSignals(False)

    def _source_picked(self, index: int) -> None:
        data = self.source_combo.itemData(index)
        if not data:
            return
        kind, value = data
        if kind == "refresh":
            self.refresh_cameras()
        elif kind == "pick-file":
            path = file_dialogs.get_open_file_name(self, "Video file", "",
                                                   "Videos (*.mp4 *.avi *.mkv *.mov *.webm);;All files (*)")
            if path:
                self.start_source(CameraSource("file", path))
        elif kind == "pick-url":
            url, ok = QInputDialog.getText(self, "Stream URL", "RTSP or HTTP address of the stream:")
            if ok and url.strip():
                self.start_source(CameraSource.parse(url.strip()))
        else:
            self.start_source(self._selected_source())

    def _selected_source(self) -> CameraSource | None:
        data = self.source_combo.currentData()
        if not data or data[0] not in ("index", "file", "url"):
            return None
        size = self.resolution_combo.currentData()
        return CameraSource(data[0], data[1], *(size or (None, None)))

    def _start_stop(self) -> None:
        if self.loop is not None and self.loop.reading:
            self.stop()
            self.view.set_message("Stopped.")
        else:
            src = self._selected_source() or self.source
            if src is not None:
                self.start_source(src)

    # ------------------------------------------------------------------ the loop
    def start_source(self, source: CameraSource) -> CameraLoop:
        """Start recognizing ``source`` (any running source is stopped first)."""
        self.stop()
        self.source = source
        self._fill_sources()  # a file or URL joins the list
        if self._roi is not None and self.view.frame_size is None:
            self._roi = None
        predictor = session_predictor(self.session) if self.session is not None else None
        self.loop = CameraLoop(source, predictor, roi=self._roi, mirror=self.mirror_box.isChecked(),
                               smoothing=SMOOTH_FRAMES if self.smooth_box.isChecked() else 1)
        self.loop.frozen = self.freeze_box.isChecked()
        self.loop.start()
        self._shown_seq, self._shown_result = 0, None
        self.view.set_message(f"Opening {source.label}…")
        self.retry_button.hide()
        self.start_button.setText("Stop")
        self._set_status("")
        self._poll.start()
        self._update_enabled()
        return self.loop

    def retry(self) -> None:
        if self.source is not None:
            self.start_source(self.source)

    def stop(self) -> None:
        """Stop the loop without waiting long (a stream can take seconds to give up a read)."""
        self.end_hold()
        loop, self.loop = self.loop, None
        if loop is not None:
            if not loop.stop(timeout=0.5):
                self._retired.append(loop)
        self._retired = [lp for lp in self._retired if lp.alive]
        self._poll.stop()
        self.start_button.setText("Start")
        self._update_enabled()

    @property
    def threads_alive(self) -> bool:
        return any(lp.alive for lp in ([self.loop] if self.loop else []) + self._retired)

    def shutdown(self) -> None:
        """Stop every thread: the loops, then the saver (after it has saved what was captured)."""
        self.end_hold()
        loops = ([self.loop] if self.loop else []) + self._retired
        self.loop, self._retired = None, []
        self._poll.stop()
        self._model_timer.stop()
        for lp in loops:
            lp.stop(timeout=10)
        if self.saver.alive:
            self.saver.shutdown()
            # deliver the saver's last results now: captured frames must reach the project
            QCoreApplication.sendPostedEvents(self.saver)  # (its relay's posts go to the saver)

    def closeEvent(self, e) -> None:  # noqa: N802
        self.stop()
        super().closeEvent(e)

    def hideEvent(self, e) -> None:  # noqa: N802
        self.stop()  # a hidden panel keeps no camera open (its light would stay on)
        super().hideEvent(e)

    # ------------------------------------------------------------------ painting
    def _tick(self) -> None:
        loop = self.loop
        if loop is None:
            return
        frame = loop.latest_frame()
        if frame is not None and frame.seq != self._shown_seq:
            self._shown_seq = frame.seq
            self.view.set_frame(frame.image)
            if self.view.roi is None or self._roi is None:
                self.view.set_roi(loop.roi)
            if loop.state == "running":
                self.view.set_message("")
        result = loop.latest_result()
        self.view.set_overlay(self.overlay_for(result))
        if loop.state in ("error", "ended"):
            self.view.set_message(loop.error or "The source stopped.")
            self.retry_button.show()
            self.start_button.setText("Start")
            self._set_status(loop.error or "")
            self.end_hold()
            self._poll.stop()
            self._update_enabled()

    def overlay_for(self, result) -> Overlay:
        loop, s = self.loop, self.session
        rates = loop.live_rates() if loop is not None else None
        o = Overlay(fps=rates[0] if rates else None, latency_ms=rates[1] if rates else None)
        if loop is not None and loop.predict_error:
            o.note = loop.predict_error
        elif result is None or not result.class_names:
            if loop is not None and loop._predict is None:
                o.note = "Label a few images (or capture some) to see predictions"
        else:
            colors = {c.name: c.color for c in s.classes} if s is not None else {}
            o.rows = [(name, p, colors.get(name, "#9ca3af")) for name, p in result.top(3)]
            o.unknown = s is not None and o.rows[0][1] < s.effective_threshold
        if self._hold is not None:
            o.note = f"Capturing… {loop.captured if loop is not None else 0} frames"
        elif loop is not None and loop.frozen:
            o.note = o.note or "Frozen"
        return o

    def _roi_changed(self, roi) -> None:
        self._roi = roi
        if self.loop is not None:
            self.loop.set_roi(roi)

    def _mirror_toggled(self, on: bool) -> None:
        if self.loop is not None:
            self.loop.mirror = on

    def _freeze_toggled(self, on: bool) -> None:
        if self.loop is not None:
            self.loop.frozen = on

    def _smooth_toggled(self, on: bool) -> None:
        if self.loop is not None:
            self.loop.smoothing = SMOOTH_FRAMES if on else 1

    # ------------------------------------------------------------------ capturing
    def _update_enabled(self) -> None:
        ok = self.session is not None and self.class_combo.count() > 0 and self.loop is not None
        for b in (self.hold_button, self.shot_button):
            b.setEnabled(ok or self._hold is not None)
        if self.session is not None and self.class_combo.count() == 0:
            self.hold_button.setToolTip("Add a class first (Classes panel, Ctrl+K)")

    def keyPressEvent(self, e) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_Space:
            if not e.isAutoRepeat():
                self.begin_hold()
            return
        super().keyPressEvent(e)

    def keyReleaseEvent(self, e) -> None:  # noqa: N802
        if e.key() == Qt.Key.Key_Space:
            if not e.isAutoRepeat():
                self.end_hold()
            return
        super().keyReleaseEvent(e)

    def begin_hold(self) -> None:
        """Start capturing at the chosen rate; the loop's reader thread picks the frames, so the
        count follows the time held even while the UI thread is busy adding the previous ones."""
        if self._hold is not None or not self._can_capture():
            return
        self._batch += 1
        batch = self._batch
        self._batch_class[batch] = self.class_combo.currentText()
        sink = self._sink(batch)
        if self.loop.start_capture(self.rate_spin.value(), sink):
            self._hold = batch
            self._batch_ids.setdefault(batch, [])

    def end_hold(self) -> None:
        if self._hold is None:
            return
        batch, self._hold = self._hold, None
        if self.loop is not None:
            self.loop.stop_capture()
        self.saver.end_batch(batch)

    def capture_one(self) -> None:
        if self._hold is not None or not self._can_capture():
            return
        self._batch += 1
        self._batch_class[self._batch] = self.class_combo.currentText()
        if self._capture(self._batch):
            self._set_status("Capturing one frame…")
        self.saver.end_batch(self._batch)

    def _can_capture(self) -> bool:
        if self.session is None or self.class_combo.currentData() is None:
            self._set_status("Add a class first: captured frames are labeled with it.")
            return False
        if self.loop is None or self.loop.latest_frame() is None:
            self._set_status("Start a camera, video or stream first.")
            return False
        return True

    def _sink(self, batch: int):
        """Where captured crops go (called on the camera's reader thread): the saver's queue."""
        s = self.session
        name = self._batch_class.get(batch) or self.class_combo.currentText()
        cid = self.class_combo.currentData()
        folder, backbone, cache = capture_folder(s.path, name), s.backbone, s.project.embedding_cache
        return lambda crop: self.saver.put(CaptureJob(batch, crop, cid, folder, backbone, cache))

    def _capture(self, batch: int) -> bool:
        crop = self.loop.roi_crop() if self.loop is not None else None
        if crop is None:
            return False
        self._sink(batch)(crop)
        self._batch_ids.setdefault(batch, [])
        return True

    def _on_saved(self, c) -> None:
        s = self.session
        if s is None or c.batch not in self._batch_ids:
            return  # captured for a project that has since been closed: the file stays on disk
        try:
            rows = s.add_images([c.path], [c.hash], None if c.vec is None else c.vec[None], [c.class_id])
        except FewLensError as e:
            self._set_status(str(e))
            return
        self._batch_ids[c.batch].append(int(s.ids[rows[0]]))
        if c.vec is None:
            self.needsEmbedding.emit()

    def _on_batch_done(self, batch: int) -> None:
        ids = self._batch_ids.pop(batch, None)
        name = self._batch_class.pop(batch, "")
        if not ids or self.session is None or self.undo_stack is None:
            return
        self.undo_stack.push(CaptureCommand(self.session, ids, name))
        self._set_status(f"Added {len(ids)} image{'s' if len(ids) != 1 else ''} of {name} "
                         f"(Ctrl+Z removes them).")

    def _set_status(self, text: str) -> None:
        self.status.setText(text)
