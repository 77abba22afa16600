"""Entry point: ``fewlens gui [PROJECT]`` / ``python -m app``.

Opens PROJECT, else the most recent project, else (first run) the bundled
sample project, so a new user lands on live predictions.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMessageBox

from core.errors import FewLensError


def startup_project(explicit: str | None) -> Path:
    from .recent import recent_projects
    from .sample_project import ensure_sample_project

    if explicit:
        return Path(explicit)
    recent = recent_projects()
    return recent[0] if recent else ensure_sample_project()


def run(project: str | None = None, argv: list[str] | None = None) -> int:
    # Workers (decoding, hashing, SQLite) run Python too; a shorter GIL switch interval keeps the
    # UI thread's many small Python calls (painting, model queries) from queueing behind them.
    sys.setswitchinterval(0.001)
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("FewLens")
    app.setOrganizationName("FewLens")

    from .main_window import MainWindow
    from .widgets.theme import apply_theme

    apply_theme(app)
    from .reliability import install_excepthook

    install_excepthook()  # a bug in a slot: crash report + message, the window stays up
    window = MainWindow()
    window.show()
    try:
        path = startup_project(project)
    except FewLensError as e:
        QMessageBox.warning(window, "FewLens", str(e))
        path = None
    from .widgets.welcome import welcome_due

    first_run = welcome_due() and not project
    if path is not None:
        job = window.files.open_project(path, wait=True)
        if job.error and project:
            # The named project could not be opened (the window said why): fall back to the sample.
            from .sample_project import ensure_sample_project

            window.files.open_project(ensure_sample_project())
    if first_run:
        window.files.show_welcome()  # once: what to do, and what the first wait is for
    return app.exec()


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else None))
