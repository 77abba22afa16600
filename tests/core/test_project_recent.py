"""Recent projects: most recent first, at most ten, missing files dropped, never an error."""

from __future__ import annotations

from core import recent
from core.paths import config_dir


def _touch(tmp_path, name):
    f = tmp_path / name
    f.write_bytes(b"x")
    return f


def test_most_recent_first_without_duplicates(tmp_path):
    a, b = _touch(tmp_path, "a.fewlens"), _touch(tmp_path, "b.fewlens")
    recent.add_recent(a)
    recent.add_recent(b)
    recent.add_recent(a)
    assert recent.recent_projects() == [a, b]
    recent.remove_recent(b)
    assert recent.recent_projects() == [a]
    recent.clear_recent()
    assert recent.recent_projects() == []


def test_capped_at_ten_and_missing_dropped(tmp_path):
    files = [_touch(tmp_path, f"p{i}.fewlens") for i in range(13)]
    for f in files:
        recent.add_recent(f)
    got = recent.recent_projects()
    assert got == files[::-1][: recent.MAX_RECENT]
    files[12].unlink()
    assert recent.recent_projects()[0] == files[11]
    assert files[12] not in recent.recent_projects()


def test_corrupt_list_is_treated_as_empty(tmp_path):
    (config_dir() / "recent.json").write_text("{ not json")
    assert recent.recent_projects() == []
    f = _touch(tmp_path, "a.fewlens")
    recent.add_recent(f)
    assert recent.recent_projects() == [f]
