"""Before the window opens on Linux: are the system libraries Qt's X11 plugin needs installed?

PySide6's wheel brings Qt but not the xcb libraries of the desktop; when one is missing Qt prints
"could not load the Qt platform plugin xcb" and aborts.  This reads the plugin's dependencies with
``ldd`` and prints the one ``apt install`` line that fixes it (issue 10: ``libxcb-cursor0`` alone was
not enough on a desktop Linux).  ``python -m app.platform_check`` exits 1 when something is missing.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

#: shared library -> Debian/Ubuntu package
DEBIAN_PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb.so.1": "libxcb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}


def xcb_plugin() -> Path | None:
    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        for sub in ("Qt/plugins/platforms", "plugins/platforms"):
            p = Path(root) / sub / "libqxcb.so"
            if p.exists():
                return p
    return None


def missing_libraries(plugin: Path) -> list[str]:
    """Shared libraries the plugin (and Qt's xcb integration it loads) cannot find."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    targets = [plugin] + sorted((plugin.parents[2] / "lib").glob("libQt6XcbQpa.so*"))[:1]
    missing: list[str] = []
    for t in targets:
        try:
            out = subprocess.run([ldd, str(t)], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():
            if "not found" in line:
                name = line.split("=>")[0].strip()
                if name not in missing:
                    missing.append(name)
    return missing


def advice(missing: list[str]) -> str:
    pkgs = sorted({DEBIAN_PACKAGES.get(m, m) for m in missing})
    return (f"Qt's window system plugin needs system libraries that are missing: {', '.join(missing)}.\n"
            f"On Debian/Ubuntu: sudo apt install {' '.join(pkgs)}")


def check() -> str | None:
    """The advice to print, or None when nothing is missing (or no X11 display is used)."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM", "") not in ("", "xcb"):
        return None
    plugin = xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    return advice(missing) if missing else None


def main() -> int:
    msg = check()
    if msg:
        print(msg, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
