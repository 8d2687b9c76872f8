"""schedule:, settings.max_runs and max_age in native files, and copili's service-mode
schedule for Motherlode files with service containers."""

from __future__ import annotations

import subprocess
import sys

import pytest

from orecart.errors import SpecError
from orecart.model import Schedule
from orecart.spec import load_pipeline, pipeline_schema
from tests.spec.conftest import Write

NATIVE = """
    pipeline: nightly
    schedule: {cron: "0 2 * * *", timezone: Europe/Berlin}
    settings: {max_runs: 3}
    members:
      - {name: a, run: [echo, a], max_age: 7d}
      - {name: b, run: [echo, b], needs: [a]}
"""


def test_schedule_max_runs_and_max_age_map_onto_the_model(write: Write) -> None:
    pipeline = load_pipeline(write(NATIVE), environ={})
    assert pipeline.schedule == Schedule(cron="0 2 * * *", timezone="Europe/Berlin")
    assert str(pipeline.schedule) == "cron 0 2 * * * Europe/Berlin"
    assert pipeline.settings.max_runs == 3
    assert pipeline.member("a").max_age == 7 * 86400 and pipeline.member("b").max_age is None


def test_every_takes_a_duration_and_cron_defaults_to_utc(write: Write) -> None:
    every = write("schedule: {every: 1h30m}\nmembers: [{name: a, run: [true]}]\n", "every.yaml")
    schedule = load_pipeline(every, environ={}).schedule
    assert schedule == Schedule(every=5400.0) and str(schedule) == "every 1h30m"
    cron = write("schedule: {cron: '@daily'}\nmembers: [{name: a, run: [true]}]\n", "cron.yaml")
    assert load_pipeline(cron, environ={}).schedule == Schedule(cron="@daily", timezone="UTC")
    plain = write("members: [{name: a, run: [true]}]\n", "plain.yaml")
    pipeline = load_pipeline(plain, environ={})
    assert pipeline.schedule is None and pipeline.settings.max_runs == 1


def test_the_schema_knows_the_new_keys() -> None:
    schema = pipeline_schema()
    assert set(schema["properties"]["schedule"]["properties"]) == {"cron", "every", "timezone"}
    assert "max_runs" in schema["properties"]["settings"]["properties"]
    assert "max_age" in schema["properties"]["members"]["items"]["properties"]


def test_validate_refuses_a_bad_schedule_with_exit_2_and_no_traceback(write: Write) -> None:
    path = write("schedule: {cron: '0 2 * *'}\nmembers: [{name: a, run: [true]}]\n")
    done = subprocess.run(
        [sys.executable, "-m", "orecart", "validate", str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert f"{path}:1:18: schedule.cron: '0 2 * *' is not a cron expression" in done.stderr
    assert "Traceback" not in done.stderr


MOTHERLODE = """
    Pipeline:
      - name: HELPER
        image_repo: registry.example.org/helper
        is_service_container: true
        exlude_in_env: [DEV]
      - name: LOADER
        image_repo: registry.example.org/loader
        dependencies: [HELPER]
"""


def test_a_service_container_brings_copilis_daily_midnight(write: Write) -> None:
    path = write(MOTHERLODE)
    assert load_pipeline(path, environ={}).schedule == Schedule(cron="0 0 * * *")
    berlin = load_pipeline(path, environ={"TZ": ":Europe/Berlin"}).schedule
    assert berlin == Schedule(cron="0 0 * * *", timezone="Europe/Berlin")


def test_without_a_service_container_there_is_no_schedule(write: Write) -> None:
    path = write(MOTHERLODE.replace("is_service_container: true", "is_service_container: false"))
    assert load_pipeline(path, environ={}).schedule is None
    excluded = load_pipeline(write(MOTHERLODE, "other.yaml"), environ={"ENV": "DEV"})
    assert excluded.schedule is None  # ENV leaves the only service container out


def test_orecart_service_schedule_replaces_the_default(write: Write) -> None:
    path = write(MOTHERLODE)
    environ = {"ORECART_SERVICE_SCHEDULE": "30 3 * * mon", "TZ": "Europe/Berlin"}
    assert load_pipeline(path, environ=environ).schedule == Schedule(
        cron="30 3 * * mon", timezone="Europe/Berlin"
    )
    assert load_pipeline(path, environ={"ORECART_SERVICE_SCHEDULE": "10m"}).schedule == (
        Schedule(every=600.0)
    )
    (path.parent / ".env").write_text("ORECART_SERVICE_SCHEDULE=@hourly\n", encoding="utf-8")
    assert load_pipeline(path, environ={}).schedule == Schedule(cron="@hourly")


@pytest.mark.parametrize(
    ("environ", "words"),
    [
        ({"ORECART_SERVICE_SCHEDULE": "every day"}, "ORECART_SERVICE_SCHEDULE: expected a cron"),
        ({"ORECART_SERVICE_SCHEDULE": "200ms"}, "an interval must be at least 1s"),
        ({"TZ": "Mars/Olympus"}, "TZ: unknown timezone 'Mars/Olympus'"),
    ],
)
def test_bad_service_settings_are_named(write: Write, environ: dict[str, str], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        load_pipeline(write(MOTHERLODE), environ=environ)
