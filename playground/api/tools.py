"""/v1/tools: saved, versioned functions, and their runs (Riza's shapes)."""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, StrictStr

from playground.api.auth import owner_of
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.responses import ExecuteFunctionOut, PageQuery
from playground.api.schemas import LanguageName, StrictSchema, ToolExecIn
from playground.models import Execution, Tool
from playground.runs import intake, selectors, services
from playground.runs.serializers import execution_state, function_response
from playground.tools import services as tool_services

router = Router(tags=["tools"])
ERRORS = ERROR_RESPONSES


class ToolIn(StrictSchema):
    name: StrictStr
    code: Annotated[StrictStr, Field(max_length=1024 * 1024)]
    language: LanguageName
    description: StrictStr = ""
    input_schema: dict[str, Any] | None = None
    runtime_revision_id: StrictStr | None = None


class ToolUpdateIn(StrictSchema):
    name: StrictStr | None = None
    code: Annotated[StrictStr, Field(max_length=1024 * 1024)] | None = None
    language: LanguageName | None = None
    description: StrictStr | None = None
    input_schema: dict[str, Any] | None = None
    runtime_revision_id: StrictStr | None = None


class ToolOut(Schema):
    id: str
    name: str
    description: str
    code: str
    language: str
    input_schema: Any
    revision_id: str
    runtime_revision_id: str | None = None


class ToolListOut(Schema):
    tools: list[ToolOut]


async def _owned_tool(request: HttpRequest, tool_id: str) -> Tool:
    tool = await selectors.tool_get(owner=owner_of(request), tool_id=tool_id)
    if tool is None:
        raise ApiError(404, "not_found", f"no tool {tool_id!r} exists for this key's owner")
    return tool


@router.post("/tools", response={200: ToolOut, **ERRORS}, summary="Create a tool")
async def create_tool(request: HttpRequest, body: ToolIn) -> dict[str, Any]:
    fields = tool_services.ToolFields(
        name=body.name,
        code=body.code,
        language=body.language.value,
        description=body.description,
        input_schema=body.input_schema,
        runtime_revision_id=body.runtime_revision_id or "",
    )
    tool = await tool_services.tool_create(owner=owner_of(request), fields=fields)
    return tool_services.tool_shape(tool)


@router.get("/tools", response={200: ToolListOut, **ERRORS}, summary="List tools")
async def list_tools(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    tools = await selectors.tool_list(
        owner=owner_of(request), limit=query.limit, starting_after=query.starting_after
    )
    return {"tools": [tool_services.tool_shape(t) for t in tools]}


@router.get("/tools/{tool_id}", response={200: ToolOut, **ERRORS}, summary="Get a tool")
async def get_tool(request: HttpRequest, tool_id: str) -> dict[str, Any]:
    return tool_services.tool_shape(await _owned_tool(request, tool_id))


@router.post("/tools/{tool_id}", response={200: ToolOut, **ERRORS}, summary="Update a tool")
async def update_tool(request: HttpRequest, tool_id: str, body: ToolUpdateIn) -> dict[str, Any]:
    tool = await _owned_tool(request, tool_id)
    # A field sent as null changes nothing, as a field left out ("" clears a runtime).
    changes = {k: v for k, v in body.model_dump(exclude_unset=True).items() if v is not None}
    if "language" in changes:
        changes["language"] = changes["language"].value
    await tool_services.tool_update(tool=tool, changes=changes)
    return tool_services.tool_shape(tool)


@router.post(
    "/tools/{tool_id}/execute",
    response={200: ExecuteFunctionOut, **ERRORS},
    summary="Execute a tool",
)
async def execute_tool(request: HttpRequest, tool_id: str, body: ToolExecIn) -> dict[str, Any]:
    tool = await _owned_tool(request, tool_id)
    caller = intake.api_caller(owner_of(request))
    submission = await intake.submission(caller, body, Execution.Kind.TOOL, tool)
    execution = await services.execution_run(submission)
    return function_response(execution_state(execution))
