"""How good is the model on this project, and what to label next (issue 15).

- crossval: held-out predictions of the labeled images (leave-one-out / stratified folds)
- metrics: per-class table, confusion matrix, reliability bins, possible mislabels
- choice: the per-project method choice (``auto``), ProtoNet unless the unlabeled pool helps
- suggestions: "Label next" batches (uncertain, diverse, reaching new classes)
- embedding_map: 2-D PCA map of every image
- report: all of it for one project's arrays (the CLI and the GUI use this)
"""

from .choice import ModelChoice, choose_model
from .crossval import CrossValResult, cross_validate
from .embedding_map import pca_2d
from .metrics import class_stats, confusion_matrix, confusion_rows, possible_mislabels, reliability
from .report import ProjectEvaluation, evaluate_labels
from .suggestions import Suggestion, suggest_labels

__all__ = ["CrossValResult", "ModelChoice", "ProjectEvaluation", "Suggestion", "choose_model", "class_stats",
           "confusion_matrix", "confusion_rows", "cross_validate", "evaluate_labels", "pca_2d",
           "possible_mislabels", "reliability", "suggest_labels"]
