"""MCP's session tools: open a session, run code in it, end it. The same sessions as
/v1/sessions (the same intake, services and records), so that an assistant keeps its
variables and files across its tool calls; another owner's session does not exist."""

from typing import Any

import mcp.types as types
from django.contrib.auth.models import User

from playground.models import Execution, Session
from playground.runs import intake
from playground.sessions import selectors, services
from playground.sessions.serializers import session_state
from sandbox import limits
from sandbox.errors import Invalid
from sandbox.languages import LANGUAGES

SESSION_ID = {"type": "string", "description": "the id open_session gave"}
OPEN_SESSION = types.Tool(
    name="open_session",
    description=(
        "Open a session: a sandbox kept for you, in which successive run_in_session calls "
        "share variables, imports, functions and files, like a notebook's cells. Idle for "
        "idle_timeout seconds it pauses (its files kept) and wakes at its next call. End "
        "it with end_session when you are done."
    ),
    inputSchema={
        "type": "object",
        "properties": {
            "language": {"type": "string", "enum": list(LANGUAGES)},
            "idle_timeout": {
                "type": "integer",
                "minimum": limits.SESSION_MIN_IDLE_TIMEOUT_S,
                "maximum": limits.SESSION_MAX_IDLE_TIMEOUT_S,
                "description": "seconds unused before it pauses; default 600",
            },
            "runtime_revision_id": {"type": "string", "description": "a custom runtime's"},
        },
        "required": ["language"],
    },
)
RUN_IN_SESSION = types.Tool(
    name="run_in_session",
    description=(
        "Run code in an open session, as the next cell of a notebook: what earlier calls "
        "defined is there. The value of the code's last expression comes back in "
        "`results` (Python: a last bare expression; JavaScript and TypeScript: the last "
        "statement's value, top-level await allowed); an exception comes back as `error` "
        "{name, value, traceback}, and the session goes on. Past `timeout` seconds "
        "(default 30) the code is interrupted, and the session's state is kept."
    ),
    inputSchema={
        "type": "object",
        "properties": {
            "session_id": SESSION_ID,
            "code": {"type": "string"},
            "stdin": {"type": "string"},
            "timeout": {"type": "integer", "minimum": limits.MIN_TIMEOUT_S},
        },
        "required": ["session_id", "code"],
    },
)
END_SESSION = types.Tool(
    name="end_session",
    description="End a session: its sandbox and files are gone, its calls stay on the record.",
    inputSchema={
        "type": "object",
        "properties": {"session_id": SESSION_ID},
        "required": ["session_id"],
    },
)
TOOLS = {tool.name: tool for tool in (OPEN_SESSION, RUN_IN_SESSION, END_SESSION)}


def session_answer(session: Session) -> dict[str, Any]:
    """The API's Session, as JSON (its times as ISO 8601)."""
    state = session_state(session)
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in state.items()}


async def _owned(owner: User, arguments: dict[str, Any]) -> Session:
    session = await selectors.session_get(owner=owner, session_id=arguments.get("session_id"))
    if session is None:
        raise Invalid("session_id", f"no session {arguments.get('session_id')!r} of yours")
    return session


async def open_session(owner: User, arguments: dict[str, Any]) -> dict[str, Any]:
    caller = intake.api_caller(owner, intake.Via.MCP)
    opening = await intake.session_opening(caller, arguments)
    return session_answer(await services.session_open(opening))


async def run_in_session(owner: User, arguments: dict[str, Any]) -> Execution:
    session = await _owned(owner, arguments)
    body: dict[str, Any] = {"code": arguments["code"]}
    if "stdin" in arguments:
        body["stdin"] = arguments["stdin"]
    if "timeout" in arguments:
        body["limits"] = {"execution_timeout": arguments["timeout"]}
    caller = intake.api_caller(owner, intake.Via.MCP)
    submission = await intake.submission(caller, body, Execution.Kind.SESSION, session=session)
    return await services.session_call(session=session, submission=submission)


async def end_session(owner: User, arguments: dict[str, Any]) -> dict[str, Any]:
    session = await _owned(owner, arguments)
    return session_answer(await services.session_end(session=session))
