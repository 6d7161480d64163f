"""Output files: after the run, however it ended, the files its request named.

The supervisor first kills every process left in the container (the code's, and any it
hid from its process group), so nothing changes a file while it is read; then it reads
with the sandbox user's file-system identity (setfsuid), so it reaches no file the code
could not. Files are matched by walking the working directory without following a
symbolic link, judged by lstat, opened with O_NOFOLLOW, checked against the caps before
a byte is read, and sent in bounded frames:

    P  a file     JSON: {"path", "size"} then that many bytes in B frames,
                  or {"path", "skipped": reason} and no bytes
    B  its bytes  at most CHUNK_BYTES each
"""

import ctypes
import glob
import json
import os
import re
import stat

FILE = b"P"
BYTES = b"B"
CHUNK_BYTES = 256 * 1024
# Entries of the working directory looked at, at most: a run that made a million files
# gets the first of them, not a minute of walking.
MAX_ENTRIES = 20_000
# Skipped files listed beyond the kept ones, at most.
MAX_SKIPPED = 32
# A path the engine keeps (sandbox/limits.py MAX_FILE_PATH_CHARS), and the stand-in
# listed for one it would not.
MAX_PATH_CHARS = 1024
STAND_IN_CHARS = 200
SIGKILL = 9


def kill_the_rest() -> None:
    """SIGKILL to every process but init and this one, until none is left."""
    for _ in range(100):
        try:
            os.kill(-1, SIGKILL)
        except ProcessLookupError:
            return  # nobody was left to signal
        except PermissionError:
            return
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass


def as_user(uid: int) -> None:
    """Reach files as `uid` does from now on (the file-system identity only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.setfsuid(uid)
    libc.setfsgid(uid)


def _matcher(patterns: list[str]) -> "re.Pattern[str]":
    parts = [glob.translate(p, recursive=True, include_hidden=True) for p in patterns]
    return re.compile("|".join(f"(?:{part})" for part in parts))


def _walk(root: str) -> list[str]:
    """Paths under root, relative, without following a link; at most MAX_ENTRIES."""
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        rel = os.path.relpath(folder, root)
        for name in sorted(files) + sorted(
            d for d in dirs if os.path.islink(os.path.join(folder, d))
        ):
            found.append(name if rel == "." else f"{rel}/{name}")
            if len(found) >= MAX_ENTRIES:
                return found
        dirs.sort()
    return found


def keep_files(root: str, job: dict, send, uid: int) -> None:  # type: ignore[no-untyped-def]
    """Kill what is left, take the sandbox user's file-system identity, send the files."""
    kill_the_rest()  # nothing may change a file while it is read
    as_user(uid)
    send_files(root, job, send)


def send_files(root: str, job: dict, send) -> None:  # type: ignore[no-untyped-def]
    patterns = job["output_files"]
    caps = job["output_caps"]
    matches = _matcher(patterns)
    kept = skipped = 0
    total = 0
    for rel in _walk(root):
        if not matches.fullmatch(rel):
            continue
        path = os.path.join(root, rel)
        shown = _shown(rel)
        if shown != rel:
            reason, data = "its name is not printable UTF-8 of at most 1024 characters", None
            rel = shown
        else:
            reason, data = _read(path, caps["file_max_bytes"], caps["files_max_bytes"] - total)
        if not reason and kept >= caps["max_files"]:
            reason, data = f"more than {caps['max_files']} files", None
        if reason:
            skipped += 1
            if skipped <= MAX_SKIPPED:
                send(FILE, json.dumps({"path": rel, "skipped": reason}).encode())
            continue
        assert data is not None
        kept += 1
        total += len(data)
        send(FILE, json.dumps({"path": rel, "size": len(data)}).encode())
        for start in range(0, len(data), CHUNK_BYTES):
            send(BYTES, data[start : start + CHUNK_BYTES])


def _shown(rel: str) -> str:
    """The name as a URL, a header and a database can carry it: itself when it is
    printable UTF-8 of at most MAX_PATH_CHARS, else a stand-in (listed as skipped)."""
    if len(rel) <= MAX_PATH_CHARS and rel.isprintable():
        try:
            rel.encode("utf-8")
            return rel
        except UnicodeEncodeError:
            pass
    text = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return "".join(c if c.isprintable() else "?" for c in text)[:STAND_IN_CHARS]


def _read(path: str, file_max: int, room: int) -> tuple[str, bytes | None]:
    try:
        info = os.lstat(path)
    except OSError as exc:
        return f"could not be read ({exc.strerror})", None
    if stat.S_ISLNK(info.st_mode):
        return "a symbolic link, not followed", None
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file", None
    if info.st_size > file_max:
        return f"larger than {file_max} bytes", None
    if info.st_size > room:
        return "past the run's total for output files", None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as exc:
        return f"could not be read ({exc.strerror})", None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "not a regular file", None
        data = os.read(fd, info.st_size + 1) if info.st_size else b""
        while len(data) <= info.st_size:
            more = os.read(fd, info.st_size + 1 - len(data))
            if not more:
                break
            data += more
    except OSError as exc:
        return f"could not be read ({exc.strerror})", None
    finally:
        os.close(fd)
    if len(data) != info.st_size:
        return "changed while it was read", None
    return "", data
