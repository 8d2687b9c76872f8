"""The public API is exactly what orecart.__all__ says, and all of it exists."""

from __future__ import annotations

import orecart


def test_all_is_explicit_sorted_and_importable() -> None:
    assert len(orecart.__all__) == len(set(orecart.__all__))
    assert sorted(orecart.__all__, key=str.lower) == sorted(orecart.__all__, key=str.lower)
    for name in orecart.__all__:
        assert hasattr(orecart, name), name


def test_nothing_public_is_missing_from_all() -> None:
    public = {n for n in vars(orecart) if not n.startswith("_") and not _is_submodule(n)}
    assert public - {"annotations"} <= set(orecart.__all__)


def _is_submodule(name: str) -> bool:
    return type(getattr(orecart, name)).__name__ == "module"
