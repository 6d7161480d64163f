"""Sandpit as an MCP server at /mcp (Streamable HTTP), on the official `mcp` SDK.

Authenticated by the API's keys (`Authorization: Bearer sp_...`). It offers a tool that
runs code, tools that open a session, run code in it and end it (sessions.py), each of
the key owner's saved tools under its own name, description and input schema, and tools
to create and update saved tools. Every call that runs code is an execution on the
record, like an API call.
"""

import asyncio
import contextlib
import importlib.metadata
import json
import logging
import re
from typing import Any

import mcp.types as types
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from mcp.server.lowlevel import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from playground.api.bodies import aparse_json_object
from playground.api.errors import ApiError, api_error_of, error_json
from playground.api.guard import SCOPE_API_KEY, bearer_of, key_in_use
from playground.front_door import respond, www_authenticate
from playground.mcp import sessions
from playground.models import Execution, Tool
from playground.runs import intake, services
from playground.runs.selectors import owned_tools, tool_get
from playground.runs.serializers import api_file, execution_state
from playground.tools import services as tool_services
from sandbox.errors import EngineError, Invalid, SessionError
from sandbox.languages import LANGUAGES

Kind = Execution.Kind
# Pictures an MCP client shows as images; other results stay in the JSON.
MCP_IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
ToolAnswer = tuple[list[types.TextContent | types.ImageContent], dict[str, Any]] | dict[str, Any]
PATH = "/mcp"
# An assistant's tool call: its arguments, a little code. The SDK parses each message on
# the event loop, so what it may hold is kept far below the API's bound.
MCP_MAX_ELEMENTS = 10_000
OWNER_KEY = "sandpit.owner_id"
MCP_NAME = re.compile(r"[^A-Za-z0-9_-]")
LANGUAGE_NAMES = list(LANGUAGES)
log = logging.getLogger(__name__)

RUN_CODE = types.Tool(
    name="run_code",
    description=(
        "Run Python, JavaScript or TypeScript in a fresh sandbox and return its stdout, "
        "stderr, exit code and duration. Function mode is chosen by giving `input` (any "
        "JSON value other than null): the code must then define a function "
        "execute(input), and its return value comes back as `output`. Without `input` "
        "(absent or null) the code runs as a script, with `stdin` as its standard input."
    ),
    inputSchema={
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "the program"},
            "language": {"type": "string", "enum": LANGUAGE_NAMES},
            "input": {
                "type": ["object", "array", "string", "number", "integer", "boolean", "null"],
                "description": "for a function: the argument of execute(input); null: a script",
            },
            "stdin": {"type": "string", "description": "for a script: its standard input"},
        },
        "required": ["code", "language"],
    },
)
TOOL_FIELDS = {
    "name": {"type": "string"},
    "code": {"type": "string", "description": "must define execute(input)"},
    "language": {"type": "string", "enum": LANGUAGE_NAMES},
    "description": {"type": "string"},
    "input_schema": {
        "type": "object",
        "description": 'a JSON Schema for the input, with "type": "object" at its top',
    },
}
CREATE_TOOL = types.Tool(
    name="create_tool",
    description="Save a function as a Sandpit tool; it appears in this list at once.",
    inputSchema={
        "type": "object",
        "properties": TOOL_FIELDS,
        "required": ["name", "code", "language"],
    },
)
UPDATE_TOOL = types.Tool(
    name="update_tool",
    description="Change a saved tool: a new revision, which becomes the current one.",
    inputSchema={
        "type": "object",
        "properties": {"tool_id": {"type": "string"}, **TOOL_FIELDS},
        "required": ["tool_id"],
    },
)
BUILT_IN = {tool.name: tool for tool in (RUN_CODE, CREATE_TOOL, UPDATE_TOOL)} | sessions.TOOLS

# serverInfo: Sandpit and its own version (pyproject.toml's), not the SDK's.
server: Server[Any, Any] = Server("Sandpit", version=importlib.metadata.version("sandpit"))


async def _owner() -> User:
    request = server.request_context.request
    assert request is not None
    return await User.objects.aget(pk=request.scope[OWNER_KEY])


def mcp_name(tool: Tool, taken: set[str]) -> str:
    """The tool's name as MCP allows one; its id when another tool took that name."""
    assert tool.current_revision is not None
    name = MCP_NAME.sub("_", tool.current_revision.name)[:64] or tool.id
    return tool.id if name in taken else name


