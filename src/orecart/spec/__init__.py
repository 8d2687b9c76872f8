"""Pipeline files -> the frozen ``orecart.model.Pipeline``.

Reads YAML or JSON (native format or Motherlode/copili), expands ``${VAR}`` from the
environment, ``.env`` and parameters, applies a profile, and validates everything once,
here, with errors that name file, line, column and field.

    load_pipeline   -> Pipeline (raises SpecError / CycleError)
    pipeline_name   -> the pipeline's name alone, nothing expanded (for reading history)
    heading.read_heading -> name and settings without composing the members (history)
    pipeline_schema -> JSON Schema of the native format, from the same field table
    parse_duration  -> seconds in "90s", "1h30m", "500ms", ...
"""

from __future__ import annotations

from orecart.spec.durations import parse_duration
from orecart.spec.fields import pipeline_schema
from orecart.spec.load import load_pipeline, pipeline_name

__all__ = ["load_pipeline", "parse_duration", "pipeline_name", "pipeline_schema"]
