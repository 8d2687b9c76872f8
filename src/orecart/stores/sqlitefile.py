"""The SQLite file behind a state store: checked before it is opened, and opened read-only
for history reads.

An existing file that is not an orecart state database (0 bytes, garbage, another
application's SQLite file) is refused with ``NotAStoreError`` and left as it is: starting
an empty history on top of it would hide the history the user expected to see.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import URL

from orecart.errors import NotAStoreError, StateError

HEADER = b"SQLite format 3\x00"
SETTLE_S = 0.2  # a file another orecart is creating has its header within this
#: Tables every orecart state database has; a database with tables but not these is foreign.
REQUIRED = frozenset({"runs", "member_runs"})
HINT = "remove or move it, or choose another state store with --state URL"


def sqlite_file(url: URL) -> Path | None:
    """The file of a file-backed SQLite URL; None for memory, other backends, and URIs the
    user wrote out (``sqlite:///file:...?uri=true``), which are taken as given."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if database.startswith("file:") else Path(database)


def check_file(path: Path) -> None:
    """Refuse an existing ``path`` that cannot be an SQLite database; a missing one is fine."""
    try:
        head = _head(path)
        if not head:  # another orecart may have created it this instant: look again
            time.sleep(SETTLE_S)
            head = _head(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StateError(f"state store {path}: cannot be read: {exc.strerror or exc}") from exc
    if not head:
        raise NotAStoreError(f"{path}: the file is empty (0 bytes), not an orecart state "
                             f"database; {HINT}")
    if not head.startswith(HEADER):
        raise NotAStoreError(f"{path}: not an SQLite database, so not an orecart state "
                             f"database; {HINT}")


def check_tables(path: Path, tables: Collection[str], empty_ok: bool) -> None:
    """Refuse a database whose tables are not orecart's (``empty_ok``: none at all is fine,
    as for a store about to be created)."""
    if (not tables and empty_ok) or REQUIRED <= set(tables):
        return
    listed = ", ".join(sorted(tables)[:5]) or "none"
    raise NotAStoreError(f"{path}: an SQLite database without orecart's tables (it has: "
                         f"{listed}), not an orecart state database; {HINT}")


def read_only(url: URL, path: Path, immutable: bool = False) -> URL:
    """``url`` opened so that nothing can be written, even by root: SQLite's ``mode=ro``;
    ``immutable`` too where even the WAL index cannot be made (a read-only folder)."""
    query = {"mode": "ro", "uri": "true", **({"immutable": "1"} if immutable else {})}
    return url.set(database=f"file:{quote(str(path.resolve()))}", query=query)


def _head(path: Path) -> bytes:
    with path.open("rb") as file:
        return file.read(len(HEADER))
