"""One intake: how any request becomes a run.

Every entry point — `/v1/execute` and `/v1/execute-function`, a tool's execute (API and
page), the playground's `POST /runs`, MCP's `run_code` and saved tools, a session's call
(API and MCP) — says who is calling (a `Caller`: owner, allowance, how they came) and
hands over the body; here, in one order for all of them:

1. the body against one schema tree (playground/api/schemas.py) for its kind;
2. the caller's allowance: a caller with no network (a guest) asks for none, and limits
   nobody asked for are lowered to the caller's ceilings;
3. a tool's input against its revision's schema (in the checkers' processes);
4. secrets (`env` and `http.allow` credentials by `secret_id`) resolved on the host;
5. one `validate_job` against the allowance.

Bodies are bounded before this (playground/front_door.py, playground/api/bodies.py),
and what comes out goes to services.execution_accept, which records and runs it. A
session's opening (`session_opening`) passes the same steps but a tool's: its env,
files, network and memory are a run's, checked as a run's, for all its calls to come.
"""

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from pydantic import BaseModel, ValidationError

from playground.api.errors import field_of, validation_error
from playground.api.schemas import (
    ExecuteFunctionIn,
    ExecuteIn,
    LimitsIn,
    RunIn,
    SessionExecuteIn,
    SessionIn,
    ToolExecIn,
)
from playground.models import Execution, Session, Tool, ToolRevision
from playground.runs.services import Submission
from playground.secrets import vault
from playground.sessions.services import Opening
from playground.tools.services import check_input, revision_of
from sandbox import limits
from sandbox.errors import JobInvalid
from sandbox.jobs import Job, JobKind, Limits, validate_job
from sandbox.languages import Language

Kind = Execution.Kind


class Via(StrEnum):
    API = "api"
    PLAYGROUND = "playground"
    MCP = "mcp"


@dataclass(frozen=True)
class Caller:
    """Who asks for a run, what they may ask for, and how they came."""

    owner: User
    via: Via
    max_timeout_s: int
    max_memory_mib: int
    may_reach_network: bool = True
    # Sessions, each holding a sandbox while it is live: how many at once (None: the
    # owner's cap, SANDPIT_SESSIONS_PER_OWNER), and the longest idle time before a pause.
    max_sessions: int | None = None
    max_idle_timeout_s: int = limits.SESSION_MAX_IDLE_TIMEOUT_S


def api_caller(owner: User, via: Via = Via.API) -> Caller:
    """A key holder (the API, MCP) or a signed-in user: the engine's own ceilings."""
    return Caller(owner, via, settings.SANDBOX_MAX_TIMEOUT_S, settings.SANDBOX_MAX_MEMORY_MIB)


def guest_caller(owner: User) -> Caller:
    """A guest of the playground: lower ceilings, and no network (the playground must not
    be an anonymous open proxy); fewer sessions, paused sooner (the notebook's)."""
    return Caller(
        owner,
        Via.PLAYGROUND,
        min(settings.PLAYGROUND_GUEST_MAX_TIMEOUT_S, settings.SANDBOX_MAX_TIMEOUT_S),
        min(settings.PLAYGROUND_GUEST_MAX_MEMORY_MIB, settings.SANDBOX_MAX_MEMORY_MIB),
        may_reach_network=False,
        max_sessions=settings.PLAYGROUND_GUEST_SESSIONS,
        max_idle_timeout_s=settings.PLAYGROUND_GUEST_SESSION_IDLE_S,
    )


SCHEMAS: dict[Kind, type[BaseModel]] = {
    Kind.SCRIPT: ExecuteIn,
    Kind.FUNCTION: ExecuteFunctionIn,
    Kind.TOOL: ToolExecIn,
    Kind.SESSION: SessionExecuteIn,
}


async def submission(
    caller: Caller,
    body: Mapping[str, Any] | BaseModel,
    kind: Kind,
    tool: Tool | None = None,
    session: Session | None = None,
) -> Submission:
    """The run `body` asks for (of a tool, or a call in a session, when it is one),
    checked and resolved; JobInvalid (or ApiError 400) naming the field at fault. `body`
    is a parsed JSON object, or the API's model of it."""
    parsed = await _parsed(body, SCHEMAS[kind])
    if kind is Kind.TOOL:
        assert tool is not None and isinstance(parsed, ToolExecIn)
        return await _tool_submission(caller, parsed, tool)
    if kind is Kind.SESSION:
        assert session is not None and isinstance(parsed, SessionExecuteIn)
        return _call_submission(caller, parsed, session)
    assert isinstance(parsed, ExecuteIn | ExecuteFunctionIn)
    _check_network(caller, parsed)
    job = _within_allowance(caller, parsed.to_job(), parsed.limits)
    allow = await vault.resolve_http(owner=caller.owner, allow=job.http_allow)
    job = replace(job, http_allow=tuple(allow))
    _validate(caller, job)
    request = parsed.model_dump(exclude_none=True)
    if kind is Kind.FUNCTION:
        request["input"] = job.input  # None is a value a function may be given
    return Submission(
        owner=caller.owner,
        kind=kind,
        job=job,
        request=_noted(caller, request),
        runtime_revision_id=parsed.runtime_revision_id,
    )


