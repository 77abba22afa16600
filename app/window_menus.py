"""The main window's actions and menus (what each one triggers lives in app/controllers/)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QKeySequence

from core.adaptation import MIN_SHOTS

from .controllers import labels_actions
from .widgets.gallery import GalleryFilter


def action(w, text: str, slot, shortcut=None, tip: str = "") -> QAction:
    a = QAction(text, w)
    a.triggered.connect(lambda _=False: slot())
    if shortcut is not None:
        a.setShortcut(QKeySequence(shortcut))
    if tip:
        a.setStatusTip(tip)
        a.setToolTip(tip)
    return a


def build_actions(w) -> None:
    w.act_new = action(w, "&New project…", w.files.new_project, QKeySequence.StandardKey.New)
    w.act_open = action(w, "&Open project…", w.files.open_project_dialog, QKeySequence.StandardKey.Open)
    w.act_save_as = action(w, "Save &As…", w.files.save_as, QKeySequence.StandardKey.SaveAs,
                                    "Save a copy of this project and continue in the copy")
    w.act_export = action(w, "&Export model…", w.files.export_dialog, "Ctrl+E",
                                   "Save the fitted model as one ONNX file with a standalone runner (or TorchScript)")
    w.act_add_folder = action(w, "Add &folder…", w.imports.add_folder_dialog, "Ctrl+Shift+O",
                                       "Import every image in a folder (subfolders can become classes)")
    w.act_add_images = action(w, "Add &images…", w.imports.add_images_dialog, None)
    w.act_locate = action(w, "&Locate missing files…", w.imports.locate_missing, None,
                                   "Relink images whose files moved, by their content")
    w.act_quit = action(w, "&Quit", w.close, QKeySequence.StandardKey.Quit)
    # batch prediction and the labeled dataset out/in (issue 16): app/widgets/batch_dialog.py, app/controllers/labels_actions.py
    w.act_predict_folder = action(w, "&Predict folder…", w.imports.predict_folder_dialog, None,
                                           "Predict every image in folders into a CSV file, in the background")
    w.act_export_labels = action(w, "&Export labels…", lambda: labels_actions.export_labels_dialog(w), None,
                                          "Write the labeled images as one folder per class plus labels.csv")
    w.act_import_labels = action(w, "&Import labels…", lambda: labels_actions.import_labels_dialog(w), None,
                                          "Add the images of a labels.csv to this project, labeled")
    w.act_undo = w.undo_stack.createUndoAction(w, "&Undo")
    w.act_undo.setShortcut(QKeySequence.StandardKey.Undo)
    w.act_redo = w.undo_stack.createRedoAction(w, "&Redo")
    w.act_redo.setShortcuts([QKeySequence(QKeySequence.StandardKey.Redo), QKeySequence("Ctrl+Y")])
    w.act_accept = action(w, "&Accept predictions\tEnter", w.class_actions.accept_selection, None,
                                   "Turn the predictions of the selected images into labels")
    w.act_unlabel = action(w, "Remove &label\t0", w.class_actions.unlabel_selection, None)
    w.act_remove = action(w, "&Remove from project\tDel", w.class_actions.remove_selection, None,
                                   "Remove the selected images from the project (files stay on disk)")
    w.act_select_all = action(w, "Select &all", w.gallery.selectAll, QKeySequence.StandardKey.SelectAll)
    w.act_add_class = action(w, "Add &class", w.class_actions.add_class_interactive, "Ctrl+K")
    w.act_try = action(w, "&Try it…", w.show_try_it, "Ctrl+T",
                                "See predictions for images without adding them to the project")
    w.act_zoom_in = action(w, "&Larger thumbnails", lambda: w.zoom(+1), QKeySequence.StandardKey.ZoomIn)
    w.act_zoom_out = action(w, "&Smaller thumbnails", lambda: w.zoom(-1),
                                     QKeySequence.StandardKey.ZoomOut)
    w.act_adapt = QAction(f"Adapt the backbone to my labels ({MIN_SHOTS}+ per class)", w)
    w.act_adapt.setCheckable(True)
    w.act_adapt.setChecked(True)
    tip = (f"Once every class has {MIN_SHOTS} labeled images, fine-tune the backbone on them in the background "
           "and re-analyse the images with it (about 4 points more accurate on photos). "
           "MobileNetV2 and EfficientNet-Lite backbones only.")
    from core.self_test import NO_TORCH, missing_capabilities

    w.adapt_available = NO_TORCH not in missing_capabilities()
    if not w.adapt_available:  # a light bundle: say so where the setting is
        tip = NO_TORCH[0].upper() + NO_TORCH[1:] + "."
    w.act_adapt.setStatusTip(tip)
    w.act_adapt.setToolTip(tip)
    w.act_adapt.toggled.connect(w.adaptation._adapt_toggled)


def build_menus(w) -> None:
    mb = w.menuBar()
    f = mb.addMenu("&File")
    f.addAction(w.act_new)
    f.addAction(action(w, "New project from &model…", w.files.new_project_from_model,
                             tip="Start a project from a model exported by FewLens: its classes, method and threshold"))
    f.addAction(w.act_open)
    w.recent_menu = f.addMenu("Open &recent")
    w.recent_menu.aboutToShow.connect(w.files._fill_recent)
    f.addAction(w.act_save_as)
    f.addAction(w.act_export)
    f.addSeparator()
    f.addAction(w.act_add_folder)
    f.addAction(w.act_add_images)
    f.addAction(w.act_locate)
    f.addSeparator()
    f.addAction(w.act_predict_folder)
    f.addAction(w.act_export_labels)
    f.addAction(w.act_import_labels)
    f.addSeparator()
    f.addAction(w.act_quit)
    e = mb.addMenu("&Edit")
    e.addAction(w.act_undo)
    e.addAction(w.act_redo)
    e.addSeparator()
    e.addAction(w.act_accept)
    e.addAction(w.act_unlabel)
    e.addAction(w.act_remove)
    e.addSeparator()
    e.addAction(w.act_select_all)
    c = mb.addMenu("&Classes")
    c.addAction(w.act_add_class)
    # the backbone and method pickers live on the toolbar; their one on/off choice lives here
    w.model_menu = mb.addMenu("&Model")
    w.model_menu.addAction(w.act_adapt)
    v = mb.addMenu("&View")
    for kind, text in (("all", "All images"), ("unlabeled", "Unlabeled"), ("labeled", "Labeled"),
                       ("review", "Needs review"), ("unknown", "Unknown")):
        v.addAction(action(w, text, lambda k=kind: w.set_filter(GalleryFilter(k))))
    v.addSeparator()
    v.addAction(w.act_zoom_in)
    v.addAction(w.act_zoom_out)
    v.addSeparator()
    v.addAction(w.act_try)
    v.addAction(w.camera_panel.toggleViewAction())
    h = mb.addMenu("&Help")
    w.act_help = action(w, "How FewLens &works", lambda: w.show_help("How FewLens works"),
                                 QKeySequence.StandardKey.HelpContents)
    h.addAction(w.act_help)
    h.addAction(action(w, "&Keyboard shortcuts", lambda: w.show_help("Keyboard shortcuts")))
    h.addSeparator()
    h.addAction(action(w, "&About FewLens", lambda: w.show_help("About")))
