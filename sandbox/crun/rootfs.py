"""Docker's images as root folders crun can start: each unpacked once, then shared.

An image is exported as a container of it sees it (`ImageFilesystems.export_filesystem`),
unpacked with its owners and modes into a folder keyed by its tag and id, and kept:
every sandbox of it mounts that folder read-only as its root, so a start copies nothing.
An image rebuilt under the same tag has another id, and so another folder. A process
that may start sandboxes of an image holds a shared lock on it; an image that goes away
(a runtime deleted) is removed by the last process to let go of it, never from under
another server's sandboxes (a cluster's nodes on one machine).

The folders live in /var/lib/sandpit-rootfs where the server may write there: a
sandbox's /proc/self/mountinfo shows its root's host path, which must tell nothing of
the host's layout (as for the egress folders, sandbox/pool.py); else in the state dir.
"""

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from sandbox.backends import ImageFilesystems
from sandbox.errors import EngineUnavailable
from sandbox.hardening import EGRESS_MOUNT, HOSTNAME, SYSTEM_CA_BUNDLE, WORK_DIR

log = logging.getLogger(__name__)
NEUTRAL_ROOTFS_ROOT = Path("/var/lib/sandpit-rootfs")
# GNU tar, as root: owners by number (never the host's names for them), modes, xattrs.
UNTAR = ["tar", "-x", "-f", "-", "--numeric-owner", "--same-owner", "--same-permissions"]
UNTAR += ["--xattrs", "--xattrs-include=*"]
UNPACK_TIMEOUT_S = 600
# What crun mounts over, made at unpack time: the root is read-only once it is shared.
MOUNT_FILES = ("sbin/docker-init", SYSTEM_CA_BUNDLE.lstrip("/"))
MOUNT_FOLDERS = ("proc", "sys", "dev", "tmp", WORK_DIR.lstrip("/"), EGRESS_MOUNT.lstrip("/"))
MAX_SYMLINK_HOPS = 40
SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")
# In a tag's folder: one unpacker at a time; and its users (shared) against its remover.
UNPACK_LOCK = ".unpack.lock"
USERS_LOCK = ".users.lock"


@dataclass(frozen=True)
class Rootfs:
    path: Path
    labels: dict[str, str]


def rootfs_root(state_dir: Path) -> Path:
    """Where unpacked images go: /var/lib/sandpit-rootfs when we may write there."""
    try:
        NEUTRAL_ROOTFS_ROOT.mkdir(mode=0o711, exist_ok=True)
    except OSError:
        return state_dir / "rootfs"
    return NEUTRAL_ROOTFS_ROOT


def tag_folder_name(tag: str) -> str:
    digest = hashlib.sha256(tag.encode()).hexdigest()[:8]
    return f"{SAFE_NAME.sub('_', tag)[:80]}-{digest}"


