"""The member-run log: output bytes turned into redacted, timestamped lines in a file.

Every executor writes the same log format, so ``orecart logs`` and the API read one thing:

    2026-11-22T03:11:14.123Z orecart attempt 1 of 'pubmed' started: python load.py
    2026-11-22T03:11:14.250Z stdout loading 120 files
    2026-11-22T03:11:15.004Z stderr warning: slow source
    2026-11-22T03:11:20.900Z orecart attempt 1 of 'pubmed' finished: succeeded

Each line is ``<ISO UTC timestamp> <stream> <text>``; the stream is ``stdout``, ``stderr``
or ``orecart`` (the executor's own notes). Attempts append to the same file. Secrets are
replaced before anything is written, and the redacted line is handed back so the caller
passes exactly the same text to its output sink.

Call outline: ``open_log(path, secrets) -> LogWriter``; ``LogWriter.splitter()`` per
stream; per chunk of output ``LineSplitter.feed(bytes) -> lines`` then
``LogWriter.write_line(stream, line)`` per line and ``LogWriter.flush()`` once; at the end
``LineSplitter.finish()`` and ``LogWriter.close()``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import NamedTuple, TextIO

from orecart.secrets import Redactor, shared_redactor

#: Streams an executor writes; ``orecart`` marks the executor's own notes.
STREAMS = ("stdout", "stderr", "orecart")
#: A line longer than this many bytes is cut into pieces: output without newlines
#: (binary data, progress bars) must not grow memory without bound.
MAX_LINE = 1 << 20


def timestamp(moment: datetime | None = None) -> str:
    """An ISO 8601 UTC timestamp with milliseconds and a ``Z``, as the log writes it."""
    moment = moment or datetime.now(UTC)
    return (
        moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


class LogLine(NamedTuple):
    at: datetime
    stream: str
    text: str


def parse_line(raw: str) -> LogLine | None:
    """Read back one log line; None when it is not in the log format."""
    parts = raw.rstrip("\n").split(" ", 2)
    if len(parts) < 2 or parts[1] not in STREAMS:
        return None
    try:
        at = datetime.fromisoformat(parts[0])
    except ValueError:
        return None
    return LogLine(at, parts[1], parts[2] if len(parts) == 3 else "")


def decode(raw: bytes) -> str:
    """Bytes of one line as text: invalid UTF-8 and NUL bytes become U+FFFD.

    NUL is replaced too because PostgreSQL text and many terminals cannot hold it.
    """
    text = raw.decode("utf-8", errors="replace")
    if text.endswith("\r"):
        text = text[:-1]
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


class LineSplitter:
    """Cuts a byte stream that arrives in arbitrary chunks into decoded lines.

    A line longer than ``max_line`` bytes is cut into pieces, never inside a UTF-8
    character nor, given the log's ``redactor``, inside a secret: each piece is redacted
    on its own, so a secret split across two would be written in clear.
    """

    def __init__(self, max_line: int = MAX_LINE, redactor: Redactor | None = None) -> None:
        self._rest = b""
        self._max_line = max_line
        self._redactor = redactor or Redactor()

    def feed(self, chunk: bytes) -> list[str]:
        """The complete lines in ``self``'s pending bytes plus ``chunk``, without newlines."""
        data = self._rest + chunk if self._rest else chunk
        *complete, self._rest = data.split(b"\n")
        lines = [text for raw in complete for text in self._pieces(raw)]
        while len(self._rest) > self._max_line:
            cut = self._redactor.safe_cut(self._rest, self._max_line)
            lines.append(decode(self._rest[:cut]))
            self._rest = self._rest[cut:]
        return lines

    def _pieces(self, raw: bytes) -> list[str]:
        pieces = []
        while len(raw) > self._max_line:
            cut = self._redactor.safe_cut(raw, self._max_line)
            pieces.append(decode(raw[:cut]))
            raw = raw[cut:]
        return [*pieces, decode(raw)]

    def finish(self) -> list[str]:
        """The last line when the stream ended without a newline."""
        rest, self._rest = self._rest, b""
        return [decode(rest)] if rest else []


class LogWriter:
    """Appends redacted, timestamped lines to one member-run log. Not thread-safe."""

    def __init__(self, file: TextIO, redact: Redactor) -> None:
        self._file = file
        self.redact = redact

    def write_line(self, stream: str, line: str, at: datetime | None = None) -> str:
        """Write one line of ``stream``; returns it redacted, for the output sink."""
        clean = self.redact(line)
        self._file.write(f"{timestamp(at)} {stream} {clean}\n")
        return clean

    def write_lines(self, stream: str, lines: Iterable[str]) -> list[str]:
        """Write lines that arrived together (one timestamp), then flush; returns them redacted."""
        stamp = timestamp()
        clean = [self.redact(line) for line in lines]
        self._file.writelines(f"{stamp} {stream} {text}\n" for text in clean)
        self._file.flush()
        return clean

    def note(self, text: str) -> str:
        """Write one of the executor's own lines (attempt header, outcome) and flush."""
        clean = self.write_line("orecart", text)
        self._file.flush()
        return clean

    def splitter(self) -> LineSplitter:
        """A line splitter for one stream of this log, cutting long lines between secrets."""
        return LineSplitter(redactor=self.redact)

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def open_log(path: Path, secrets: Iterable[str] = ()) -> LogWriter:
    """Open ``path`` for appending (creating its folders) with a redactor for ``secrets``.

    Raises OSError when the file cannot be opened; the executor turns that into an
    ``errored`` result.
    """
    try:
        file = path.open("a", encoding="utf-8", errors="replace")
    except FileNotFoundError:  # the run's first log: its folder is made once, not per log
        path.parent.mkdir(parents=True, exist_ok=True)
        file = path.open("a", encoding="utf-8", errors="replace")
    return LogWriter(file, shared_redactor(frozenset(secrets)))
