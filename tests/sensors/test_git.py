"""The git sensor against a real bare repository over file://: tags in source order,
a branch's new commits oldest first, a force-push and a deleted tag."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from orecart.errors import SensorError
from orecart.sensing import GitWatch, Sensor
from orecart.sensors import Sensed, Where, watcher
from tests.sensors.sources import GitSource


def look(sensor: Sensor, tmp_path: Path, cursor: object = None) -> Sensed:
    where = Where(tmp_path, tmp_path / "cache")
    return watcher(sensor, where).look(dict(cursor or {}), timeout=20)  # type: ignore[call-overload]


def tags(source: GitSource) -> Sensor:
    return Sensor("releases", GitWatch(source.url, refs="refs/tags/v*"))


def branch(source: GitSource) -> Sensor:
    return Sensor("main", GitWatch(source.url, branch="main"))


def test_tags_come_in_creation_order_with_their_commits(tmp_path: Path) -> None:
    source = GitSource(tmp_path)
    first = source.commit("one")
    source.tag("v10.0")  # older, though it sorts after v2.0 by name
    second = source.commit("two")
    source.tag("v2.0", annotated=True)
    source.tag("other")  # not matched by the glob
    source.push()
    sensed = look(tags(source), tmp_path)
    assert [(f.tag, f.commit, f.ref) for f in sensed.found] == [
        ("v10.0", first, "refs/tags/v10.0"), ("v2.0", second, "refs/tags/v2.0")]
    assert sensed.found[1].id == f"v2.0@{second}"  # the annotated tag's commit, peeled
    assert look(tags(source), tmp_path, sensed.cursor).found == ()


def test_a_deleted_tag_leaves_the_cursor_and_a_moved_one_is_new(tmp_path: Path) -> None:
    source = GitSource(tmp_path)
    source.commit("one")
    source.tag("v1")
    source.tag("v2")
    source.push()
    cursor = look(tags(source), tmp_path).cursor
    source.delete_tag("v1")
    gone = look(tags(source), tmp_path, cursor)
    assert gone.found == () and set(gone.cursor["refs"]) == {"refs/tags/v2"}
    moved = source.commit("two")
    source.git("tag", "-f", "v2")
    source.git("push", "-q", "origin", "HEAD:main")
    source.git("push", "-q", "--force", "origin", "refs/tags/v2")
    again = look(tags(source), tmp_path, gone.cursor)
    assert [(f.tag, f.commit) for f in again.found] == [("v2", moved)]


def test_a_branch_gives_its_new_commits_oldest_first(tmp_path: Path) -> None:
    source = GitSource(tmp_path)
    source.commit("zero")
    head = source.commit("one")
    source.push()
    first = look(branch(source), tmp_path)
    assert [f.commit for f in first.found] == [head]  # the first look: the head alone
    new = [source.commit(f"release 3.{n}") for n in range(3)]
    source.push()
    sensed = look(branch(source), tmp_path, first.cursor)
    assert [f.commit for f in sensed.found] == new
    assert [f.subject for f in sensed.found] == ["release 3.0", "release 3.1", "release 3.2"]
    assert look(branch(source), tmp_path, sensed.cursor).found == ()


def test_a_force_push_gives_only_the_rewritten_commits(tmp_path: Path) -> None:
    source = GitSource(tmp_path)
    base = source.commit("base")
    source.commit("doomed")
    source.push()
    cursor = look(branch(source), tmp_path).cursor
    source.git("reset", "-q", "--hard", base)
    rewritten = [source.commit("fixed"), source.commit("more")]
    source.push(force=True)
    sensed = look(branch(source), tmp_path, cursor)
    assert [f.commit for f in sensed.found] == rewritten
    assert sensed.cursor == {"commit": rewritten[-1]}


def test_an_unreadable_remote_is_a_sensor_error_without_its_password(tmp_path: Path) -> None:
    sensor = Sensor("x", GitWatch("https://user:s3cret@127.0.0.1:9/repo.git", refs="refs/*"))
    with pytest.raises(SensorError) as caught:
        look(sensor, tmp_path)
    assert "s3cret" not in str(caught.value) and "***@127.0.0.1" in str(caught.value)
    missing = Sensor("y", GitWatch(GitSource(tmp_path).url, branch="nope"))
    with pytest.raises(SensorError, match="no branch 'nope'"):
        look(missing, tmp_path)


def test_many_new_tags_at_once_are_fetched_together_and_come_in_order(
        tmp_path: Path) -> None:
    source = GitSource(tmp_path)
    older, newer = source.commit("one"), source.commit("two")
    source.tag("other")  # not matched by the glob, though fetched with the folder
    source.push()
    made = [f"create refs/tags/v1.{i:03d} {older}" for i in range(40)]
    made += [f"create refs/tags/v2.{i:03d} {newer}" for i in range(40)]
    subprocess.run(["git", "-C", str(source.bare), "update-ref", "--stdin"],
                   input="\n".join(made) + "\n", text=True, check=True)
    sensed = look(tags(source), tmp_path)
    expected = [(f"v1.{i:03d}", older) for i in range(40)]
    expected += [(f"v2.{i:03d}", newer) for i in range(40)]
    assert [(f.tag, f.commit) for f in sensed.found] == expected
    assert len(sensed.cursor["refs"]) == 80
    source.commit("three")
    source.tag("v3.0")
    source.push()
    again = look(tags(source), tmp_path, sensed.cursor)
    assert [f.tag for f in again.found] == ["v3.0"]
