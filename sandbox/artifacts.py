"""What a run gives back besides its output: display() results and kept files, read from
the supervisor's D, P and B frames as hostile input.

The supervisor checked each result already (sandbox/agent/bundles.py); it is checked
again here with the same rules, since a subverted supervisor could send anything, and
every cap is counted here again. A file's bytes must add up to the size its P frame
declared before another file starts; its path must be a safe relative path.
"""

import hashlib
import importlib.util
import mimetypes
from types import ModuleType
from typing import Any

from sandbox import strict_json
from sandbox.images import AGENT_DIR
from sandbox.jobs import OutputCaps, OutputFile, validate_file_path
from sandbox.protocol import Frame, ProtocolError


def _agent_module(name: str) -> ModuleType:
    """One of the agent's modules (standard library only), the very file the image has."""
    spec = importlib.util.spec_from_file_location(f"sandpit_agent_{name}", AGENT_DIR / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bundles = _agent_module("bundles")
ARTIFACT_FRAMES = (Frame.DISPLAY, Frame.FILE, Frame.FILE_BYTES)
# Skipped files the supervisor may list beyond the kept ones (its collect.MAX_SKIPPED).
MAX_SKIPPED_FILES = 32


class Artifacts:
    """The results and files of one run, as their frames come."""

    def __init__(self, caps: OutputCaps) -> None:
        self.caps = caps
        self.results: list[dict[str, Any]] = []
        self.files: list[OutputFile] = []
        self._result_bytes = 0
        self._file_bytes = 0
        self._open: OutputFile | None = None
        self._pieces: list[bytes] = []
        self._received = 0
        self._hash = hashlib.sha256()

    def add(self, frame: Frame, payload: bytes) -> None:
        if frame is Frame.DISPLAY:
            self._result(payload)
        elif frame is Frame.FILE:
            self._file(payload)
        else:
            self._bytes(payload)

    def finish(self) -> None:
        """The run is over: a file whose bytes did not all come is not kept."""
        if self._open is not None:
            self._open.skipped = "the run ended before the file was read"
            self._open.size = 0
            self._open = None
            self._pieces = []

    def _result(self, payload: bytes) -> None:
        self._result_bytes += len(payload)
        if len(self.results) >= self.caps.results_max:
            raise ProtocolError("more display results than the cap")
        if self._result_bytes > self.caps.results_max_bytes + 1024 * self.caps.results_max:
            raise ProtocolError("display results past their size cap")
        # The supervisor's own checks, again: each a C-speed pass over at most the cap.
        problem, bundle = bundles.payload_problem(payload)
        problem = problem or bundles.bundle_problem(bundle)
        if problem:
            raise ProtocolError(f"a display result the supervisor should have refused: {problem}")
        assert isinstance(bundle, dict)
        self.results.append({"data": bundle["data"], "metadata": bundle.get("metadata", {})})

    def _file(self, payload: bytes) -> None:
        if self._open is not None:
            raise ProtocolError("a file began before the last one's bytes were all sent")
        if len(self.files) >= self.caps.files_max + MAX_SKIPPED_FILES:
            raise ProtocolError("more output files than the cap")
        try:
            header = strict_json.loads(payload)
            path, skipped = header["path"], header.get("skipped", "")
            size = int(header.get("size", 0))
        except (ValueError, KeyError, TypeError) as exc:
            raise ProtocolError(f"a malformed file frame: {exc}") from None
        if not isinstance(skipped, str) or not isinstance(path, str) or not safe_path(path):
            raise ProtocolError("an output file with an unsafe path")
        entry = OutputFile(path=path, content_type=content_type(path))
        self.files.append(entry)
        if skipped:
            entry.skipped = skipped[:200]
            return
        kept = sum(1 for f in self.files if not f.skipped)
        if kept > self.caps.files_max or not 0 <= size <= self.caps.file_max_bytes:
            raise ProtocolError("an output file past its caps")
        self._file_bytes += size
        if self._file_bytes > self.caps.files_max_bytes:
            raise ProtocolError("output files past their total cap")
        entry.size = size
        self._open, self._pieces, self._hash = entry, [], hashlib.sha256()
        self._received = 0
        if size == 0:
            self._close()

    def _bytes(self, payload: bytes) -> None:
        entry = self._open
        if entry is None:
            raise ProtocolError("file bytes with no file")
        self._pieces.append(payload)
        self._hash.update(payload)
        self._received += len(payload)
        received = self._received
        if received > entry.size:
            raise ProtocolError("more bytes than the file's size")
        if received == entry.size:
            self._close()

    def _close(self) -> None:
        assert self._open is not None
        self._open.data = b"".join(self._pieces)
        self._open.sha256 = self._hash.hexdigest()
        self._open, self._pieces = None, []


def safe_path(path: str) -> bool:
    """A relative path inside the working directory, in valid Unicode with no control
    character: one a URL, a header and a database all carry."""
    if validate_file_path(path) or not path.isprintable():
        return False
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def content_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or "application/octet-stream"
