"""core.camera: the capture-and-recognize loop on generated videos (no camera, no Qt)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from core.camera import CameraError, CameraLoop, CameraSource, Roi, open_capture  # noqa: E402

MINI = Path(__file__).parents[1] / "data" / "clothing_mini"
RED, BLUE = (220, 30, 30), (30, 30, 220)


def write_video(path: Path, colors: list[tuple[int, int, int]], fps: float = 30.0, seconds_each: float = 1.0,
                size: tuple[int, int] = (160, 120)) -> Path:
    """A video of solid RGB colors, ``seconds_each`` per color (with a white square so it is not flat)."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size)
    assert w.isOpened()
    for c in colors:
        for _ in range(int(fps * seconds_each)):
            frame = np.zeros((size[1], size[0], 3), np.uint8)
            frame[:] = c[::-1]  # BGR
            frame[10:30, 10:30] = 255
            w.write(frame)
    w.release()
    return path


def color_predictor(seen: list | None = None, delay: float = 0.0):
    """A stand-in model: 'red' or 'blue' from the mean color of the crop it is given."""

    def predict(frames):
        if seen is not None:
            seen.extend(f.shape for f in frames)
        if delay:
            time.sleep(delay)
        m = np.stack([f.reshape(-1, 3).mean(0) for f in frames])
        red = (m[:, 0] > m[:, 2]).astype(np.float32)
        return np.stack([red, 1 - red], 1), ["red", "blue"]

    return predict


def run_to_end(loop: CameraLoop, timeout: float = 30.0) -> CameraLoop:
    loop.start()
    assert loop.wait_for(lambda: not loop.reading, timeout)
    loop.stop()
    return loop


def test_frames_are_recognized_from_the_centered_square(tmp_path):
    video = write_video(tmp_path / "rb.avi", [RED, BLUE])
    seen: list = []
    results = []
    loop = CameraLoop(CameraSource.parse(str(video)), color_predictor(seen), pace=False)
    loop.start()
    def collect():
        r = loop.latest_result()
        if r is not None and (not results or results[-1].seq != r.seq):
            results.append(r)

    while loop.reading or loop.latest_result() is None or loop.latest_result().seq < loop.frames_read:
        collect()
        time.sleep(0.002)
        if not loop.alive:
            break
    loop.stop()
    collect()  # a busy machine can starve this thread until the loop has ended: its last result still counts
    assert loop.state == "ended" and "end of the video" in loop.error and "rb.avi" in loop.error
    assert loop.frames_read == 60
    assert seen and all(s == (120, 120, 3) for s in seen)  # the default ROI: a centered square
    assert results
    for r in results:  # frames 1-30 are red, 31-60 blue
        assert r.class_names == ["red", "blue"]
        assert r.top(1)[0][0] == ("red" if r.seq <= 30 else "blue")
    assert not loop.alive


def test_a_slow_model_drops_stale_frames_instead_of_queueing_them(tmp_path):
    video = write_video(tmp_path / "long.avi", [RED, BLUE, RED], fps=60)
    loop = run_to_end(CameraLoop(CameraSource.parse(str(video)), color_predictor(delay=0.05)))
    s = loop.stats()
    assert s.frames_read == 180
    assert 0 < s.frames_recognized < s.frames_read / 2  # most frames were skipped...
    # ...so no frame waited behind a backlog: a queue would have reached seconds by the end
    assert s.latency_median_ms < 500


def test_roi_mirror_and_freeze(tmp_path):
    video = write_video(tmp_path / "rb.avi", [RED, BLUE], fps=30)
    seen: list = []
    # the left third of the frame only, mirrored: the white square (top-left) moves to the right
    loop = CameraLoop(CameraSource.parse(str(video)), color_predictor(seen), roi=Roi(0.0, 0.0, 0.25, 0.25),
                      mirror=True)
    loop.start()
    assert loop.wait_for(lambda: loop.latest_frame() is not None, 10)
    frame = loop.latest_frame().image
    assert frame[20, 160 - 20].min() > 200 and frame[20, 20].max() < 240  # mirrored
    loop.frozen = True
    time.sleep(0.2)
    held = loop.latest_frame().seq
    time.sleep(0.3)
    assert loop.latest_frame().seq == held  # frozen: the view holds still
    loop.frozen = False
    assert loop.wait_for(lambda: loop.latest_frame().seq > held, 10)
    loop.stop()
    assert seen and all(s == (30, 40, 3) for s in seen)
    assert not loop.alive


