"""packaging/linux/install.sh: the per-user menu entry, icon and *.fewlens association of an unpacked bundle."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

LINUX = Path(__file__).resolve().parents[2] / "packaging" / "linux"
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux desktop integration")


def _unpacked(tmp_path: Path) -> Path:
    """What make_archive.py packs: the bundle's executable with the desktop files beside it."""
    root = tmp_path / "fewlens-0.1.0-linux-x86_64-cpu"
    root.mkdir()
    for f in ("install.sh", "fewlens.desktop", "fewlens-mime.xml", "fewlens.svg", "fewlens.png"):
        shutil.copy2(LINUX / f, root / f)
    exe = root / "fewlens"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    return root


def _run(root: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_DATA_HOME": str(home / "share"),
           "XDG_CONFIG_HOME": str(home / "config")}
    return subprocess.run(["sh", str(root / "install.sh"), *args], env=env, capture_output=True, text=True)


def test_install_and_uninstall_for_one_user(tmp_path):
    root, home = _unpacked(tmp_path), tmp_path / "home"
    r = _run(root, home)
    assert r.returncode == 0, r.stderr
    share = home / "share"
    desktop = (share / "applications" / "fewlens.desktop").read_text()
    assert f"Exec={root / 'fewlens'} %f" in desktop.splitlines()
    assert "MimeType=application/x-fewlens-project;" in desktop.splitlines()
    mime = (share / "mime" / "packages" / "fewlens.xml").read_text()
    assert 'type="application/x-fewlens-project"' in mime and 'pattern="*.fewlens"' in mime
    assert (share / "icons" / "hicolor" / "scalable" / "apps" / "fewlens.svg").is_file()
    assert (share / "icons" / "hicolor" / "256x256" / "apps" / "fewlens.png").is_file()
    if shutil.which("xdg-mime") is None:  # else xdg-mime wrote it, wherever its version keeps it
        assert "application/x-fewlens-project=fewlens.desktop" in (home / "config" / "mimeapps.list").read_text()
    assert _run(root, home).returncode == 0  # again: no duplicate association line
    if shutil.which("xdg-mime") is None:
        assert (home / "config" / "mimeapps.list").read_text().count("application/x-fewlens-project=") == 1

    r = _run(root, home, "--uninstall")
    assert r.returncode == 0, r.stderr
    assert not (share / "applications" / "fewlens.desktop").exists()
    assert not (share / "mime" / "packages" / "fewlens.xml").exists()


def test_without_the_executable_it_says_so(tmp_path):
    root = _unpacked(tmp_path)
    os.unlink(root / "fewlens")
    r = _run(root, tmp_path / "home")
    assert r.returncode == 1
    assert r.stderr.strip() == f"install.sh: no fewlens executable found next to {root}"
