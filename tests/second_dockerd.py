"""A Docker engine of a test's own: a second dockerd beside the machine's, with its own
socket, data root, exec root, pidfile and containerd, no bridge and no firewall rules
(sandboxes run with network "none"). A test may stop and start it at will: the machine's
engine, and the containers a `make run` or another test run keeps there, are untouched.

Its data root is kept between sessions (.sandpit/test-dockerd), so that the sandbox
image is copied in once, not at every run: copying and removing 400 MB of layers took
half a minute. A lock keeps it to one engine at a time; a session that finds it taken
makes a data root of its own, and pays for it.
"""

import contextlib
import ctypes
import fcntl
import json
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import docker
import docker.errors
import requests.exceptions

REPO = Path(__file__).resolve().parent.parent
KEPT_DATA_ROOT = REPO / ".sandpit" / "test-dockerd"
START_TIMEOUT_S = 60
# dockerd stops its running containers before it exits, each within its stop timeout.
STOP_TIMEOUT_S = 60
LOAD_TIMEOUT_S = 300
API_TIMEOUT_S = 30
# Runtimes every dockerd has; naming one in its settings is an error.
BUILT_IN_RUNTIMES = ("runc", "io.containerd.")
PR_SET_PDEATHSIG = 1
# Looked up before any fork: a child of a threaded process had better not load libraries.
_prctl = ctypes.CDLL(None, use_errno=True).prctl


def _dies_with_the_tests() -> None:
    # A test process killed outright takes its dockerd with it, which stops its containers.
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def mounted_under(folder: Path) -> list[str]:
    """The mount points at or under `folder` (a dockerd that died leaves its mounts)."""
    points = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    return [p for p in points if p == str(folder) or p.startswith(f"{folder}/")]


def _take_kept_data_root() -> IO[bytes] | None:
    """The lock of the kept data root, held; None if another engine holds it."""
    KEPT_DATA_ROOT.mkdir(parents=True, exist_ok=True)
    lock = (KEPT_DATA_ROOT / "lock").open("ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return None
    return lock


def _machine_runtimes() -> dict[str, object]:
    """The machine engine's extra runtimes (crun, runsc…), for SANDBOX_DOCKER_RUNTIME."""
    machine = docker.from_env(timeout=API_TIMEOUT_S)
    try:
        runtimes: dict[str, dict[str, object]] = machine.info().get("Runtimes") or {}
    finally:
        machine.close()
    return {
        name: {key: runtime[key] for key in ("path", "runtimeArgs") if runtime.get(key)}
        for name, runtime in runtimes.items()
        if runtime.get("path") and not name.startswith(BUILT_IN_RUNTIMES)
    }


@dataclass
class SecondDockerd:
    folder: Path  # socket, exec root, pidfile, log: this engine's alone
    data_root: Path
    lock: IO[bytes] | None = None  # held while the kept data root is in use
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, prefix: str) -> "SecondDockerd":
        """A new engine, in a folder of its own under the temporary folder, started and
        emptied of what earlier sessions left in the kept data root."""
        folder = Path(tempfile.mkdtemp(prefix=prefix))
        lock = _take_kept_data_root()
        data_root = KEPT_DATA_ROOT / "data" if lock else folder / "data"
        engine = cls(folder, data_root, lock)
        # Settings of its own: /etc/docker/daemon.json is the machine engine's.
        settings = {"runtimes": _machine_runtimes()}
        (folder / "daemon.json").write_text(json.dumps(settings))
        try:
            engine.start()
            engine.remove_containers()
        except BaseException:
            engine.remove()
            raise
        return engine

    @property
    def host(self) -> str:
        """Its socket, as DOCKER_HOST names it."""
        return f"unix://{self.folder / 'docker.sock'}"

    def command(self) -> list[str]:
        # Namespaces of its own too: were a system containerd running, dockerd would use
        # it rather than start one, and the machine's engine does the same.
        namespace = self.folder.name
        command = [
            "dockerd",
            f"--host={self.host}",
            f"--config-file={self.folder / 'daemon.json'}",
            f"--data-root={self.data_root}",
            f"--exec-root={self.folder / 'exec'}",
            f"--pidfile={self.folder / 'dockerd.pid'}",
            f"--containerd-namespace={namespace}",
            f"--containerd-plugins-namespace={namespace}-plugins",
            "--bridge=none",
            "--iptables=false",
        ]
        usage = subprocess.run(["dockerd", "--help"], capture_output=True, text=True).stdout
        if "--ip6tables" in usage:
            command.append("--ip6tables=false")
        return command

    def start(self) -> None:
        """Start it (again, on the same data), and wait until it answers."""
        # The lock goes with dockerd (and what it starts), so that the data root is not
        # taken by the next session while this dockerd is still on its way out.
        kept = [self.lock.fileno()] if self.lock else []
        with (self.folder / "dockerd.log").open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=kept,
                preexec_fn=_dies_with_the_tests,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.process.returncode}: {self._log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"dockerd did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            with self._client(timeout_s=5) as client:
                return bool(client.ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False

    def stop(self) -> None:
        """Stop it as a restart does (SIGTERM), and wait until it has gone."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError(f"dockerd did not stop within {STOP_TIMEOUT_S} s") from None

    def remove_containers(self) -> None:
        """Remove every container it has: they are all the tests', of this session or
        of an earlier one."""
        with self._client() as client:
            for container in client.containers(all=True):
                client.remove_container(container["Id"], force=True)

    def copy_image(self, tag: str) -> None:
        """Have the machine engine's image `tag`, copied unless kept from a session before;
        other images go, so that the kept data root does not grow."""
        with self._client() as client:
            for image in client.images():
                if tag not in (image.get("RepoTags") or []):
                    with contextlib.suppress(docker.errors.APIError):
                        client.remove_image(image["Id"], force=True)
            with contextlib.suppress(docker.errors.ImageNotFound):
                client.inspect_image(tag)
                return
        save = subprocess.Popen(["docker", "save", tag], stdout=subprocess.PIPE)
        assert save.stdout is not None
        with save.stdout:
            load = subprocess.run(
                ["docker", f"--host={self.host}", "load", "--quiet"],
                stdin=save.stdout,
                capture_output=True,
                text=True,
                timeout=LOAD_TIMEOUT_S,
            )
        if save.wait() != 0 or load.returncode != 0:
            raise RuntimeError(f"could not copy {tag} into the second engine: {load.stderr}")

    def remove(self) -> None:
        """Stop it and remove its folder (the kept data root stays), unless it left mounts."""
        self.stop()
        if self.lock is not None:
            self.lock.close()
        left = mounted_under(self.folder)
        if left:
            raise RuntimeError(f"dockerd left mounts behind, so {self.folder} stays: {left}")
        shutil.rmtree(self.folder)

    def _client(self, timeout_s: int = API_TIMEOUT_S) -> docker.APIClient:
        return docker.APIClient(base_url=self.host, timeout=timeout_s)

    def _log(self) -> str:
        return (self.folder / "dockerd.log").read_text(errors="replace")[-2000:]
