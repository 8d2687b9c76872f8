"""The file sensor on a real folder: files that appear or change are new versions, oldest
first; unchanged files are not read again; removed ones just leave the cursor."""

from __future__ import annotations

import os
from pathlib import Path

from orecart.sensing import FileWatch, Sensor
from orecart.sensors import Where, watcher


def test_files_that_appear_or_change_are_new_versions_in_modification_order(
        tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "b.csv").write_text("b\n")
    os.utime(incoming / "b.csv", (1_000, 1_000))
    (incoming / "a.csv").write_text("a\n")
    os.utime(incoming / "a.csv", (2_000, 2_000))
    (incoming / "ignored.txt").write_text("x\n")
    watch = watcher(Sensor("drops", FileWatch("incoming/*.csv")), Where(tmp_path, tmp_path))
    first = watch.look({}, timeout=5)
    assert [f.extra["file"] for f in first.found] == ["incoming/b.csv", "incoming/a.csv"]
    assert first.found[0].extra["path"] == str(incoming / "b.csv")
    assert watch.look(first.cursor, timeout=5).found == ()
    (incoming / "a.csv").write_text("a changed\n")
    (incoming / "b.csv").unlink()
    (incoming / "c.csv").write_text("c\n")
    later = watch.look(first.cursor, timeout=5)
    assert sorted(f.extra["file"] for f in later.found) == ["incoming/a.csv", "incoming/c.csv"]
    assert set(later.cursor["files"]) == {"incoming/a.csv", "incoming/c.csv"}


def test_a_file_whose_size_and_time_are_the_cursors_is_not_read_again(tmp_path: Path) -> None:
    (tmp_path / "big.csv").write_text("x" * 10)
    watch = watcher(Sensor("drops", FileWatch("*.csv")), Where(tmp_path, tmp_path))
    cursor = watch.look({}, timeout=5).cursor
    entry = cursor["files"]["big.csv"]
    kept = {"files": {"big.csv": {**entry, "sha256": "the cursor's word"}}}
    assert watch.look(kept, timeout=5).cursor == kept  # not hashed: stat unchanged


def test_a_folder_and_dangling_or_looping_links_that_match_are_no_versions(
        tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    (incoming / "folder.csv").mkdir(parents=True)
    (incoming / "dangling.csv").symlink_to(tmp_path / "nowhere")
    (incoming / "loop.csv").symlink_to(incoming / "loop.csv")
    (incoming / "real.csv").write_text("r\n")
    (incoming / "linked.csv").symlink_to(incoming / "real.csv")
    watch = watcher(Sensor("drops", FileWatch("incoming/*.csv")), Where(tmp_path, tmp_path))
    sensed = watch.look({}, timeout=5)
    assert sorted(f.extra["file"] for f in sensed.found) == ["incoming/linked.csv",
                                                             "incoming/real.csv"]
    assert sorted(sensed.cursor["files"]) == ["incoming/linked.csv", "incoming/real.csv"]
