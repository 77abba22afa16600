"""The live capture-and-recognize loop (no Qt): one thread reads frames, one recognizes them.

    loop = CameraLoop(CameraSource.parse("0"), predict)     # predict: core.frame_predictor
    loop.start(); ...; loop.latest_frame(); loop.latest_result(); loop.stop()

Recognition always takes the *newest* frame: the reader overwrites a single slot, so a
slow model drops stale frames instead of queueing them, and frame-to-result latency never
builds up.  The GUI's Camera panel and ``fewlens camera-bench`` run this same loop.

Sources: a camera index (``list_cameras`` enumerates the ones OpenCV can open), a stream URL
(RTSP/HTTP, through OpenCV's FFmpeg backend) or a video file, which is delivered at its own
frame rate as a camera would.  Faults end the loop with a one-line message naming the source
(``state`` becomes "error" or "ended"); the caller offers Retry by starting a new loop.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FewLensError

#: predict(frames: list of HxWx3 uint8 RGB) -> (probs (N, C) float, class names (C,))
Predictor = Callable[[list[np.ndarray]], tuple[np.ndarray, Sequence[str]]]

#: A stream that answers nothing for this long is reported as stopped (FFmpeg's default is 30 s).
STREAM_TIMEOUT_MS = 5000

#: Results kept for the live FPS / latency readout (a few seconds at camera rates).
LIVE_WINDOW = 90


class CameraError(FewLensError):
    """A camera, stream or video cannot be opened or stopped delivering frames."""

    def __init__(self, source: str, reason: str):
        self.source = source
        self.reason = reason
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class CameraSource:
    """Where frames come from: ``kind`` is "index", "url" or "file"."""

    kind: str
    value: int | str
    width: int | None = None  # requested resolution (cameras only; the driver may pick another)
    height: int | None = None

    @classmethod
    def parse(cls, text: str | int, width: int | None = None, height: int | None = None) -> CameraSource:
        """"0" -> camera 0, "rtsp://..." / "http://..." -> stream, anything else -> video file."""
        s = str(text).strip()
        if s.isdigit():
            return cls("index", int(s), width, height)
        if "://" in s:
            return cls("url", s, width, height)
        return cls("file", os.fspath(Path(s).expanduser()), width, height)

    @property
    def label(self) -> str:
        if self.kind == "index":
            return f"camera {self.value}"
        return str(self.value)


@dataclass(frozen=True)
class CameraInfo:
    index: int
    name: str
    width: int
    height: int


@dataclass(frozen=True)
class Roi:
    """The classified region, as fractions of the frame (x, y of the top-left corner)."""

    x: float
    y: float
    w: float
    h: float

    @classmethod
    def centered_square(cls, width: int, height: int, scale: float = 1.0) -> Roi:
        side = min(width, height) * scale
        return cls((width - side) / 2 / width, (height - side) / 2 / height, side / width, side / height)

    def clamped(self) -> Roi:
        w = min(max(self.w, 0.02), 1.0)
        h = min(max(self.h, 0.02), 1.0)
        return Roi(min(max(self.x, 0.0), 1.0 - w), min(max(self.y, 0.0), 1.0 - h), w, h)

    def pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1) in pixels, at least one pixel wide."""
        r = self.clamped()
        x0, y0 = int(round(r.x * width)), int(round(r.y * height))
        x1 = max(x0 + 1, min(width, int(round((r.x + r.w) * width))))
        y1 = max(y0 + 1, min(height, int(round((r.y + r.h) * height))))
        return x0, y0, x1, y1

    def crop(self, frame: np.ndarray) -> np.ndarray:
        x0, y0, x1, y1 = self.pixels(frame.shape[1], frame.shape[0])
        return frame[y0:y1, x0:x1]


@dataclass
class Frame:
    image: np.ndarray  # HxWx3 uint8 RGB (mirrored when the loop mirrors)
    seq: int  # 1, 2, ... in reading order
    t: float  # time.perf_counter() when the read returned


@dataclass
class Recognition:
    seq: int  # the frame it describes
    probs: np.ndarray  # (C,) float32 (smoothed when smoothing is on)
    class_names: list[str]
    latency_ms: float  # frame read -> result ready
    t: float  # perf_counter when the result was ready

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        order = np.argsort(-self.probs)[:k]
        return [(self.class_names[i], float(self.probs[i])) for i in order]


@dataclass
class LoopStats:
    frames_read: int
    frames_recognized: int
    seconds: float
    fps: float  # frames recognized per second
    latency_median_ms: float
    latency_p95_ms: float

    def as_dict(self) -> dict:
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _cv2():
    import cv2

    return cv2


def _video_devices() -> list[int] | None:
    """Indices of /dev/video* on Linux (None elsewhere: probe a fixed range)."""
    if not sys.platform.startswith("linux"):
        return None
    found = []
    for p in Path("/dev").glob("video*"):
        if p.name[5:].isdigit():
            found.append(int(p.name[5:]))
    return sorted(found)


def _device_name(index: int) -> str:
    try:
        return Path(f"/sys/class/video4linux/video{index}/name").read_text().strip() or f"Camera {index}"
    except OSError:
        return f"Camera {index}"


def list_cameras(max_index: int = 10) -> list[CameraInfo]:
    """Cameras OpenCV can open and read a frame from (opening each one: call off the UI thread).
    On Linux every /dev/video* node is tried, so no camera is skipped for having a high index."""
    cv2 = _cv2()
    candidates = _video_devices()
    if candidates is None:
        candidates = list(range(max_index))
    found = []
    for i in candidates:
        cap = cv2.VideoCapture(i)
        try:
            if not cap.isOpened():
                continue
            ok, frame = cap.read()
            if ok and frame is not None:
                found.append(CameraInfo(i, _device_name(i), frame.shape[1], frame.shape[0]))
        finally:
            cap.release()
    return found


def open_capture(source: CameraSource):
    """An opened cv2.VideoCapture for ``source``, or CameraError saying why not."""
    cv2 = _cv2()
    if source.kind == "file":
        path = Path(source.value)
        if not path.is_file():
            raise CameraError(source.label, "video file not found" if not path.exists() else "not a file")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            cap.release()
            raise CameraError(source.label, "not a video OpenCV can read")
        return cap
    if source.kind == "url":
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, STREAM_TIMEOUT_MS, cv2.CAP_PROP_READ_TIMEOUT_MSEC, STREAM_TIMEOUT_MS]
        cap = cv2.VideoCapture(str(source.value), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            raise CameraError(source.label, "the stream does not answer (check the URL and the network)")
        return cap
    index = int(source.value)
    devices = _video_devices()
    if devices is not None and index not in devices:
        raise CameraError(source.label, "no camera with this number is connected")
    cap = cv2.VideoCapture(index)
    if not cap.isOpened():
        cap.release()
        raise CameraError(source.label, "cannot be opened: it may be in use by another program")
    if source.width and source.height:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, source.width)
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, source.height)
    return cap


def _read_failure(source: CameraSource) -> tuple[str, str]:
    """(state, message) when a read returns no frame."""
    if source.kind == "file":
        return "ended", f"{source.label}: end of the video"
    if source.kind == "url":
        return "error", f"{source.label}: the stream stopped answering"
    return "error", f"{source.label}: stopped sending frames (unplugged, or taken by another program?)"