async def _tool_submission(caller: Caller, parsed: ToolExecIn, tool: Tool) -> Submission:
    _check_network(caller, parsed)
    revision: ToolRevision = await revision_of(tool, parsed.revision_id)
    await check_input(caller.owner, revision.input_schema, parsed.input)
    job = Job(
        kind=JobKind.FUNCTION,
        language=Language(revision.language),
        code=revision.code,
        input=parsed.input,
        env=await vault.resolve_env(
            owner=caller.owner, env=[e.model_dump(exclude_none=True) for e in parsed.env or []]
        ),
        http_allow=tuple(
            await vault.resolve_http(
                owner=caller.owner,
                allow=[r.model_dump(exclude_none=True) for r in _allow(parsed)],
            )
        ),
        limits=Limits(),
        output_files=tuple(parsed.output_files or ()),
    )
    _validate(caller, job)
    request = parsed.model_dump(exclude_none=True) | {
        "input": parsed.input,
        "revision_id": revision.id,
    }
    return Submission(
        owner=caller.owner,
        kind=Kind.TOOL,
        job=job,
        request=_noted(caller, request),
        runtime_revision_id=revision.runtime_revision_id or None,
        tool=(tool.id, revision.id),
    )


def _call_submission(caller: Caller, parsed: SessionExecuteIn, session: Session) -> Submission:
    """A cell for the session's sandbox: its code, stdin, time and files to keep; the
    session's language, image and memory."""
    asked = parsed.limits.execution_timeout if parsed.limits else None
    timeout = min(limits.DEFAULT_TIMEOUT_S, caller.max_timeout_s) if asked is None else asked
    job = Job(
        kind=JobKind.CELL,
        language=Language(session.language),
        code=parsed.code,
        stdin=parsed.stdin or "",
        limits=Limits(execution_timeout_s=timeout, memory_mib=session.memory_mib),
        output_files=tuple(parsed.output_files or ()),
        image=session.image or None,
    )
    _validate(caller, job)
    return Submission(
        owner=caller.owner,
        kind=Kind.SESSION,
        job=job,
        request=_noted(caller, parsed.model_dump(exclude_none=True)),
        runtime_revision_id=session.runtime_revision_id or None,
        session_id=session.id,
    )


async def session_opening(caller: Caller, body: Mapping[str, Any] | BaseModel) -> Opening:
    """The session `body` asks for, checked as a run's env, files, network and memory
    are, with its secrets resolved; JobInvalid (or ApiError 400) naming the field."""
    parsed = await _parsed(body, SessionIn)
    assert isinstance(parsed, SessionIn)
    _check_network(caller, parsed)
    job = parsed.to_job()
    if parsed.limits is None or parsed.limits.memory_size is None:
        lowered = min(job.limits.memory_mib, caller.max_memory_mib)
        job = replace(job, limits=replace(job.limits, memory_mib=lowered))
    allow = await vault.resolve_http(owner=caller.owner, allow=job.http_allow)
    job = replace(job, http_allow=tuple(allow))
    _validate(caller, job)
    low, high = limits.SESSION_MIN_IDLE_TIMEOUT_S, caller.max_idle_timeout_s
    default = min(limits.SESSION_IDLE_TIMEOUT_S, high)
    idle = default if parsed.idle_timeout is None else parsed.idle_timeout
    if not low <= idle <= high:
        raise JobInvalid("idle_timeout", f"must be between {low} and {high} seconds")
    return Opening(
        owner=caller.owner,
        job=job,
        request=_noted(caller, parsed.model_dump(exclude_none=True)),
        runtime_revision_id=parsed.runtime_revision_id,
        idle_timeout_s=idle,
        max_sessions=caller.max_sessions,
    )


async def _parsed(body: Mapping[str, Any] | BaseModel, schema: type[BaseModel]) -> BaseModel:
    if isinstance(body, schema):
        return body  # the API's framework checked it against this very schema
    data = body.model_dump() if isinstance(body, BaseModel) else body
    try:
        # Off the loop: a large body's check is CPU work.
        return await asyncio.to_thread(schema.model_validate, data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise validation_error(dict(first), field_of(first["loc"])) from None


def _allow(parsed: RunIn | ToolExecIn | SessionIn) -> list[Any]:
    return list(parsed.http.allow or []) if parsed.http else []


def _check_network(caller: Caller, parsed: RunIn | ToolExecIn | SessionIn) -> None:
    if _allow(parsed) and not caller.may_reach_network:
        raise JobInvalid("http", "sign in to let a run reach the network")


def _within_allowance(caller: Caller, job: Job, asked: LimitsIn | None) -> Job:
    """Limits nobody asked for lowered to the caller's ceilings; asked-for ones are left
    for validate_job to refuse past them."""
    asked = asked or LimitsIn()
    timeout = job.limits.execution_timeout_s
    memory = job.limits.memory_mib
    return replace(
        job,
        limits=Limits(
            execution_timeout_s=timeout
            if asked.execution_timeout is not None
            else min(timeout, caller.max_timeout_s),
            memory_mib=memory
            if asked.memory_size is not None
            else min(memory, caller.max_memory_mib),
        ),
    )


def _validate(caller: Caller, job: Job) -> None:
    validate_job(job, max_timeout_s=caller.max_timeout_s, max_memory_mib=caller.max_memory_mib)


def _noted(caller: Caller, request: dict[str, Any]) -> dict[str, Any]:
    """The request as kept: MCP's calls say they came through MCP."""
    return {**request, "via": caller.via.value} if caller.via is Via.MCP else request