async def _saved_tools(owner: User) -> dict[str, Tool]:
    taken = set(BUILT_IN)
    found: dict[str, Tool] = {}
    async for tool in owned_tools(owner.pk).order_by("id"):
        name = mcp_name(tool, taken)
        taken.add(name)
        found[name] = tool
    return found


@server.list_tools()  # type: ignore[no-untyped-call, untyped-decorator]
async def list_tools() -> list[types.Tool]:
    saved = await _saved_tools(await _owner())
    listed = list(BUILT_IN.values())
    for name, tool in saved.items():
        revision = tool.current_revision
        assert revision is not None
        schema = listed_schema(revision.input_schema)
        if schema is None:
            log.warning("tool %s is not listed over MCP: its input_schema takes no object", tool.id)
            continue
        listed.append(types.Tool(name=name, description=revision.description, inputSchema=schema))
    return listed


def listed_schema(schema: Any) -> dict[str, Any] | None:
    """A saved tool's input schema as MCP requires one, `"type": "object"` at its top, or
    None when it admits no object.

    Tools saved before that rule was enforced (playground/tools/services.py) may lack the keyword:
    one that admits objects is listed with it, since an MCP call's arguments are always
    an object. One that admits none could never be called, and is left out; listing its
    schema as it is would make clients refuse the whole list, every other tool with it.
    """
    if not schema:
        return {"type": "object"}
    if not isinstance(schema, dict):
        return None
    kind = schema.get("type", "object")
    if kind == "object" or (isinstance(kind, list) and "object" in kind):
        return {**schema, "type": "object"}
    return None


@server.call_tool(validate_input=False)  # type: ignore[untyped-decorator]
async def call_tool(name: str, arguments: dict[str, Any]) -> ToolAnswer:
    """A result as structured content (with a run's pictures as image content); an error
    (a bad input, a busy engine) as an MCP tool error with the API's message."""
    owner = await _owner()
    # Strict tool schemas make a model send every property: null means absent.
    arguments = {k: v for k, v in (arguments or {}).items() if v is not None}
    try:
        if name in BUILT_IN:
            _check_arguments(BUILT_IN[name], arguments)
        if name == RUN_CODE.name:
            return await _run_code(owner, arguments)
        if name in (CREATE_TOOL.name, UPDATE_TOOL.name):
            return await _manage(owner, name, arguments)
        if name == sessions.RUN_IN_SESSION.name:
            return _result(await sessions.run_in_session(owner, arguments))
        if name == sessions.OPEN_SESSION.name:
            return await sessions.open_session(owner, arguments)
        if name == sessions.END_SESSION.name:
            return await sessions.end_session(owner, arguments)
        tool = (await _saved_tools(owner)).get(name)
        if tool is None:
            raise Invalid("name", f"there is no tool named {name!r}")
        caller = intake.api_caller(owner, intake.Via.MCP)
        submission = await intake.submission(caller, {"input": arguments}, Kind.TOOL, tool)
        execution = await services.execution_run(submission)
        return _result(execution)
    except (ApiError, Invalid, EngineError, SessionError) as exc:
        raise ValueError(api_error_of(exc).message) from None


def _check_arguments(tool: types.Tool, arguments: dict[str, Any]) -> None:
    """Invalid naming the argument at fault, unless `arguments` fit the tool's own
    inputSchema (ours, with no patterns: checked here, in microseconds)."""
    error = best_match(Draft202012Validator(tool.inputSchema).iter_errors(arguments))
    if error is None:
        return
    where = [str(p) for p in error.absolute_path]
    if error.validator == "required" and isinstance(error.validator_value, list):
        where = [next(k for k in error.validator_value if k not in arguments)]
    field = ".".join(where) or "arguments"
    raise Invalid(field, f"{field}: {error.message}")


async def _run_code(owner: User, arguments: dict[str, Any]) -> ToolAnswer:
    kind = Kind.FUNCTION if "input" in arguments else Kind.SCRIPT
    caller = intake.api_caller(owner, intake.Via.MCP)
    submission = await intake.submission(caller, arguments, kind)
    execution = await services.execution_run(submission)
    return _result(execution)


