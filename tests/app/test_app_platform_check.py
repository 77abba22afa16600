"""`make run` names the apt packages for the xcb libraries Qt's plugin cannot find (issue 10)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app import platform_check

LDD = """\tlinux-vdso.so.1 (0x00007ffd)
\tlibxcb-cursor.so.0 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxcb.so.1 => /lib/x86_64-linux-gnu/libxcb.so.1 (0x00007f)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_missing_xcb_libraries_become_one_apt_line(monkeypatch):
    plugin = platform_check.xcb_plugin()
    assert plugin is not None and plugin.name == "libqxcb.so"
    monkeypatch.setattr(platform_check.shutil, "which", lambda name: "/usr/bin/ldd")
    monkeypatch.setattr(platform_check.subprocess, "run",
                        lambda *a, **k: subprocess.CompletedProcess(a, 0, stdout=LDD, stderr=""))
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    msg = platform_check.check()
    assert msg.splitlines()[-1] == "On Debian/Ubuntu: sudo apt install libxcb-cursor0 libxcb-icccm4"


def test_offscreen_needs_nothing(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    assert platform_check.check() is None