class CameraLoop:
    """Read frames on one thread, recognize the newest on another.  See the module docstring.

    ``predict`` may be None (live view only) and swapped later with :meth:`set_predictor`.
    ``smoothing``: average the probabilities of the last N recognized frames (1 = off).
    ``pace``: deliver a video file at its own frame rate (default), else as fast as it decodes.
    Attributes ``mirror`` and ``frozen`` and :meth:`set_roi` may be changed while it runs.
    """

    def __init__(self, source: CameraSource, predict: Predictor | None = None, *, roi: Roi | None = None,
                 mirror: bool = False, smoothing: int = 1, pace: bool = True, opener=None):
        self.source = source
        self.mirror = mirror
        self.frozen = False
        self.smoothing = max(1, int(smoothing))
        self.pace = pace
        self._opener = opener
        self._roi = roi
        self._predict = predict
        self._predict_version = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._frame: Frame | None = None
        self._result: Recognition | None = None
        self._history: deque[np.ndarray] = deque(maxlen=16)
        self._history_names: list[str] | None = None
        self.state = "idle"  # idle | opening | running | ended | error | stopped
        self.error: str | None = None
        self.predict_error: str | None = None
        self.frame_size: tuple[int, int] | None = None  # (width, height) once the first frame is read
        self.frames_read = 0
        self.frames_recognized = 0
        self._latencies: list[float] = []
        self._result_times: list[float] = []
        self._live: deque[tuple[float, float]] = deque(maxlen=LIVE_WINDOW)  # (t, latency ms)
        self._reader: threading.Thread | None = None
        self._recognizer: threading.Thread | None = None
        self._capture: list | None = None  # [rate, sink, start time, frames captured]

    # ------------------------------------------------------------------ control
    def start(self) -> CameraLoop:
        if self._reader is not None:
            raise RuntimeError("a CameraLoop starts once; make a new one to retry")
        self.state = "opening"
        self._reader = threading.Thread(target=self._read_loop, name="fewlens-camera-read", daemon=True)
        self._recognizer = threading.Thread(target=self._recognize_loop, name="fewlens-camera-recognize",
                                            daemon=True)
        self._reader.start()
        self._recognizer.start()
        return self

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop both threads and release the source; True when both have exited."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in (self._reader, self._recognizer):
            if t is not None and t is not threading.current_thread():
                t.join(timeout)
        if self.state in ("opening", "running", "idle"):
            self.state = "stopped"
        return not self.alive

    @property
    def alive(self) -> bool:
        return any(t is not None and t.is_alive() for t in (self._reader, self._recognizer))

    @property
    def reading(self) -> bool:
        """The reader thread is still delivering (or opening)."""
        return self._reader is not None and self._reader.is_alive()

    def set_predictor(self, predict: Predictor | None) -> None:
        """Swap the model (labels changed); the current frame is recognized again with it."""
        with self._cond:
            self._predict = predict
            self._predict_version += 1
            self._cond.notify_all()

    def set_roi(self, roi: Roi | None) -> None:
        with self._cond:
            self._roi = roi.clamped() if roi is not None else None
            self._predict_version += 1  # the frozen frame is recognized again for the new region
            self._cond.notify_all()

    @property
    def roi(self) -> Roi | None:
        """The region in use: the one set, else a centered square once the frame size is known."""
        if self._roi is not None:
            return self._roi
        if self.frame_size is not None:
            return Roi.centered_square(*self.frame_size)
        return None

    def start_capture(self, rate: float, sink: Callable[[np.ndarray], None]) -> bool:
        """Hand ``sink`` the ROI crop of the newest frame now, then of the frame read at each
        ``1 / rate`` step (on the reader thread, so a busy UI does not change the count).
        False when there is no frame yet."""
        crop = self.roi_crop()
        if crop is None:
            return False
        sink(crop)
        with self._cond:
            self._capture = [float(rate), sink, time.perf_counter(), 1]
        return True

    def stop_capture(self) -> int:
        """Stop capturing; returns how many crops went to the sink."""
        with self._cond:
            cap, self._capture = self._capture, None
        return cap[3] if cap else 0

    @property
    def captured(self) -> int:
        cap = self._capture
        return cap[3] if cap else 0

    def _maybe_capture(self, frame: np.ndarray, t: float) -> None:
        with self._cond:
            cap = self._capture
            if cap is None or cap[3] >= math.floor((t - cap[2]) * cap[0]) + 1:
                return
            cap[3] += 1
            roi = self.roi
        cap[1](np.ascontiguousarray(roi.crop(frame)) if roi is not None else frame.copy())

    # ------------------------------------------------------------------ outputs
    def latest_frame(self) -> Frame | None:
        with self._cond:
            return self._frame

    def latest_result(self) -> Recognition | None:
        with self._cond:
            return self._result

    def roi_crop(self) -> np.ndarray | None:
        """The newest frame's classified region (what a capture saves), a copy."""
        f, roi = self.latest_frame(), self.roi
        if f is None or roi is None:
            return None
        return np.ascontiguousarray(roi.crop(f.image))

    def live_rates(self) -> tuple[float, float] | None:
        """(fps, median latency ms) over the last few seconds of results, or None."""
        with self._cond:
            live = list(self._live)
        if len(live) < 2:
            return None
        span = live[-1][0] - live[0][0]
        fps = (len(live) - 1) / span if span > 0 else 0.0
        return fps, float(np.median([lat for _, lat in live]))

    def stats(self) -> LoopStats:
        """Totals over the whole run; fps counts results between the first and the last."""
        with self._cond:
            lat = np.asarray(self._latencies, np.float64)
            times = list(self._result_times)
        span = times[-1] - times[0] if len(times) >= 2 else 0.0
        return LoopStats(
            frames_read=self.frames_read,
            frames_recognized=self.frames_recognized,
            seconds=span,
            fps=(len(times) - 1) / span if span > 0 else 0.0,
            latency_median_ms=float(np.median(lat)) if len(lat) else math.nan,
            latency_p95_ms=float(np.percentile(lat, 95)) if len(lat) else math.nan,
        )

    # ------------------------------------------------------------------ threads
    def _fail(self, state: str, message: str) -> None:
        with self._cond:
            if not self._stop.is_set():
                self.state, self.error = state, message
            self._cond.notify_all()

    def _read_loop(self) -> None:
        cv2 = _cv2()
        try:
            cap = (self._opener or open_capture)(self.source)
        except CameraError as e:
            self._fail("error", str(e))
            return
        except Exception as e:  # an OpenCV backend failing in an unexpected way: still one line
            self._fail("error", f"{self.source.label}: cannot be opened ({e})")
            return
        try:
            fps = cap.get(cv2.CAP_PROP_FPS) if self.source.kind == "file" else 0.0
            period = 1.0 / fps if self.pace and fps and 1.0 <= fps <= 1000.0 else 0.0
            origin, k = time.perf_counter(), 0
            if not self._stop.is_set():
                self.state = "running"
            while not self._stop.is_set():
                if self.frozen and self.source.kind == "file":
                    time.sleep(0.02)  # a paused video waits; a live camera keeps being drained
                    origin, k = time.perf_counter(), 0
                    continue
                if period:
                    wait = origin + k * period - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                    k += 1
                ok, bgr = cap.read()
                t = time.perf_counter()
                if not ok or bgr is None:
                    self._fail(*_read_failure(self.source))
                    return
                if self.frozen:
                    continue
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if self.mirror:
                    rgb = np.ascontiguousarray(rgb[:, ::-1])
                with self._cond:
                    self.frames_read += 1
                    self.frame_size = (rgb.shape[1], rgb.shape[0])
                    self._frame = Frame(rgb, self.frames_read, t)
                    self._cond.notify_all()
                if self._capture is not None:
                    self._maybe_capture(rgb, t)
        except Exception as e:  # a driver error mid-stream: report it like a lost camera
            self._fail("error", f"{self.source.label}: reading failed ({e})")
        finally:
            cap.release()

    def _recognize_loop(self) -> None:
        done_seq, done_version = 0, -1
        while True:
            with self._cond:
                while True:
                    if self._stop.is_set():
                        return
                    f = self._frame
                    if f is not None and self._predict is not None and (
                            f.seq != done_seq or self._predict_version != done_version):
                        break
                    # even after the source ended: a new model re-recognizes the last frame
                    self._cond.wait(0.2)
                frame, predict, version = f, self._predict, self._predict_version
                roi = self.roi
            done_seq, done_version = frame.seq, version
            try:
                crop = roi.crop(frame.image) if roi is not None else frame.image
                probs, names = predict([np.ascontiguousarray(crop)])
                probs = np.asarray(probs, np.float32)[0]
                names = [str(n) for n in names]
            except Exception as e:  # a model failing must not kill the live view
                if self.predict_error is None:
                    traceback.print_exc()
                self.predict_error = f"recognition failed: {e}"
                continue
            now = time.perf_counter()
            self.predict_error = None
            with self._cond:
                if names != self._history_names:
                    self._history.clear()
                    self._history_names = names
                self._history.append(probs)
                n = min(self.smoothing, len(self._history))
                shown = np.mean(list(self._history)[-n:], axis=0) if n > 1 else probs
                latency = (now - frame.t) * 1e3
                self._result = Recognition(frame.seq, shown.astype(np.float32), names, latency, now)
                self.frames_recognized += 1
                self._latencies.append(latency)
                self._result_times.append(now)
                self._live.append((now, latency))
                self._cond.notify_all()

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until ``predicate()`` holds (checked on every frame / result), or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.1))
        return True
