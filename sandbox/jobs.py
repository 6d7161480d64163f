"""What the engine is asked to run, and what it gives back."""

import binascii
import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sandbox import languages, limits
from sandbox.egress.policy import parse_rules
from sandbox.errors import JobInvalid
from sandbox.languages import Language


class JobKind(StrEnum):
    SCRIPT = "script"
    FUNCTION = "function"
    # A session's opening (its env, files and egress; no code), then each of its cells.
    SESSION = "session"
    CELL = "cell"


class RunStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    OUT_OF_MEMORY = "out_of_memory"
    STOPPED = "stopped"
    ERROR = "error"


class OutputStatus(StrEnum):
    VALID = "valid"
    JSON_SERIALIZATION_ERROR = "json_serialization_error"
    ERROR = "error"


@dataclass(frozen=True)
class File:
    path: str
    contents: str
    # "utf-8" text, or "base64" for binary input (a spreadsheet, an image).
    encoding: str = "utf-8"


FILE_ENCODINGS = ("utf-8", "base64")


@dataclass(frozen=True)
class OutputCaps:
    """How much a run may give back besides its output: display() results and files."""

    results_max: int = limits.RESULTS_MAX
    results_max_bytes: int = limits.RESULTS_MAX_BYTES
    files_max: int = limits.OUTPUT_FILES_MAX
    file_max_bytes: int = limits.OUTPUT_FILE_MAX_BYTES
    files_max_bytes: int = limits.OUTPUT_FILES_MAX_BYTES


@dataclass
class OutputFile:
    """A file the run wrote and asked to keep: its bytes, or why it was skipped."""

    path: str
    size: int = 0
    sha256: str = ""
    content_type: str = ""
    data: bytes = b""
    skipped: str = ""


@dataclass(frozen=True)
class Limits:
    execution_timeout_s: int = limits.DEFAULT_TIMEOUT_S
    memory_mib: int = limits.DEFAULT_MEMORY_MIB


@dataclass(frozen=True)
class Job:
    kind: JobKind
    language: Language
    code: str
    args: Sequence[str] = ()
    stdin: str = ""
    input: Any = None
    env: Mapping[str, str] = field(default_factory=dict)
    files: Sequence[File] = ()
    limits: Limits = Limits()
    # http.allow as the API took it: hosts and their credentials. It stays on the host
    # side, with the run's egress proxy: to_wire says only that there is one.
    http_allow: Sequence[Mapping[str, Any]] = ()
    # The image to run on; None is the current base image.
    image: str | None = None
    # Lets a caller stop the run while it goes (Engine.stop).
    run_id: str = ""
    # Whose run it is: slots are shared out in turn between tenants (sandbox/admission.py).
    tenant: str = ""
    # Glob patterns, relative to the working directory, of files to keep after the run.
    output_files: Sequence[str] = ()
    # stdin stays open while the run goes, for its owner to type into (Engine.send_stdin).
    live_stdin: bool = False

    def to_wire(self, caps: OutputCaps = OutputCaps(), **more: Any) -> bytes:
        """The message the supervisor inside the container receives (a run's only one;
        a session's first, or one of its cells)."""
        return json.dumps(
            {
                **more,
                "kind": self.kind.value,
                "language": self.language.value,
                "code": self.code,
                "args": list(self.args),
                "stdin": self.stdin,
                "input": self.input,
                "env": dict(self.env),
                "files": [
                    {"path": f.path, "contents": f.contents, "encoding": f.encoding}
                    for f in self.files
                ],
                "limits": {"execution_timeout": self.limits.execution_timeout_s},
                "egress": bool(self.http_allow),
                "live_stdin": self.live_stdin,
                "results_max": caps.results_max,
                "results_max_bytes": caps.results_max_bytes,
                "output_files": list(self.output_files),
                "output_caps": {
                    "max_files": caps.files_max,
                    "file_max_bytes": caps.file_max_bytes,
                    "files_max_bytes": caps.files_max_bytes,
                },
            }
        ).encode()


@dataclass
class RunResult:
    status: RunStatus
    exit_code: int
    stdout: str
    stderr: str
    duration_ms: int
    output: Any = None
    output_status: OutputStatus | None = None
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    # Every request the run made through its egress proxy (EgressEntry.as_dict()).
    egress: list[dict[str, Any]] = field(default_factory=list)
    # display() results: Jupyter display_data bundles, checked.
    results: list[dict[str, Any]] = field(default_factory=list)
    # Files kept after the run, as output_files asked.
    files: list[OutputFile] = field(default_factory=list)
    # A session's call that raised: {name, value, traceback: [lines]}, as Jupyter's error.
    error: dict[str, Any] | None = None
    # Why the session cannot go on after this call ("" when it can).
    session_ended: str = ""


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _check_text(field_name: str, text: str, max_bytes: int) -> None:
    if "\x00" in text:
        raise JobInvalid(field_name, "must not contain NUL characters")
    if _utf8_len(text) > max_bytes:
        raise JobInvalid(field_name, f"is larger than {max_bytes} bytes")


