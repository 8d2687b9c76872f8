"""Host paths of a containerised orecart: its own container id and the mapping of mounts."""

from __future__ import annotations

from docker.types import Mount

from orecart.executors.hostpaths import NOWHERE, HostPaths, own_container_id

ID = "8b8172a42fbe7e7aae32d5238506ddda98798a4c60d7dae0706128534f059fb7"
MOUNTINFO = f"""\
81 60 0:45 / / rw,relatime - overlay overlay rw
98 81 254:0 /var/lib/docker/containers/{ID}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw
99 81 254:0 /var/lib/docker/containers/{ID}/hostname /etc/hostname rw - ext4 /dev/vda rw
"""


def test_own_container_id_is_read_from_the_hostname_mount() -> None:
    assert own_container_id(MOUNTINFO) == ID
    assert own_container_id("24 1 0:21 / /proc rw - proc proc rw\n") is None


def test_paths_in_a_mount_map_to_the_host_and_others_stay() -> None:
    paths = HostPaths((("/log/runs", "/srv/runs"), ("/log", "/home/me/log"),
                       ("/data/pipeline.yaml", "/home/me/pipeline.yaml")))
    assert paths.outside("/log/runs/r1/CORD19") == "/srv/runs/r1/CORD19"
    assert paths.outside("/log") == "/home/me/log"
    assert paths.outside("/logs/x") == "/logs/x"  # a prefix of the name is not a parent
    assert paths.outside("/tmp/data/cord19") == "/tmp/data/cord19"
    assert paths.outside("/data/pipeline.yaml") == "/home/me/pipeline.yaml"


def test_only_bind_sources_are_mapped() -> None:
    paths = HostPaths((("/log", "/home/me/log"),))
    binds = [Mount("/orecart/artifacts", "/log/runs/r/m", type="bind"),
             Mount("/orecart/inputs/a", "/log/runs/r/a", type="bind", read_only=True),
             Mount("/cache", "named", type="volume")]
    mapped = paths.binds(binds)
    assert [m["Source"] for m in mapped] == ["/home/me/log/runs/r/m", "/home/me/log/runs/r/a",
                                            "named"]
    assert mapped[1]["ReadOnly"] is True and mapped[0]["Target"] == "/orecart/artifacts"
    assert NOWHERE.binds(binds) is binds
