"""``fewlens --self-test``: does this install (pip or desktop bundle) work end to end?

Runs, on the bundled sample photos (``assets/sample/images/<class>/``) in a temporary folder:

- ``sample``  build a project from them (5 labeled per class, the rest unlabeled);
- ``predict`` embed and predict the unlabeled photos with the pretrained backbone;
- ``adapt``   adapt the backbone to the labels and predict again (needs torch: a light bundle skips it);
- ``export``  export the model to ONNX and load it back (needs torch to export);
- ``camera``  run the camera loop on a short video written with OpenCV (needs OpenCV);
- ``window``  open the project in the desktop app, offscreen, in a child process (needs the ``gui``
  command: an engine-only install skips it).

One line per check (``ok``, ``skip`` with the reason, ``FAIL`` with a one-line reason), then exit 0,
or 1 naming the failed checks.  Nothing under the user's projects or config is touched.  The
adaptation uses a cheap recipe: the check is that the path works; accuracy is bench/'s job.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from .errors import FewLensError

LABELED_PER_CLASS = 5  # >= core.adaptation.MIN_SHOTS: the sample project can then adapt
CHECK_NAMES = ("sample", "predict", "adapt", "export", "camera", "window")
#: FEWLENS_SELF_TEST_FAST=1 (tests) trims the adaptation further; both only prove the path runs
ADAPT_QUICK = {"steps": 4, "views": 2}
ADAPT_FAST = {"steps": 1, "views": 1}
FAST_CLASSES, FAST_PER_CLASS = 3, LABELED_PER_CLASS + 2  # and on 21 of the 72 photos


def _fast() -> bool:
    return os.environ.get("FEWLENS_SELF_TEST_FAST") == "1"
WINDOW_TIMEOUT_S = float(os.environ.get("FEWLENS_SELF_TEST_WINDOW_TIMEOUT", "90"))


#: What a build without torch / OpenCV cannot do, in the words the app and the self-test use.
#: The accuracy figures are BENCHMARKS.md's (adapted vs pretrained features, 5-way 5-shot).
NO_TORCH = ("this FewLens build has no torch, so it cannot adapt the backbone to your labels: predictions "
            "stay on the pretrained features, which scored 2 to 22 points lower at 5 labels per class on "
            "our photo sets; it cannot export models either (the standard bundle and the pip install can)")
NO_OPENCV = "this FewLens build has no OpenCV, so it has no camera"


def missing_capabilities() -> list[str]:
    """One sentence per thing this install cannot do for want of a library (empty: nothing missing)."""
    out = []
    if not _has("torch"):
        out.append(NO_TORCH)
    if not _has("cv2"):
        out.append(NO_OPENCV)
    return out


class Skip(Exception):
    """This build lacks what the check needs (said in one line)."""


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


class _State:
    def __init__(self, tmp: Path, parser):
        self.tmp = tmp
        self.parser = parser
        self.project: Path | None = None
        self.pool: list[Path] = []
        self.truth: list[str] = []
        self.rec = None  # the recognizer the later checks use (adapted when it could be)
        self.classes: list[str] = []


def _accuracy(rec, st: _State) -> tuple[int, float]:
    t0 = time.perf_counter()
    pred = rec.predict_images(st.pool)
    ms = (time.perf_counter() - t0) * 1000
    right = sum(pred.label(i) == t for i, t in enumerate(st.truth))
    if right * len(st.classes) < 2 * len(st.truth):  # under twice chance: the model is broken
        raise FewLensError(f"only {right}/{len(st.truth)} sample photos right (chance is "
                           f"{len(st.truth) // len(st.classes)})")
    return right, ms


def check_sample(st: _State) -> str:
    from .images import file_hash, find_images
    from .paths import assets_dir
    from .project import Project

    images = assets_dir() / "sample" / "images"
    dirs = sorted(d for d in images.iterdir() if d.is_dir() and not d.name.startswith(".")) if images.is_dir() else []
    if len(dirs) < 2:
        raise FewLensError(f"{images}: the bundled sample photos are missing")
    if _fast():
        dirs = dirs[:FAST_CLASSES]
    st.project = st.tmp / "self-test.fewlens"
    with Project.create(st.project, overwrite=True) as project:
        for d in dirs:
            files = find_images(d)[:FAST_PER_CLASS] if _fast() else find_images(d)
            ids = project.add_images([(f, file_hash(f)) for f in files])
            project.set_labels(ids[:LABELED_PER_CLASS], project.add_class(d.name))
            st.pool += files[LABELED_PER_CLASS:]
            st.truth += [d.name] * len(files[LABELED_PER_CLASS:])
    st.classes = [d.name for d in dirs]
    return f"{len(st.pool) + LABELED_PER_CLASS * len(dirs)} images, {len(dirs)} classes, {images}"


def check_predict(st: _State) -> str:
    from .recognizer_build import build_recognizer

    t0 = time.perf_counter()
    st.rec = build_recognizer(st.project, adapt="off")
    fit_s = time.perf_counter() - t0
    right, ms = _accuracy(st.rec, st)
    return (f"{len(st.pool)} images, {len(st.classes)} classes, {right}/{len(st.pool)} right, "
            f"{ms:.0f} ms ({st.rec.provenance.get('backbone', {}).get('id', '?')}, embedded in {fit_s:.1f} s)")


def check_adapt(st: _State) -> str:
    if not _has("torch"):
        raise Skip(NO_TORCH)
    from .adaptation import AdaptationSettings
    from .recognizer_build import build_recognizer

    recipe = ADAPT_FAST if _fast() else ADAPT_QUICK
    t0 = time.perf_counter()
    rec = build_recognizer(st.project, adapt="on", adapt_settings=AdaptationSettings(**recipe))
    s = time.perf_counter() - t0
    if rec.adapted is None:
        raise FewLensError("the recognizer was built but not adapted")
    right, _ = _accuracy(rec, st)
    st.rec = rec
    return (f"{right}/{len(st.pool)} right after {recipe['steps']} steps on {len(st.classes)} x "
            f"{LABELED_PER_CLASS} labels, {s:.1f} s (a cheap recipe: the app's trains longer)")


def check_export(st: _State) -> str:
    if st.rec is None:
        raise Skip("no model (predict failed)")
    if not (_has("torch") and _has("onnx")):
        raise Skip("this build has no torch: it cannot export models (it runs exported ones)")
    from .recognizer import Recognizer

    t0 = time.perf_counter()
    result = st.rec.export(st.tmp / "export" / "self-test.onnx")
    loaded = Recognizer.load(result.model)
    s = time.perf_counter() - t0
    a, b = st.rec.predict_images(st.pool), loaded.predict_images(st.pool)
    same = int(np.sum(a.top == b.top))
    if same < 0.95 * len(st.pool) or loaded.class_names != st.rec.class_names:
        raise FewLensError(f"{result.model}: the loaded model agrees on only {same}/{len(st.pool)} photos")
    kind = "adapted" if st.rec.adapted is not None else "pretrained"
    return (f"{result.model.name} ({kind}, {result.size_bytes / 1e6:.1f} MB) loaded back, same top-1 on "
            f"{same}/{len(st.pool)}, {s:.1f} s")


def _write_video(path: Path, photos: list[Path], repeat: int = 3) -> int:
    import cv2
    from PIL import Image

    out = cv2.VideoWriter(os.fspath(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (320, 240))
    if not out.isOpened():
        raise FewLensError(f"{path}: OpenCV cannot write an MJPG video here")
    n = 0
    for p in photos:
        with Image.open(p) as im:
            frame = np.asarray(im.convert("RGB").resize((320, 240)))[:, :, ::-1]  # OpenCV wants BGR
        for _ in range(repeat):
            out.write(np.ascontiguousarray(frame))
            n += 1
    out.release()
    return n


def check_camera(st: _State) -> str:
    if st.rec is None:
        raise Skip("no model (predict failed)")
    if not _has("cv2"):
        raise Skip(NO_OPENCV)
    from PIL import Image

    from .camera import CameraLoop, CameraSource

    video = st.tmp / "clip.avi"
    written = _write_video(video, st.pool[::max(1, len(st.pool) // 6)][:6])
    rec = st.rec

    def predict(frames):
        return rec.predict_images([Image.fromarray(f) for f in frames]).probs, rec.class_names

    loop = CameraLoop(CameraSource.parse(os.fspath(video)), predict, pace=False).start()
    ok = loop.wait_for(lambda: loop.state in ("ended", "error", "stopped"), timeout=60)
    loop.stop()
    stats = loop.stats()
    if not ok:
        raise FewLensError(f"{video}: the camera loop did not reach the end of the video in 60 s")
    if loop.predict_error:
        raise FewLensError(f"{video}: recognition failed: {loop.predict_error}")
    if stats.frames_read != written or stats.frames_recognized == 0:
        raise FewLensError(f"{video}: {stats.frames_read}/{written} frames read, {stats.frames_recognized} "
                           f"recognized ({loop.error or loop.state})")
    return (f"{stats.frames_read} frames read, {stats.frames_recognized} recognized, "
            f"median {stats.latency_median_ms:.0f} ms")


def _gui_command(parser) -> bool:
    sub = next((a for a in parser._actions if a.dest == "command"), None)
    return sub is not None and "gui" in sub.choices


def app_command(*args: str) -> list[str]:
    """This install's ``fewlens`` with ``args``: the bundle's executable, else this Python."""
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "core.cli", *args]


def wait_for_window(child: subprocess.Popen, project: Path, timeout: float) -> float | None:
    """Seconds until ``child`` (an app) holds the project's lock, i.e. its window opened the
    project; None if it exited or the time ran out.  Linux only (reads /proc/locks)."""
    from .project_lock import holder_pid

    st = os.stat(project)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if child.poll() is not None:
            return None
        pid = holder_pid((st.st_dev, st.st_ino))
        if pid is not None and pid != os.getpid():
            return time.perf_counter() - t0
        time.sleep(0.05)
    return None


def window_env(tmp: Path) -> dict:
    """Headless app with its own config/data folders (no recent-projects entry for the user)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    for var, sub in (("FEWLENS_CONFIG_DIR", "config"), ("FEWLENS_DATA_DIR", "data")):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
        env[var] = os.fspath(tmp / sub)
    return env


