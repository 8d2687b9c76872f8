"""The http sensor against a local HTTP server: conditional requests, a new version when
the content changes, none when only the ETag does, and a hanging server as an error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from orecart.errors import SensorError
from orecart.sensing import HttpWatch, Sensor
from orecart.sensors import Where, watcher
from tests.sensors.sources import Served, http_source


def sensor(url: str, **headers: str) -> Sensor:
    return Sensor("feed", HttpWatch(url, headers))


def test_a_new_content_is_a_new_version_and_an_unchanged_one_is_a_304(tmp_path: Path) -> None:
    served = Served()
    with http_source(served) as url:
        watch = watcher(sensor(url, Authorization="Bearer t0ken"), Where(tmp_path, tmp_path))
        first = watch.look({}, timeout=5)
        [found] = first.found
        assert found.extra["etag"] == '"v1"' and found.id == f"sha256:{found.version}"
        assert watch.look(first.cursor, timeout=5).found == ()
        assert served.requests[-1]["If-None-Match"] == '"v1"'  # conditional: answered 304
        served.body, served.etag = b"a,b\n3,4\n", '"v2"'
        second = watch.look(first.cursor, timeout=5)
        assert [f.extra["etag"] for f in second.found] == ['"v2"']
        assert second.found[0].version != found.version
        served.etag = '"v3"'  # the same bytes under a new ETag: the same version
        assert watch.look(second.cursor, timeout=5).found == ()
        assert all(r["Authorization"] == "Bearer t0ken" for r in served.requests)


def test_a_hanging_server_is_an_error_within_the_timeout(tmp_path: Path) -> None:
    served = Served(delay=5.0)
    with http_source(served) as url:
        started = time.monotonic()
        with pytest.raises(SensorError, match="no answer within 0.5s"):
            watcher(sensor(url), Where(tmp_path, tmp_path)).look({}, timeout=0.5)
        assert time.monotonic() - started < 3
        served.delay, served.status = 0.0, 503
        with pytest.raises(SensorError, match="503"):
            watcher(sensor(url), Where(tmp_path, tmp_path)).look({}, timeout=5)