def validate_file_path(path: str) -> str:
    """Why a path is refused, or "" when it is a safe path inside the working directory."""
    if not path:
        return "must not be empty"
    if "\x00" in path:
        return "must not contain NUL characters"
    if len(path) > limits.MAX_FILE_PATH_CHARS:
        return f"is longer than {limits.MAX_FILE_PATH_CHARS} characters"
    if path.startswith("/"):
        return "must be relative to the working directory, not absolute"
    parts = path.split("/")
    if ".." in parts:
        return "must not climb out of the working directory with '..'"
    if posixpath.normpath(path) in (".", "") or path.endswith("/"):
        return "must name a file, not a folder"
    return ""


def _file_size(i: int, f: File) -> int:
    """The file's size as written, checked: text without NUL, or strict base64."""
    if f.encoding not in FILE_ENCODINGS:
        raise JobInvalid(f"files.{i}.encoding", f"must be one of {', '.join(FILE_ENCODINGS)}")
    if f.encoding == "base64":
        try:
            return len(binascii.a2b_base64(f.contents.encode("ascii"), strict_mode=True))
        except (ValueError, UnicodeEncodeError, binascii.Error):
            raise JobInvalid(f"files.{i}.contents", "is not base64") from None
    if "\x00" in f.contents:
        raise JobInvalid(f"files.{i}.contents", "must not contain NUL characters")
    return _utf8_len(f.contents)


def _check_output_files(patterns: Sequence[str]) -> None:
    if len(patterns) > limits.OUTPUT_FILE_PATTERNS_MAX:
        raise JobInvalid(
            "output_files", f"has more than {limits.OUTPUT_FILE_PATTERNS_MAX} patterns"
        )
    for i, pattern in enumerate(patterns):
        if not pattern or "\x00" in pattern or len(pattern) > limits.MAX_FILE_PATH_CHARS:
            raise JobInvalid(f"output_files.{i}", "must be a glob pattern of a path")
        if pattern.startswith("/"):
            raise JobInvalid(f"output_files.{i}", "must be relative to the working directory")
        if ".." in pattern.split("/"):
            raise JobInvalid(f"output_files.{i}", "must not climb out with '..'")


def validate_job(job: Job, *, max_timeout_s: int, max_memory_mib: int) -> None:
    """Raise JobInvalid, naming the field, for anything that must not reach a container."""
    if not isinstance(job.language, Language):
        raise JobInvalid("language", f"must be one of {languages.names()}")
    _check_text("code", job.code, limits.MAX_CODE_BYTES)
    _check_text("stdin", job.stdin, limits.MAX_STDIN_BYTES)
    if len(job.args) > limits.MAX_ARGS:
        raise JobInvalid("args", f"has more than {limits.MAX_ARGS} items")
    for i, arg in enumerate(job.args):
        _check_text(f"args.{i}", arg, limits.MAX_ARG_BYTES)
    if len(job.env) > limits.MAX_ENV_VARS:
        raise JobInvalid("env", f"has more than {limits.MAX_ENV_VARS} variables")
    env_bytes = 0
    for name, value in job.env.items():
        if not name or "=" in name or "\x00" in name:
            raise JobInvalid(f"env.{name}", "a variable name must be non-empty, without '=' or NUL")
        _check_text(f"env.{name}", value, limits.MAX_ENV_BYTES)
        env_bytes += _utf8_len(name) + _utf8_len(value)
    if env_bytes > limits.MAX_ENV_BYTES:
        raise JobInvalid("env", f"is larger than {limits.MAX_ENV_BYTES} bytes in all")
    if len(job.files) > limits.MAX_FILES:
        raise JobInvalid("files", f"has more than {limits.MAX_FILES} files")
    files_bytes = 0
    seen: set[str] = set()
    for i, f in enumerate(job.files):
        reason = validate_file_path(f.path)
        if reason:
            raise JobInvalid(f"files.{i}.path", reason)
        normalised = posixpath.normpath(f.path)
        if normalised in seen:
            raise JobInvalid(f"files.{i}.path", f"names {normalised!r} a second time")
        seen.add(normalised)
        files_bytes += _file_size(i, f)
    if files_bytes > limits.MAX_FILES_BYTES:
        raise JobInvalid("files", f"are larger than {limits.MAX_FILES_BYTES} bytes in all")
    if job.kind is JobKind.FUNCTION and job.input is not None:
        size = len(json.dumps(job.input))
        if size > limits.MAX_INPUT_BYTES:
            raise JobInvalid("input", f"is larger than {limits.MAX_INPUT_BYTES} bytes as JSON")
    _check_output_files(job.output_files)
    parse_rules(job.http_allow)  # JobInvalid naming the entry at fault
    timeout = job.limits.execution_timeout_s
    if not limits.MIN_TIMEOUT_S <= timeout <= max_timeout_s:
        raise JobInvalid(
            "limits.execution_timeout",
            f"must be between {limits.MIN_TIMEOUT_S} and {max_timeout_s} seconds",
        )
    memory = job.limits.memory_mib
    if not limits.MIN_MEMORY_MIB <= memory <= max_memory_mib:
        raise JobInvalid(
            "limits.memory_size",
            f"must be between {limits.MIN_MEMORY_MIB} and {max_memory_mib} MiB",
        )
