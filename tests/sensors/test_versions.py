"""What was found, as versions: version_pattern's group, what it does not match, the
params of a run, and latest_only's skipped versions."""

from __future__ import annotations

from datetime import UTC, datetime

from orecart.sensing import GitWatch, Sensor, run_key
from orecart.sensors import Found
from orecart.sensors.versions import versions_of

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def found(tag: str, commit: str) -> Found:
    return Found(f"{tag}@{commit}", tag, tag, ref=f"refs/tags/{tag}", commit=commit, tag=tag)


def test_the_pattern_gives_the_version_and_drops_what_it_does_not_match() -> None:
    sensor = Sensor("releases", GitWatch("file:///x", refs="refs/tags/*"),
                    version_pattern=r"v(\d+\.\d+)")
    [version] = versions_of("hla", sensor, [found("v3.55", "c1"), found("nightly", "c2")], NOW)
    assert version.version == "3.55"
    assert version.params == {"sensor": "releases", "commit": "c1", "ref": "refs/tags/v3.55",
                              "tag": "v3.55", "version": "3.55"}
    assert version.key == "sensor:releases:v3.55@c1"


def test_latest_only_skips_the_older_versions_of_one_release() -> None:
    sensor = Sensor("releases", GitWatch("file:///x", branch="main"),
                    version_pattern=r"release (\S+)", latest_only=True)
    items = [Found(c, f"release {r}", c, commit=c) for c, r in
             (("c1", "3.1"), ("c2", "3.2"), ("c3", "3.2"), ("c4", "3.3"))]
    versions = versions_of("hla", sensor, items, NOW)
    assert [(v.commit, v.skipped) for v in versions] == [
        ("c1", False), ("c2", True), ("c3", False), ("c4", False)]


def test_a_long_key_stays_within_a_run_key_and_distinct() -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"
    assert len(run_key("s", long_a)) <= 200
    assert run_key("s", long_a) != run_key("s", long_b)