def check_window(st: _State) -> str:
    if not _gui_command(st.parser):
        raise Skip("no desktop app in this install (no gui command)")
    if not Path("/proc/locks").exists():
        raise Skip("the window check reads /proc/locks (Linux only)")
    log = st.tmp / "window.log"
    with open(log, "wb") as err:
        child = subprocess.Popen(app_command("gui", os.fspath(st.project)), env=window_env(st.tmp),
                                 stdout=subprocess.DEVNULL, stderr=err)
        try:
            t = wait_for_window(child, st.project, WINDOW_TIMEOUT_S)
            if t is not None:
                time.sleep(2.0)  # a crash right after opening would show now
            alive = child.poll() is None
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    said = " ".join(log.read_text(errors="replace").split())[-300:]
    if t is None or not alive:
        why = f"exited with {child.returncode}" if child.returncode is not None and not alive else \
            f"did not open it within {WINDOW_TIMEOUT_S:.0f} s"
        raise FewLensError(f"the app {why}{': ' + said if said else ''}")
    if "error" in said.lower():
        raise FewLensError(f"the app reported: {said}")
    return f"the app opened the project in {t:.1f} s (offscreen) and kept running"


CHECKS = {"sample": check_sample, "predict": check_predict, "adapt": check_adapt, "export": check_export,
          "camera": check_camera, "window": check_window}


def run(parser, out=None) -> int:
    """Run every check, print one line each; 0 when none failed."""
    from .crash import report_crash

    out = out or sys.stdout
    failed = []
    with tempfile.TemporaryDirectory(prefix="fewlens-self-test-") as tmp:
        st = _State(Path(tmp), parser)
        for name, check in CHECKS.items():
            if name != "sample" and st.project is None:
                line, status = "no sample project", "skip"
            else:
                try:
                    line, status = check(st), "ok"
                except Skip as e:
                    line, status = str(e), "skip"
                except FewLensError as e:
                    line, status = " ".join(str(e).split()), "FAIL"
                except Exception as e:  # a bug: one line naming the crash report, never the traceback
                    line, status = report_crash(e, f"self-test {name}"), "FAIL"
            if status == "FAIL":
                failed.append(name)
            print(f"{status:<5} {name:<8} {line}", file=out, flush=True)
    if failed:
        print(f"self-test: {len(failed)} of {len(CHECKS)} checks failed: {', '.join(failed)}", file=out)
        return 1
    print(f"self-test: passed ({sys.platform}, {'bundle' if getattr(sys, 'frozen', False) else 'python'} "
          f"{sys.version.split()[0]})", file=out)
    return 0
