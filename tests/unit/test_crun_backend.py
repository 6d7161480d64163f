"""The crun backend's pure parts: plain frames, unpacked roots, command lines, refusals."""

import asyncio
import io
import os
import platform
import shutil
import socket
import struct
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.crun import command, process, rootfs, spec
from sandbox.errors import EngineUnavailable
from sandbox.protocol import AgentStream, Frame


def _frame(kind: Frame, payload: bytes) -> bytes:
    return kind.value + struct.pack(">I", len(payload)) + payload


def _pipe(*chunks: bytes) -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    return reader


async def test_plain_frames_split_across_reads_are_reassembled() -> None:
    frame = _frame(Frame.STDOUT, b"hello") + _frame(Frame.READY, b"")
    stream = AgentStream(_pipe(frame[:3], frame[3:7], frame[7:]), _pipe())
    assert await stream.next_frame() == (Frame.STDOUT, b"hello")
    assert await stream.next_frame() == (Frame.READY, b"")
    with pytest.raises(EOFError):
        await stream.next_frame()


async def test_when_plain_stdout_ends_stderr_says_why_bounded_and_escaped() -> None:
    stream = AgentStream(_pipe(), _pipe(b"crun: boom\x1b[31m\n", b"x" * 10_000))
    with pytest.raises(EOFError):
        await stream.next_frame()
    assert stream.diagnostic_text.startswith("crun: boom\\x1b[31m\n")
    assert len(stream.diagnostics) == 4096


def test_an_images_links_never_lead_out_of_its_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "sbin").symlink_to("/usr/sbin")  # absolute: the root's /usr/sbin, not the host's
    (root / "etc").symlink_to("../../../../../../private-etc")  # as far up as the root
    assert rootfs.inside(root, "sbin/docker-init") == root / "usr" / "sbin" / "docker-init"
    assert rootfs.inside(root, "etc/hostname") == root / "private-etc" / "hostname"
    assert rootfs.inside(root, "../../x") == root / "x"
    (root / "loop").symlink_to("loop")
    with pytest.raises(EngineUnavailable, match="loop"):
        rootfs.inside(root, "loop/x")