def test_missing_file_and_absent_camera_say_so(tmp_path):
    loop = run_to_end(CameraLoop(CameraSource.parse(str(tmp_path / "nope.mp4")), color_predictor()))
    assert loop.state == "error" and loop.error == f"{tmp_path / 'nope.mp4'}: video file not found"
    not_video = tmp_path / "notes.mp4"
    not_video.write_text("not a video")
    with pytest.raises(CameraError, match="notes.mp4: not a video OpenCV can read"):
        open_capture(CameraSource.parse(str(not_video)))
    loop = run_to_end(CameraLoop(CameraSource.parse("97"), color_predictor()))
    assert loop.state == "error" and loop.error.startswith("camera 97: ")


class FlakyCapture:
    """A camera that delivers ``frames`` frames and then fails (unplugged)."""

    def __init__(self, frames: int):
        self.left = frames
        self.released = False

    def get(self, _prop):
        return 0.0

    def read(self):
        if self.left <= 0:
            return False, None
        self.left -= 1
        time.sleep(0.01)
        return True, np.full((48, 64, 3), 200, np.uint8)

    def release(self):
        self.released = True


def test_a_camera_unplugged_mid_stream_reports_it_and_releases_the_device():
    cap = FlakyCapture(20)
    loop = run_to_end(CameraLoop(CameraSource.parse("0"), color_predictor(), opener=lambda s: cap))
    assert loop.frames_read == 20
    assert loop.state == "error" and "camera 0: stopped sending frames" in loop.error
    assert cap.released and not loop.alive


def test_a_failing_model_keeps_the_view_alive(tmp_path):
    video = write_video(tmp_path / "rb.avi", [RED])

    def broken(frames):
        raise ValueError("boom")

    loop = CameraLoop(CameraSource.parse(str(video)), broken, pace=False)
    loop.start()
    assert loop.wait_for(lambda: loop.predict_error is not None, 10)
    assert "boom" in loop.predict_error
    loop.set_predictor(color_predictor())
    assert loop.wait_for(lambda: loop.latest_result() is not None, 10)
    loop.stop()
    assert not loop.alive


def test_capturing_hands_over_crops_at_the_rate_from_the_reader_thread(tmp_path):
    video = write_video(tmp_path / "rb.avi", [RED, BLUE, RED], fps=30)
    crops = []
    loop = CameraLoop(CameraSource.parse(str(video)), None).start()
    assert loop.wait_for(lambda: loop.latest_frame() is not None, 10)
    assert loop.start_capture(5, lambda c: crops.append((c, threading.current_thread().name)))
    t0 = time.perf_counter()
    time.sleep(1.1)
    n = loop.stop_capture()
    held = time.perf_counter() - t0
    time.sleep(0.3)
    loop.stop()
    assert n == len(crops) and abs(n - (int(held * 5) + 1)) <= 1  # one now, then one every 0.2 s
    assert all(c.shape == (120, 120, 3) for c, _ in crops)  # the classified square
    assert {name for _, name in crops[1:]} == {"fewlens-camera-read"}


def test_a_new_model_re_recognizes_the_last_frame_after_the_video_ended(tmp_path):
    video = write_video(tmp_path / "r.avi", [RED], seconds_each=0.3)
    loop = run_to_end_keep(CameraLoop(CameraSource.parse(str(video)), color_predictor(), pace=False))
    first = loop.latest_result()

    def flipped(frames):
        probs, names = color_predictor()(frames)
        return probs, names[::-1]

    loop.set_predictor(flipped)
    assert loop.wait_for(lambda: loop.latest_result().class_names == ["blue", "red"], 10)
    assert loop.latest_result().seq == first.seq
    loop.stop()
    assert not loop.alive


def run_to_end_keep(loop: CameraLoop) -> CameraLoop:
    loop.start()
    assert loop.wait_for(lambda: not loop.reading and loop.latest_result() is not None
                         and loop.latest_result().seq == loop.frames_read, 30)
    return loop


def test_smoothing_averages_the_last_frames(tmp_path):
    video = write_video(tmp_path / "rb.avi", [RED, BLUE], fps=30)
    # paced at 30 fps: a blended result stays up for several frames, long enough to be seen here
    loop = CameraLoop(CameraSource.parse(str(video)), color_predictor(), smoothing=5)
    probs = []
    loop.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = loop.latest_result()
        if r is not None:
            probs.append(float(r.probs[0]))
            if not loop.reading and r.seq == loop.frames_read:
                break
        time.sleep(0.001)
    loop.stop()
    assert any(0.0 < p < 1.0 for p in probs)  # the red -> blue change is blended over frames


def test_camera_bench_cli_reports_throughput_and_latency(tmp_path, capsys):
    from PIL import Image

    from core.cli import main

    # a 640x480 video showing one labeled photo per second
    imgs = [sorted((MINI / c).glob("*.jpg"))[0] for c in ("Hat", "Pants", "Shoes")]
    w = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
    for p in imgs:
        frame = np.zeros((480, 640, 3), np.uint8)
        frame[:, 80:560] = np.asarray(Image.open(p).convert("RGB").resize((480, 480)))[:, :, ::-1]
        for _ in range(30):
            w.write(frame)
    w.release()
    code = main(["camera-bench", "--source", str(tmp_path / "clip.avi"), "--support", str(MINI), "--seconds", "20",
                 "--adapt", "off", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == ["Hat", "Pants", "Shoes"] and doc["adapted"] is False
    assert doc["frames_read"] == 90 and 0 < doc["frames_recognized"] <= 90
    assert doc["frame_size"] == [640, 480]
    assert doc["fps"] > 0 and 0 < doc["latency_median_ms"] <= doc["latency_p95_ms"]
    assert doc["ended"].endswith("clip.avi: end of the video")
    assert not [t for t in threading.enumerate() if t.name.startswith("fewlens-camera")]


def test_camera_bench_cli_names_a_missing_source(tmp_path, capsys):
    from core.cli import main

    code = main(["camera-bench", "--source", str(tmp_path / "gone.mp4"), "--support", str(MINI)])
    assert code == 1
    assert capsys.readouterr().err.strip() == f"fewlens: error: {tmp_path / 'gone.mp4'}: video file not found"


def test_list_cameras_offers_every_device_that_opens_and_gives_a_frame(monkeypatch):
    """Every /dev/video* node is tried (a camera at a high index is not skipped); nodes that
    do not open or give no frame (metadata nodes, a busy camera) are left out."""
    import core.camera as camera

    class FakeCapture:
        def __init__(self, index):
            self.index = index

        def isOpened(self):  # noqa: N802
            return self.index in (0, 1, 12)

        def read(self):
            if self.index == 1:  # opens, but gives nothing (e.g. a metadata node)
                return False, None
            return True, np.zeros((720, 1280, 3), np.uint8)

        def release(self):
            pass

    monkeypatch.setattr(camera, "_video_devices", lambda: [0, 1, 2, 12])
    monkeypatch.setattr(cv2, "VideoCapture", FakeCapture)
    found = camera.list_cameras()
    assert [(c.index, c.width, c.height) for c in found] == [(0, 1280, 720), (12, 1280, 720)]
    assert all(c.name for c in found)


def test_camera_bench_cli_uses_a_projects_labels(tmp_path, capsys):
    from core.cli import main

    video = write_video(tmp_path / "rb.avi", [RED, BLUE], fps=30)
    project = tmp_path / "p.fewlens"
    assert main(["project", "create", str(project), "--from", str(MINI), "--method", "protonet"]) == 0
    capsys.readouterr()
    assert main(["camera-bench", "--source", str(video), "--project", str(project), "--seconds", "10",
                 "--adapt", "off", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["classes"] == ["Hat", "Pants", "Shoes"] and doc["examples"] == 18
    assert doc["method"] == "protonet"  # the project's own method
    assert doc["frames_read"] == 60 and doc["frames_recognized"] > 0
    empty = tmp_path / "empty.fewlens"
    from core.project import Project

    Project.create(empty).close()
    assert main(["camera-bench", "--source", str(video), "--project", str(empty)]) == 1
    assert "no labeled images" in capsys.readouterr().err
