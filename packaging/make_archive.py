"""Pack a built bundle for download: ``dist/fewlens-<version>-<platform>-<variant>.tar.gz``.

    python packaging/make_archive.py dist/fewlens-cpu

The archive holds one folder, ``fewlens-<version>-<platform>-<variant>/``: the bundle (the
``fewlens`` executable and its libraries) plus, on Linux, the desktop-integration files of
``packaging/linux/`` (``install.sh`` beside the executable).  Prints the archive's path and size.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
LINUX_FILES = ("install.sh", "fewlens.desktop", "fewlens-mime.xml", "fewlens.svg", "fewlens.png")


def platform_tag() -> str:
    """linux-x86_64, macos-arm64, windows-amd64: what a user matches against their machine."""
    system = {"darwin": "macos", "win32": "windows"}.get(sys.platform, sys.platform)
    return f"{system}-{platform.machine().lower()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("bundle", type=Path, help="the built one-folder bundle, e.g. dist/fewlens-cpu")
    ap.add_argument("--out", type=Path, default=None, help="folder for the archive (default: beside the bundle)")
    args = ap.parse_args()
    from core import __version__

    bundle = args.bundle.resolve()
    if not (bundle / "fewlens").exists() and not (bundle / "fewlens.exe").exists():
        print(f"make_archive: {bundle}: no fewlens executable (build the bundle first)", file=sys.stderr)
        return 1
    variant = bundle.name.split("-", 1)[1] if "-" in bundle.name else "bundle"
    name = f"fewlens-{__version__}-{platform_tag()}-{variant}"
    out = (args.out or bundle.parent) / f"{name}.tar.gz"
    tmp = out.with_name(out.name + ".part")
    t0 = time.perf_counter()
    # FEWLENS_ARCHIVE_LEVEL: gzip level (default 6; CI uses 1, faster for a somewhat larger file)
    level = int(os.environ.get("FEWLENS_ARCHIVE_LEVEL", "6"))
    with tarfile.open(tmp, "w:gz", compresslevel=level) as tar:
        tar.add(bundle, arcname=name)
        if sys.platform.startswith("linux"):
            for f in LINUX_FILES:
                tar.add(ROOT / "packaging" / "linux" / f, arcname=f"{name}/{f}")
    tmp.replace(out)
    print(f"{out} ({out.stat().st_size / 1e6:.0f} MB, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
