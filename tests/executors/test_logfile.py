"""The member-run log format, line splitting and the reaper's registration protocol."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orecart.executors.logfile import LineSplitter, decode, open_log, parse_line, timestamp
from orecart.executors.reaper import apply


@given(st.lists(st.binary(max_size=50), max_size=20), st.data())
def test_any_chunking_gives_the_same_lines(parts: list[bytes], data: st.DataObject) -> None:
    stream = b"\n".join(parts)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    splitter = LineSplitter()
    lines: list[str] = []
    for start, end in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        lines += splitter.feed(stream[start:end])
    lines += splitter.finish()
    raw = stream.split(b"\n")
    if raw and raw[-1] == b"":
        raw.pop()  # a final newline ends the last line; it does not start another
    assert lines == [decode(line) for line in raw]


@given(st.binary(max_size=100), st.integers(1, 10))
def test_no_piece_is_longer_than_the_limit(blob: bytes, limit: int) -> None:
    splitter = LineSplitter(max_line=limit)
    pieces = splitter.feed(blob) + splitter.finish()
    assert all(len(piece.encode("utf-8", "replace")) <= 3 * limit for piece in pieces)
    assert sum(1 for _ in pieces) >= blob.count(b"\n")


def test_decode_replaces_bad_bytes_nul_and_carriage_return() -> None:
    assert decode(b"a\x00b\xffc\r") == "a\ufffdb\ufffdc"


def test_log_lines_round_trip_and_redact(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "member.log"
    with open_log(path, {"pa55word"}) as log:
        assert log.note("attempt 1 started") == "attempt 1 started"
        assert log.write_lines("stdout", ["user pa55word", "", "two  spaces"]) == [
            "user ***",
            "",
            "two  spaces",
        ]
    with open_log(path) as log:
        log.write_line("stderr", "again")
    parsed = [parse_line(raw) for raw in path.read_text().splitlines()]
    assert [(p.stream, p.text) for p in parsed if p] == [
        ("orecart", "attempt 1 started"),
        ("stdout", "user ***"),
        ("stdout", ""),
        ("stdout", "two  spaces"),
        ("stderr", "again"),
    ]
    assert all(p and p.at.tzinfo is not None for p in parsed)


def test_timestamp_is_utc_with_milliseconds() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    assert timestamp(moment) == "2026-01-02T03:04:05.678Z"
    assert parse_line("garbage") is None
    assert parse_line("2026-01-02T03:04:05.678Z nostream x") is None


@given(st.lists(st.tuples(st.sampled_from("+-"), st.integers(2, 20))))
def test_reaper_protocol_keeps_the_registered_groups(messages: list[tuple[str, int]]) -> None:
    groups: set[int] = set()
    expected: set[int] = set()
    for sign, pgid in messages:
        apply(groups, f"{sign}{pgid}\n".encode())
        (expected.add if sign == "+" else expected.discard)(pgid)
    apply(groups, b"garbage\n")
    apply(groups, b"+1\n")  # never init's group, never a broadcast
    assert groups == expected
