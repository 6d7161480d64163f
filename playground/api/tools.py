"""/v1/secrets and /v1/tools: parse, authorise, call one service, shape (Riza's shapes)."""

from typing import Annotated, Any

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, StrictStr, model_validator

from playground import services, vault
from playground import tools as tool_services
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.schemas import (
    DeletedOut,
    ExecuteFunctionOut,
    LanguageName,
    PageQuery,
    StrictSchema,
    token_is_value,
)
from playground.models import Secret, Tool
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


class SecretOrValue(StrictSchema):
    """A credential's secret part: given in clear, or as the id of one of your secrets."""

    secret_id: StrictStr | None = None

    _token = model_validator(mode="before")(token_is_value)


class EnvIn(StrictSchema):
    name: Annotated[StrictStr, Field(min_length=1)]
    value: StrictStr | None = None
    secret_id: StrictStr | None = None

    @model_validator(mode="after")
    def one_source(self) -> "EnvIn":
        if (self.value is None) == (self.secret_id is None):
            raise ValueError("give value or secret_id, one of them")
        return self


class BearerIn(StrictSchema):
    token: StrictStr | None = None
    secret_id: StrictStr | None = None


class BasicIn(StrictSchema):
    user_id: StrictStr = ""
    password: StrictStr | None = None
    secret_id: StrictStr | None = None


class HeaderIn(SecretOrValue):
    name: StrictStr
    value: StrictStr | None = None


class QueryIn(SecretOrValue):
    key: StrictStr
    value: StrictStr | None = None


class ToolAuthIn(StrictSchema):
    bearer: BearerIn | None = None
    basic: BasicIn | None = None
    header: HeaderIn | None = None
    query: QueryIn | None = None


class ToolAllowIn(StrictSchema):
    host: Annotated[StrictStr, Field(min_length=1, max_length=255)]
    auth: ToolAuthIn | None = None


class ToolHttpIn(StrictSchema):
    allow: list[ToolAllowIn] | None = None


class ToolExecIn(StrictSchema):
    input: Any = None
    env: list[EnvIn] | None = None
    http: ToolHttpIn | None = None
    revision_id: StrictStr | None = None


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
    tools = Tool.objects.filter(owner=_owner(request)).select_related("current_revision")
    if query.starting_after:
        tools = tools.filter(id__lt=query.starting_after)
    page = [t async for t in tools.order_by("-id")[: query.limit]]
    return {"tools": [tool_services.tool_shape(t) for t in page]}


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
    allow = body.http.allow if body.http and body.http.allow else []
    submission = await tool_services.tool_run(
        owner=_owner(request),
        tool=tool,
        input=body.input,
        env=[e.model_dump(exclude_none=True) for e in body.env or []],
        http_allow=[rule.model_dump(exclude_none=True) for rule in allow],
        revision_id=body.revision_id,
        request=body.model_dump(exclude_none=True) | {"input": body.input},
    )
    execution = await services.execution_run(submission)
    return function_response(execution_state(execution))
