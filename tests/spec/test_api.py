"""The public surface of orecart.spec is exactly its __all__."""

from __future__ import annotations

import orecart.spec


def test_public_api_is_explicit() -> None:
    assert sorted(orecart.spec.__all__) == [
        "load_pipeline", "parse_duration", "pipeline_name", "pipeline_schema"]
    for name in orecart.spec.__all__:
        assert callable(getattr(orecart.spec, name))
