"""Small text helpers for what the app says ("1 class", "2 classes")."""

from __future__ import annotations

_IRREGULAR = {"class": "classes"}


def plural(n: int, word: str) -> str:
    """``plural(1, "image") == "1 image"``, ``plural(1200, "class") == "1,200 classes"``."""
    return f"{n:,} {word if n == 1 else _IRREGULAR.get(word, word + 's')}"


def tidy_class_name(folder_name: str) -> str:
    """A folder name as a class name a person would write: ``Common_Chickweed`` -> ``Common Chickweed``,
    ``black-grass`` -> ``black grass`` (case kept; nothing else changed)."""
    tidy = " ".join(folder_name.replace("_", " ").replace("-", " ").split())
    return tidy or folder_name
