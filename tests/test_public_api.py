"""The public API is exactly what orecart.__all__ says, and all of it exists."""

from __future__ import annotations

import subprocess
import sys

import orecart


def test_all_is_explicit_unique_and_importable() -> None:
    assert len(orecart.__all__) == len(set(orecart.__all__))
    for name in orecart.__all__:
        assert getattr(orecart, name) is not None, name
    assert orecart.__version__.count(".") >= 1


def test_every_lazy_name_is_in_all_and_unknown_names_raise() -> None:
    assert set(orecart._MODULE_OF) | {"__version__"} == set(orecart.__all__)
    try:
        orecart.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("an unknown name must raise AttributeError")


def test_importing_a_submodule_does_not_load_the_whole_package() -> None:
    code = "import sys, orecart.model; print('sqlalchemy' in sys.modules, 'rich' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.split() == ["False", "False"]
