"""What test sessions leave behind, removed: a test's finaliser removes the containers it
made to outlive their node, and each session starts by reaping what earlier sessions,
killed before their own clean-up, left on this machine.

A session's containers carry the instance `sandpit-test-<pid>` or `sandpit-test-<pid>-<node>`
(tests/conftest.py), so a session whose process has gone is known by its label alone,
as a server's start-up knows its own leftovers by its instance.
"""

import contextlib
import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from sandbox.docker.connection import LABEL_INSTANCE, DockerConnection
from sandbox.errors import EngineUnavailable
from tests.second_dockerd import mounted_under

log = logging.getLogger(__name__)
# Short: an engine that does not answer at once holds up every session's start.
REAP_TIMEOUT_S = 10
TEST_SESSION_INSTANCE = re.compile(r"^sandpit-test-(?P<pid>\d+)(?:-.+)?$")
# Second Docker engines (tests/second_dockerd.py) are made in folders named so.
SECOND_DOCKERD_FOLDER = re.compile(r"^sandpit-test-(?P<pid>\d+)-dockerd-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _engine_is_this_machines() -> bool:
    # A session's pid means something only in the pid namespace it ran in: with a remote
    # engine, or a socket lent from outside this namespace, other machines' sessions would
    # look dead here.
    if os.environ.get("DOCKER_HOST"):
        return False
    with contextlib.suppress(OSError):
        for comm in Path("/proc").glob("[0-9]*/comm"):
            with contextlib.suppress(OSError):
                if comm.read_text().strip() == "dockerd":
                    return True
    return False


def remove_instance_containers(instance: str) -> int:
    """Remove every container of `instance`, running or not; how many there were."""
    connection = DockerConnection(instance=instance, timeout_s=REAP_TIMEOUT_S)
    try:
        found = connection.labelled()
        for container_id in found:
            connection.remove_quietly(container_id)
        return len(found)
    finally:
        connection.close()


def reap_dead_sessions() -> list[str]:
    """Remove the containers of test sessions whose process has gone; their instances."""
    if not _engine_is_this_machines():
        return []
    connection = DockerConnection(instance="", timeout_s=REAP_TIMEOUT_S)
    try:
        containers = connection.call(
            connection.api.containers, all=True, filters={"label": LABEL_INSTANCE}
        )
        reaped: set[str] = set()
        for container in containers:
            instance = container["Labels"][LABEL_INSTANCE]
            session = TEST_SESSION_INSTANCE.match(instance)
            if session and not _alive(int(session["pid"])):
                connection.remove_quietly(container["Id"])
                reaped.add(instance)
        return sorted(reaped)
    except EngineUnavailable:
        return []  # no engine, nothing to reap: the unit tests need none
    finally:
        connection.close()


def remove_dead_sessions_dockerd_folders() -> list[Path]:
    """Remove the folders of second Docker engines whose session has gone and whose dockerd
    has stopped (it stops with its session) without leaving mounts; the folders removed."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("sandpit-test-*-dockerd-*"):
        session = SECOND_DOCKERD_FOLDER.match(folder.name)
        if not session or _alive(int(session["pid"])):
            continue
        pidfile = folder / "dockerd.pid"
        with contextlib.suppress(OSError, ValueError):
            if _alive(int(pidfile.read_text())):
                continue  # still stopping: the next session removes it
        if not mounted_under(folder):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def pytest_sessionstart(session: pytest.Session) -> None:
    reaped = reap_dead_sessions()
    if reaped:
        log.warning("removed the containers that ended test sessions left: %s", reaped)
    remove_dead_sessions_dockerd_folders()
