"""The malformed corpus: each file in malformed/ fails with the message expected.yaml gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from orecart import errors
from orecart.spec import load_pipeline

CORPUS = Path(__file__).parent / "malformed"
EXPECTED: dict[str, Any] = yaml.safe_load((CORPUS / "expected.yaml").read_text("utf-8"))


def _case(entry: str | dict[str, str]) -> dict[str, str]:
    return {"error": entry} if isinstance(entry, str) else entry


def test_every_file_has_an_expectation_and_the_corpus_is_large() -> None:
    files = {p.name for p in CORPUS.iterdir() if p.name != "expected.yaml"}
    assert files == set(EXPECTED)
    assert len(files) >= 30


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malformed_file_fails_with_its_message(name: str) -> None:
    case = _case(EXPECTED[name])
    raises = getattr(errors, case.get("raises", "SpecError"))
    with pytest.raises(raises) as caught:
        load_pipeline(CORPUS / name, profile=case.get("profile"), environ={})
    assert case["error"] in str(caught.value)
    assert str(caught.value).startswith(str(CORPUS / name) + ":")
