"""/v1/secrets and /v1/tools: parse, authorise, call one service, shape (Riza's shapes)."""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, StrictStr

from playground import intake, selectors, services, vault
from playground import tools as tool_services
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.schemas import (
    DeletedOut,
    ExecuteFunctionOut,
    LanguageName,
    PageQuery,
    StrictSchema,
    ToolExecIn,
)
from playground.models import Execution, Secret, Tool
from playground.serializers import execution_state, function_response

router = Router(tags=["tools"])
ERRORS = ERROR_RESPONSES


# --- secrets ------------------------------------------------------------------------


class SecretIn(StrictSchema):
    name: Annotated[StrictStr, Field(min_length=1, max_length=vault.MAX_NAME_CHARS)]
    value: StrictStr


class SecretOut(Schema):
    id: str
    name: str


class SecretListOut(Schema):
    secrets: list[SecretOut]


def _owner(request: HttpRequest) -> Any:
    return request.auth.owner  # type: ignore[attr-defined]


@router.post("/secrets", response={200: SecretOut, **ERRORS}, summary="Create a secret")
async def create_secret(request: HttpRequest, body: SecretIn) -> dict[str, Any]:
    secret = await vault.secret_create(owner=_owner(request), name=body.name, value=body.value)
    return {"id": secret.id, "name": secret.name}


@router.get("/secrets", response={200: SecretListOut, **ERRORS}, summary="List secrets")
async def list_secrets(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    found = await vault.secret_list(
        owner=_owner(request), limit=query.limit, starting_after=query.starting_after
    )
    return {"secrets": [{"id": s.id, "name": s.name} for s in found]}


@router.delete(
    "/secrets/{secret_id}", response={200: DeletedOut, **ERRORS}, summary="Delete a secret"
)
async def delete_secret(request: HttpRequest, secret_id: str) -> dict[str, Any]:
    secret = await Secret.objects.filter(owner=_owner(request), id=secret_id).afirst()
    if secret is None:
        raise ApiError(404, "not_found", f"no secret {secret_id!r} exists for this key's owner")
    await vault.secret_delete(secret=secret)
    return {"id": secret_id, "deleted": True}


# --- tools --------------------------------------------------------------------------


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
    tool = (
        await Tool.objects.select_related("current_revision", "owner")
        .filter(owner=_owner(request), id=tool_id)
        .afirst()
    )
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
    tool = await tool_services.tool_create(owner=_owner(request), fields=fields)
    return tool_services.tool_shape(tool)


@router.get("/tools", response={200: ToolListOut, **ERRORS}, summary="List tools")
async def list_tools(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    tools = await selectors.tool_list(
        owner=_owner(request), limit=query.limit, starting_after=query.starting_after
    )
    return {"tools": [tool_services.tool_shape(t) for t in tools]}


@router.get("/tools/{tool_id}", response={200: ToolOut, **ERRORS}, summary="Get a tool")
async def get_tool(request: HttpRequest, tool_id: str) -> dict[str, Any]:
    return tool_services.tool_shape(await _owned_tool(request, tool_id))


@router.post("/tools/{tool_id}", response={200: ToolOut, **ERRORS}, summary="Update a tool")
async def update_tool(request: HttpRequest, tool_id: str, body: ToolUpdateIn) -> dict[str, Any]:
    tool = await _owned_tool(request, tool_id)
    changes = body.model_dump(exclude_unset=True)
    if "language" in changes and changes["language"] is not None:
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
    caller = intake.api_caller(_owner(request))
    submission = await intake.submission(caller, body, Execution.Kind.TOOL, tool)
    execution = await services.execution_run(submission)
    return function_response(execution_state(execution))
