"""Shared by the Python loaders of the quickstart: read a CSV, write JSON lines."""

import csv
import json
import os
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent


def rows(name: str) -> list[dict[str, str]]:
    with open(HERE / "data" / name, newline="") as handle:
        return list(csv.DictReader(handle))


def write(name: str, items: list[dict]) -> Path:
    out = Path(os.environ["ORECART_ARTIFACTS"]) / name
    with open(out, "w") as handle:
        for item in items:
            handle.write(json.dumps(item) + "\n")
    return out


def read(need: str, name: str) -> list[dict]:
    folder = Path(json.loads(os.environ["ORECART_INPUTS"])[need])
    with open(folder / name) as handle:
        return [json.loads(line) for line in handle]