async def _manage(owner: User, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    fields = {k: v for k, v in arguments.items() if k in TOOL_FIELDS}
    if name == CREATE_TOOL.name:
        tool = await tool_services.tool_create(
            owner=owner,
            fields=tool_services.ToolFields(
                name=str(fields.get("name", "")),
                code=str(fields.get("code", "")),
                language=str(fields.get("language", "")),
                description=str(fields.get("description", "")),
                input_schema=fields.get("input_schema"),
            ),
        )
    else:
        found = await tool_get(owner=owner, tool_id=arguments.get("tool_id"))
        if found is None:
            raise Invalid("tool_id", f"no tool {arguments.get('tool_id')!r} of yours")
        tool = await tool_services.tool_update(tool=found, changes=fields)
    return tool_services.tool_shape(tool)


def _result(execution: Execution) -> ToolAnswer:
    """The run as structured content, and as content: its JSON, then each picture its
    display() calls made as an image, so that the assistant sees the chart (the JSON
    says where each went, rather than carrying its base64 a second time)."""
    state = execution_state(execution)
    pictures: list[types.ImageContent] = []
    results = []
    for result in state["results"]:
        data = {}
        for mime, value in result["data"].items():
            if mime in MCP_IMAGE_TYPES and isinstance(value, str):
                pictures.append(types.ImageContent(type="image", data=value, mimeType=mime))
                data[mime] = f"(image content {len(pictures)})"
            else:
                data[mime] = value
        results.append({"data": data, "metadata": result.get("metadata", {})})
    structured = {
        "execution_id": state["id"],
        "status": state["status"],
        "exit_code": state["exit_code"],
        "stdout": state["stdout"],
        "stderr": state["stderr"],
        "duration_ms": state["duration"],
        "output": state["output"],
        "output_status": state["output_status"],
        "results": results,
        "files": [api_file(state["id"], f) for f in state["files"]],
    }
    if state["session_id"]:  # a session's call: its session, and what it raised
        structured |= {"session_id": state["session_id"], "error": state["error"]}
    text = types.TextContent(type="text", text=json.dumps(structured, indent=2))
    return [text, *pictures], structured


def no_oauth(request: HttpRequest) -> HttpResponse:
    """OAuth discovery (RFC 9728's resource, RFC 8414's server) answered with the JSON 404
    an MCP client understands: there is no OAuth here, so it asks its user for a key
    instead of starting a flow, or failing on Django's HTML page."""
    message = (
        "Sandpit has no OAuth: send an API key as 'Authorization: Bearer <key>' (make one at /keys)"
    )
    return error_json(ApiError(404, "not_found", message))


class McpEndpoint:
    """The ASGI side: the key checked first, then the SDK's Streamable HTTP transport."""

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._stop = asyncio.Event()
        self._running: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Stateless: each request is a session of its own, under its own key.
        self._manager = StreamableHTTPSessionManager(app=server, stateless=True)
        started = asyncio.Event()

        async def run() -> None:
            assert self._manager is not None
            async with self._manager.run():
                started.set()
                await self._stop.wait()

        self._running = asyncio.get_running_loop().create_task(run())
        await started.wait()

    async def stop(self) -> None:
        self._stop.set()
        if self._running is not None:
            with contextlib.suppress(Exception):
                await self._running

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = bearer_of(_header(scope, "authorization"))
        try:
            api_key = scope.get(SCOPE_API_KEY) or await key_in_use(token)
            if scope["method"] == "POST":
                receive = await _guarded_body(scope, receive, f"owner:{api_key.owner_id}")
        except (ApiError, DatabaseError) as exc:
            error = api_error_of(exc)
            await respond(send, error, www_authenticate(token) if error.status == 401 else [])
            return
        if self._manager is None:
            await respond(send, ApiError(503, "unavailable", "the MCP endpoint is starting"))
            return
        await self._manager.handle_request({**scope, OWNER_KEY: api_key.owner_id}, receive, send)


def _header(scope: dict[str, Any], name: str) -> str:
    for key, value in scope["headers"]:
        if key.decode("latin-1").lower() == name:
            return str(value.decode("latin-1"))
    return ""


async def _guarded_body(scope: dict[str, Any], receive: Any, owner: str) -> Any:
    """The body read whole (the front door bounds its size) and checked as the API checks
    bodies, off the event loop and bounded in values, before the SDK parses it on the
    loop; then handed to the SDK as if it came from the client."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ApiError(400, "invalid_request", "the client went away before its body came")
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = b"".join(chunks)
    if body:
        await aparse_json_object(body, max_elements=MCP_MAX_ELEMENTS, owner=owner)
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return dict(await receive())

    return replay


mcp_endpoint = McpEndpoint()
