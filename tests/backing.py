"""Real PostgreSQL and Redis for the cluster tests, from Debian's packages, on loopback
ports with their state in a temporary folder. PostgreSQL runs as the `postgres` user,
which it insists on. `available()` says why they cannot be had, or "".
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO, free_port

START_TIMEOUT_S = 30


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def available() -> str:
    """Install what is missing (as root, from Debian); why it cannot be had, or ""."""
    missing = [
        package
        for package, present in (
            ("postgresql", _pg_bin() is not None),
            ("redis-server", shutil.which("redis-server") is not None),
        )
        if not present
    ]
    if missing and os.geteuid() == 0:
        subprocess.run(
            [str(REPO / "scripts" / "apt-install.sh"), *missing], capture_output=True, check=False
        )
    if _pg_bin() is None or shutil.which("redis-server") is None:
        return "PostgreSQL and Redis could not be installed from Debian's packages"
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return "there is no postgres user to run PostgreSQL as"
    return ""


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}")


@dataclass
class Postgres:
    folder: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/sandpit"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            cwd="/",
        )

    def start(self) -> None:
        pg = _pg_bin()
        assert pg is not None
        self._as_postgres(
            str(pg / "pg_ctl"),
            "-D",
            str(self.folder / "data"),
            "-l",
            str(self.folder / "postgres.log"),
            "-o",
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        )
        _wait_for_port(self.port)

    def stop(self) -> None:
        pg = _pg_bin()
        assert pg is not None
        self._as_postgres(str(pg / "pg_ctl"), "-D", str(self.folder / "data"), "-m", "fast", "stop")

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    @classmethod
    def create(cls) -> "Postgres":
        """A new cluster in a folder of its own under /tmp: pytest's folders are private
        to root, and PostgreSQL runs as postgres."""
        pg = _pg_bin()
        assert pg is not None
        folder = Path(tempfile.mkdtemp(prefix="sandpit-test-postgres-"))
        shutil.chown(folder, "postgres", "postgres")
        server = cls(folder, free_port())
        # Trust on loopback: a throwaway cluster of the tests', reachable from this machine only.
        server._as_postgres(
            str(pg / "initdb"), "-D", str(folder / "data"), "--auth=trust", "-U", "postgres"
        )
        server.start()
        psql = [str(pg / "psql"), "-h", "127.0.0.1", "-p", str(server.port), "-U", "postgres"]
        subprocess.run([*psql, "-c", "CREATE DATABASE sandpit"], check=True, capture_output=True)
        return server


@dataclass
class Redis:
    process: subprocess.Popen[bytes]
    port: int
    folder: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def _serve(folder: Path, port: int) -> subprocess.Popen[bytes]:
        options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)]
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), *options],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_for_port(port)
        return process

    @classmethod
    def create(cls, folder: Path) -> "Redis":
        folder.mkdir(parents=True, exist_ok=True)
        port = free_port()
        return cls(cls._serve(folder, port), port, folder)

    def start(self) -> None:
        """Again, on the same port, empty: as a Redis that restarted."""
        self.process = self._serve(self.folder, self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
