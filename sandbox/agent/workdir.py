"""A session's working directory: saved as a tar when it pauses, restored when it
resumes, and its output files collected while its worker lives on.

All three read and write with the sandbox user's file-system identity (setfsuid), so
the supervisor reaches nothing the code could not, and what it restores is the sandbox
user's. Saving walks the folder without following a symbolic link, takes regular files
(read whole by O_NOFOLLOW, their size checked), folders and symbolic links, and stops
at the caps, listing what it left. Restoring takes the tar as hostile input: tarfile's
"data" filter refuses absolute paths, climbing out, links that point outside, devices
and set-uid bits, and each member it refuses is listed and skipped.

    T  a piece of the tar    at most CHUNK_BYTES each; the X frame after them says
                             {"bytes", "files", "skipped": [{path, reason}]}
"""

import contextlib
import ctypes
import io
import os
import stat
import tarfile
from collections.abc import Callable, Iterator

CHUNK_BYTES = 256 * 1024
# Entries looked at, and skipped ones listed, at most: a session that made a million
# files saves the first of them, not a minute of walking.
MAX_ENTRIES = 20_000
MAX_LISTED = 32
# What an entry costs in a tar besides its bytes, at most: its header, a PAX header for
# a long name, and the padding to a block. The archive's end and its last record's
# padding come on top, once.
ENTRY_OVERHEAD_BYTES = 3 * 512
END_BYTES = tarfile.RECORDSIZE


@contextlib.contextmanager
def as_user(uid: int) -> Iterator[None]:
    """Reach files as `uid` does (the file-system identity of this thread only), then
    as root again: the supervisor keeps CAP_SETUID, so it may switch back."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(uid)
    libc.setfsgid(uid)
    try:
        yield
    finally:
        libc.setfsuid(0)
        libc.setfsgid(0)


class Frames(io.RawIOBase):
    """A write-only file whose bytes leave in frames of at most CHUNK_BYTES."""

    def __init__(self, send_piece: Callable[[bytes], None], max_bytes: int) -> None:
        self.send_piece = send_piece
        self.room = max_bytes - END_BYTES
        self.sent = 0

    def fits(self, size: int) -> bool:
        """Whether an entry of `size` bytes still fits within the cap."""
        return self.sent + ENTRY_OVERHEAD_BYTES + size <= self.room

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        view = memoryview(data)
        for start in range(0, len(view), CHUNK_BYTES):
            self.send_piece(bytes(view[start : start + CHUNK_BYTES]))
        self.sent += len(view)
        return len(view)


def _entries(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """(relative path, lstat) of what is under root, folders first, links not followed."""
    count = 0
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        rel = os.path.relpath(folder, root)
        for name in [*dirs, *sorted(files)]:
            count += 1
            if count > MAX_ENTRIES:
                return
            path = name if rel == "." else f"{rel}/{name}"
            try:
                yield path, os.lstat(os.path.join(root, path))
            except OSError:
                continue


def _read(path: str, info: os.stat_result) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size <= info.st_size:
            chunk = os.read(fd, info.st_size + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def save(root: str, send_piece: Callable[[bytes], None], *, uid: int, max_bytes: int) -> dict:
    """The working directory as a tar in T frames; what went in and what did not."""
    out = Frames(send_piece, max_bytes)
    skipped: list[dict] = []
    files = 0

    def skip(path: str, reason: str) -> None:
        if len(skipped) < MAX_LISTED:
            skipped.append({"path": path, "reason": reason})

    with as_user(uid), tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for path, info in _entries(root):
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            if not out.fits(size):
                skip(path, "past the session's cap on saved files")
                continue
            entry = tarfile.TarInfo(path)
            entry.mode, entry.mtime = stat.S_IMODE(info.st_mode), int(info.st_mtime)
            if stat.S_ISDIR(info.st_mode):
                entry.type = tarfile.DIRTYPE
                tar.addfile(entry)
            elif stat.S_ISLNK(info.st_mode):
                entry.type = tarfile.SYMTYPE
                try:
                    entry.linkname = os.readlink(os.path.join(root, path))
                except OSError:
                    continue
                tar.addfile(entry)
            elif not stat.S_ISREG(info.st_mode):
                skip(path, "not a regular file")
            else:
                data = _read(os.path.join(root, path), info)
                if data is None or not out.fits(len(data)):
                    skip(path, "could not be read whole")
                    continue
                entry.size = len(data)
                tar.addfile(entry, io.BytesIO(data))
                files += 1
    return {"bytes": out.sent, "files": files, "skipped": skipped}


def restore(source: object, root: str, *, uid: int) -> dict:
    """Unpack a saved working directory into root; what came back and what did not."""
    restored, skipped = 0, []
    with as_user(uid):
        try:
            with tarfile.open(fileobj=source, mode="r|") as tar:
                for member in tar:
                    try:
                        tar.extract(member, root, filter="data")
                        restored += member.isfile()
                    except (tarfile.FilterError, OSError) as exc:
                        if len(skipped) < MAX_LISTED:
                            skipped.append({"path": member.name[:1024], "reason": str(exc)[:200]})
        except (tarfile.TarError, OSError, EOFError) as exc:
            skipped.append({"path": "", "reason": f"the saved files are damaged: {exc}"[:200]})
    return {"files": restored, "skipped": skipped}


def keep_files(root: str, message: dict, send, uid: int) -> None:  # type: ignore[no-untyped-def]
    """A call's output files, collected as collect.py does for runs, but with the
    session's worker left alive: read as the sandbox user, links never followed."""
    import collect

    with as_user(uid):
        collect.send_files(root, message, send)
