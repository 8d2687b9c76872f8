"""Copy the shared libraries that the wheels' extension modules link to into CONTEXT/libs.

For scripts/build-image with a base Python imported from this machine, which holds only
the interpreter's own libraries: the wheels' modules (SQLAlchemy, orjson, the Neo4j Rust
extension, ...) are linked against this machine's libraries too, so they go in beside it.
Libraries a wheel bundles itself (``*.libs/``) are left to the wheel.

Usage: python3 scripts/image-libs.py CONTEXT   (CONTEXT/wheels holds the wheels)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def extension_modules(wheels: Path, into: Path) -> list[str]:
    found = []
    for wheel in sorted(wheels.glob("*.whl")):
        with zipfile.ZipFile(wheel) as archive:
            for name in archive.namelist():
                if ".so" in name.rsplit("/", 1)[-1]:
                    found.append(archive.extract(name, into))
    return found


def linked(modules: list[str], inside: Path) -> set[Path]:
    """The libraries ``ldd`` resolves for ``modules`` outside ``inside`` (the wheels')."""
    if not modules:
        return set()
    out = subprocess.run(["ldd", *modules], capture_output=True, text=True).stdout
    libraries = set()
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            path = Path(parts[2])
            if not path.is_relative_to(inside):
                libraries.add(path)
        elif "not found" in line:
            print(f"image-libs: {line.strip()}", file=sys.stderr)
    return libraries


def main(context: Path) -> None:
    target = context / "libs"
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        for library in sorted(linked(extension_modules(context / "wheels", root), root)):
            copy = target / library.relative_to("/")
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(library.resolve(), copy)  # by content, under the linked name


if __name__ == "__main__":
    main(Path(sys.argv[1]))
