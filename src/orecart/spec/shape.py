"""Whether a YAML file is a pipeline file at all, told from its top level alone.

A folder served by ``orecart serve DIR`` may hold other YAML beside its pipelines
(docker-compose files, CI configs). The rule: a pipeline file has ``members:`` or
``pipeline:`` at its top level (the native format; ``members`` is required there), or has
the Motherlode/copili shape (one key holding a list of items with ``image_repo``).
Anything else is not a pipeline file. A file that cannot be read as YAML at all might be
a broken pipeline: it counts as one, so its error is reported rather than ignored. Only
the document is read: nothing is expanded or validated.
"""

from __future__ import annotations

from pathlib import Path

from orecart.errors import Location, SpecError
from orecart.spec.loader import read_document
from orecart.spec.motherlode import is_motherlode

#: top-level keys only a native pipeline file has
NATIVE_MARKS = ("members", "pipeline")


def is_pipeline_file(path: Path) -> bool:
    """Whether the file at ``path`` is (or is trying to be) a pipeline file."""
    try:
        root = read_document(path)
    except SpecError:
        return True
    if is_motherlode(root):
        return True
    return root.is_map and any(mark in root.value for mark in NATIVE_MARKS)


def name_location(path: Path) -> Location:
    """Where the file at ``path`` writes its pipeline's name (the file itself when the name
    is its stem), for a message about that name."""
    try:
        root = read_document(path)
    except SpecError:
        return Location(str(path))
    if is_motherlode(root):
        return root.key_node(next(iter(root.value))).location
    if root.is_map and "pipeline" in root.value:
        return root.key_node("pipeline").location
    return Location(str(path))