def test_an_unpacked_root_gets_its_mount_points_and_hostname(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").symlink_to("/etc/hostname")  # not the host's, never
    rootfs.prepare(root)
    assert (root / "etc" / "hostname").read_text() == "sandbox\n"
    assert not (root / "etc" / "hostname").is_symlink()
    assert (root / "sbin" / "docker-init").is_file()
    assert (root / "etc" / "ssl" / "certs" / "ca-certificates.crt").is_file()
    for folder in ("proc", "sys", "dev", "tmp", "work", "run/sandpit"):
        assert (root / folder).is_dir(), folder


class FakeImages:
    def __init__(self) -> None:
        self.exports = 0

    def describe_image(self, tag: str) -> tuple[str, dict[str, str]]:
        return "sha256:" + "ab" * 32, {"label": tag}

    def export_filesystem(self, tag: str) -> Iterator[bytes]:
        self.exports += 1
        data = io.BytesIO()
        with tarfile.open(fileobj=data, mode="w") as tar:
            info = tarfile.TarInfo("usr/bin/python3")
            info.size, info.mode, info.uid, info.gid = 2, 0o755, 0, 0
            tar.addfile(info, io.BytesIO(b"#!"))
        yield data.getvalue()


async def test_an_image_is_unpacked_once_and_removed_by_the_last_to_let_go(
    tmp_path: Path,
) -> None:
    # Two stores hold their locks as two servers on one machine would (flock is per
    # open file, not per process).
    images = FakeImages()
    ours, theirs = rootfs.RootfsStore(tmp_path, images), rootfs.RootfsStore(tmp_path, images)
    first = await ours.get("sandpit-rev:abc")
    again = await theirs.get("sandpit-rev:abc")
    assert first == again and images.exports == 1
    assert (first.path / "usr" / "bin" / "python3").read_bytes() == b"#!"
    assert first.labels == {"label": "sandpit-rev:abc"}
    assert first.path.stat().st_mode & 0o777 == 0o755
    ours.forget("sandpit-rev:abc")
    assert first.path.is_dir(), "removed from under another server's sandboxes"
    theirs.forget("sandpit-rev:abc")
    assert not first.path.exists()
    assert (await ours.get("sandpit-rev:abc")).path.is_dir() and images.exports == 2


def test_crun_runs_without_the_hybrid_mount_only_where_there_is_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(command, "hybrid_cgroups", lambda: False)
    plain = command.CrunCommand(tmp_path).argv("list")
    assert plain == ["/usr/bin/crun", "--root", str(tmp_path), "--cgroup-manager=cgroupfs", "list"]
    monkeypatch.setattr(command, "hybrid_cgroups", lambda: True)
    monkeypatch.setattr(command, "hidden_namespace", lambda: "--mount=/proc/7/ns/mnt")
    hidden = command.CrunCommand(tmp_path).argv("list")
    assert hidden == ["nsenter", "--mount=/proc/7/ns/mnt", *plain]


def test_without_crun_or_an_init_or_on_another_machine_it_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda name, path=None: None)
    with pytest.raises(EngineUnavailable, match="apt-get install crun"):
        command.CrunCommand(tmp_path).argv("list")
    spec.init_binary.cache_clear()
    with pytest.raises(EngineUnavailable, match="docker-init"):
        spec.init_binary()
    spec.init_binary.cache_clear()
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    spec.seccomp.cache_clear()
    with pytest.raises(EngineUnavailable, match="SANDBOX_BACKEND=docker"):
        spec.seccomp()
    spec.seccomp.cache_clear()


async def test_a_child_is_started_with_its_stdio_as_streams_and_its_end_seen() -> None:
    piped = await process.start(["sh", "-c", "cat; echo said >&2; exit 3"])
    piped.stdin.write(b"frames")
    await piped.stdin.drain()
    piped.stdin.write_eof()
    assert await piped.stdout.read() == b"frames"
    assert await piped.stderr.read() == b"said\n"
    assert await piped.child.wait() == 3
    assert piped.child.returncode == 3
    piped.close()


async def test_a_call_runs_to_its_end_and_says_what_it_said() -> None:
    assert await process.run(["sh", "-c", "echo no such container >&2; exit 1"]) == (
        1,
        b"no such container\n",
    )
    assert await process.run(["sh", "-c", "echo unread >&2"], quiet=True) == (0, b"")


def test_under_uvloop_children_leave_no_descriptor_behind_nor_close_anothers() -> None:
    # uvicorn's loop: a pipe handed to it was closed twice, once by uvloop and once by
    # its file object, closing whatever the server had opened under that number since.
    import uvloop

    async def one_child() -> None:
        piped = await process.start(["sh", "-c", "read line; echo $line; echo e >&2"])
        piped.stdin.write(b"hi\n")
        assert await piped.stdout.readline() == b"hi\n"
        assert await piped.stderr.readline() == b"e\n"
        assert await piped.child.wait() == 0
        piped.close()

    async def scenario() -> None:
        await one_child()  # what the loop opens once, on first need
        await asyncio.sleep(0.1)
        before = set(os.listdir("/proc/self/fd"))
        bystanders = [socket.socketpair() for _ in range(8)]
        for _ in range(20):
            await one_child()
            bystanders.append(socket.socketpair())  # numbers freed by the child, reused
        await asyncio.sleep(0.1)
        for left, right in bystanders:
            left.sendall(b"x")
            assert right.recv(1) == b"x"
            left.close()
            right.close()
        extra = set(os.listdir("/proc/self/fd")) - before
        assert not extra, [os.readlink(f"/proc/self/fd/{fd}") for fd in extra]

    uvloop.run(scenario())
