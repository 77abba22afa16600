"""Shared fixtures.  Tests never touch the user's real cache or config."""

from __future__ import annotations

import faulthandler
import os
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"

# Exported ONNX models are reused across runs (Makefile sets this); fall back to a repo-local dir.
os.environ.setdefault("FEWLENS_CACHE_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "fewlens"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_configure(config):
    # A segfault names the crashing thread and, when it is the main one, the test (pyproject.toml
    # says why).  A copy of stderr taken now, as pytest's own faulthandler plugin does: the test's
    # stderr is captured and would swallow the dump.
    fd = os.dup(sys.stderr.fileno())
    config._fewlens_fault_fd = fd
    faulthandler.enable(file=fd, all_threads=False)


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FEWLENS_CONFIG_DIR", str(tmp_path_factory.mktemp("config")))
    monkeypatch.setenv("FEWLENS_DATA_DIR", str(tmp_path_factory.mktemp("data")))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA
