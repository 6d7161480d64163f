"""Response bodies of the /v1 API, field for field as Riza's client has them (its
types/ folder is the reference), with Sandpit's additions marked "ours"."""

from datetime import datetime
from typing import Annotated, Any, Literal

from ninja import Schema
from pydantic import Field

from playground.api.schemas import LanguageName, OutputStatusName
from playground.runs.selectors import MAX_PAGE


class FileOut(Schema):
    """A file the run kept: where to fetch it, or why it was skipped."""

    path: str
    size: int = 0
    sha256: str | None = None
    content_type: str | None = None
    url: str | None = None
    skipped: str | None = None


class ResultOut(Schema):
    """A Jupyter display_data bundle: {mime type: value} and its metadata."""

    data: dict[str, Any]
    metadata: dict[str, Any] = {}


class ExecuteOut(Schema):
    id: str
    exit_code: int
    stdout: str
    stderr: str
    duration: int
    # Ours, beyond Riza's fields: whether the output passed its cap and was cut, the
    # display() results, and the files kept (output_files).
    stdout_truncated: bool = False
    stderr_truncated: bool = False
    results: list[ResultOut] = []
    files: list[FileOut] = []


class ExecuteFunctionOut(Schema):
    output: Any = None
    output_status: OutputStatusName
    execution: ExecuteOut


class ScriptDetails(Schema):
    type: Literal["script"]
    request: dict[str, Any]
    response: ExecuteOut


class FunctionDetails(Schema):
    type: Literal["function"]
    request: dict[str, Any]
    response: ExecuteFunctionOut


class ToolDetails(Schema):
    type: Literal["tool"]
    tool_id: str
    request: dict[str, Any]
    response: ExecuteFunctionOut


class CallErrorOut(Schema):
    """What a session's call raised, as Jupyter's error output has it."""

    name: str
    value: str
    traceback: list[str]


class SessionCallOut(ExecuteOut):
    session_id: str
    error: CallErrorOut | None = None


class SessionDetails(Schema):
    type: Literal["session"]
    session_id: str
    request: dict[str, Any]
    response: SessionCallOut


# Riza's client tells the kinds apart by `type`, and requires what each kind carries.
ExecutionDetails = Annotated[
    ScriptDetails | FunctionDetails | ToolDetails | SessionDetails, Field(discriminator="type")
]


class EgressOut(Schema):
    method: str
    host: str
    port: int
    path: str
    status: int | None = None
    bytes_sent: int = 0
    bytes_received: int = 0
    duration_ms: int = 0
    credential_added: bool = False
    refused: str = ""


class ExecutionOut(Schema):
    id: str
    duration: int
    exit_code: int
    language: LanguageName
    started_at: datetime
    # Ours, beyond Riza's fields: queued, running, succeeded, failed, timed_out,
    # out_of_memory, stopped, error.
    status: str
    details: ExecutionDetails | None = None
    # Ours: every request the run made through http.allow, without credentials; the
    # display() results; the files kept.
    egress: list[EgressOut] = []
    results: list[ResultOut] = []
    files: list[FileOut] = []


class ExecutionListOut(Schema):
    data: list[ExecutionOut]


class PageQuery(Schema):
    """A list's page: at most `limit`, after the id `starting_after` (newest first)."""

    limit: int = Field(MAX_PAGE, ge=1, le=MAX_PAGE)
    starting_after: str | None = None


class DeletedOut(Schema):
    id: str
    deleted: bool