class RootfsStore:
    """Unpacked images by tag, unpacked on first use by any process of this machine."""

    def __init__(self, root: Path, images: ImageFilesystems) -> None:
        self.root = root
        self._images = images
        self._known: dict[str, Rootfs] = {}
        # The shared locks this process holds on the images it may start sandboxes of.
        self._in_use: dict[str, IO[str]] = {}
        self._lock = threading.Lock()

    async def get(self, tag: str) -> Rootfs:
        """The image's root, unpacked now if it never was (seconds; once)."""
        found = self._known.get(tag)
        if found is None:
            found = await asyncio.to_thread(self._ensure, tag)
            self._known[tag] = found
        return found

    def forget(self, tag: str) -> None:
        """This process starts no more sandboxes of the image: its unpacked roots go,
        unless another process still may (then the last to let go removes them)."""
        self._known.pop(tag, None)
        held = self._in_use.pop(tag, None)
        if held is not None:
            held.close()
        folder = self.root / tag_folder_name(tag)
        if not folder.is_dir():
            return
        with (folder / USERS_LOCK).open("a") as users:
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("the unpacked %s stays: another server may start sandboxes of it", tag)
                return
            for unpacked in folder.iterdir():
                if unpacked.is_dir():
                    shutil.rmtree(unpacked, ignore_errors=True)

    def _ensure(self, tag: str) -> Rootfs:
        image_id, labels = self._images.describe_image(tag)
        folder = self.root / tag_folder_name(tag)
        rootfs = folder / image_id.removeprefix("sha256:")[:16] / "rootfs"
        folder.mkdir(parents=True, exist_ok=True, mode=0o711)
        # Taken before the root is looked for: no remover can take it away after.
        users = (folder / USERS_LOCK).open("a")
        try:
            fcntl.flock(users, fcntl.LOCK_SH)
            with self._lock, _locked(folder / UNPACK_LOCK):
                if not rootfs.is_dir():
                    started = time.monotonic()
                    self._unpack(tag, rootfs)
                    log.info("unpacked %s for crun in %.1f s", tag, time.monotonic() - started)
        except BaseException:
            users.close()
            raise
        held = self._in_use.pop(tag, None)
        if held is not None:
            held.close()
        self._in_use[tag] = users
        return Rootfs(rootfs, labels)

    def _unpack(self, tag: str, rootfs: Path) -> None:
        # Half-unpacked roots of a process that died: the lock says none is being made.
        for partial in rootfs.parent.parent.glob("*/.partial-*"):
            shutil.rmtree(partial, ignore_errors=True)
        partial = rootfs.parent / f".partial-{uuid.uuid4().hex}"
        partial.mkdir(parents=True, mode=0o700)
        try:
            _untar(self._images.export_filesystem(tag), partial)
            prepare(partial)
            partial.chmod(0o755)
            partial.rename(rootfs)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise


def _untar(stream: Iterator[bytes], into: Path) -> None:
    # tar's complaints go to a file: a pipe nobody reads while the stream is written
    # could fill and stop it.
    with tempfile.TemporaryFile() as said:
        untar = subprocess.Popen([*UNTAR, "-C", str(into)], stdin=subprocess.PIPE, stderr=said)
        assert untar.stdin is not None
        try:
            for chunk in stream:
                untar.stdin.write(chunk)
            untar.stdin.close()
            untar.wait(timeout=UNPACK_TIMEOUT_S)
        except BaseException:
            untar.kill()
            untar.wait()
            raise
        if untar.returncode != 0:
            said.seek(0)
            reason = said.read()[-300:].decode(errors="replace")
            raise EngineUnavailable(f"unpacking an image for crun failed: {reason}")


def prepare(root: Path) -> None:
    """What Docker adds to a container's root, and what crun mounts over, made once."""
    for relative in MOUNT_FOLDERS:
        target = inside(root, relative)
        if not target.exists() and not target.is_symlink():
            target.mkdir(parents=True, mode=0o755)
    for relative in MOUNT_FILES:
        target = inside(root, relative)
        if not target.exists() and not target.is_symlink():
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
            target.touch(mode=0o755)
    hostname = inside(root, "etc/hostname")
    if hostname.is_symlink():
        hostname.unlink()
    hostname.write_text(f"{HOSTNAME}\n")
    hostname.chmod(0o644)


def inside(root: Path, relative: str) -> Path:
    """`relative` within `root`, the links on the way followed as a chroot would: never
    out of it, whatever the image's links say. The last part is not followed."""
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    current = root
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            current = current.parent if current != root else root
            continue
        candidate = current / part
        if parts and candidate.is_symlink():
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise EngineUnavailable(f"the image's /{relative} has a loop of links")
            link = os.readlink(candidate)
            if link.startswith("/"):
                current = root
            parts = [p for p in link.split("/") if p not in ("", ".")] + parts
            continue
        current = candidate
    return current


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One unpacker of an image at a time, across this machine's processes."""
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield
