"""/v1/execute, /v1/execute-function and /v1/executions: runs and their record."""

from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from ninja import Query, Router, Schema

from playground.api.auth import owner_of
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.responses import (
    ExecuteFunctionOut,
    ExecuteOut,
    ExecutionListOut,
    ExecutionOut,
    FileOut,
    PageQuery,
)
from playground.api.schemas import ExecuteFunctionIn, ExecuteIn
from playground.models import Execution
from playground.runs import files as artifacts
from playground.runs import intake, selectors, services
from playground.runs.serializers import (
    api_execution,
    execute_response,
    execution_state,
    function_response,
)

router = Router(tags=["executions"])
ERRORS = ERROR_RESPONSES


@router.post("/execute", response={200: ExecuteOut, **ERRORS}, summary="Run a script")
async def execute(request: HttpRequest, body: ExecuteIn) -> dict[str, Any]:
    caller = intake.api_caller(owner_of(request))
    submission = await intake.submission(caller, body, Execution.Kind.SCRIPT)
    execution = await services.execution_run(submission)
    return execute_response(execution_state(execution))


@router.post(
    "/execute-function", response={200: ExecuteFunctionOut, **ERRORS}, summary="Run a function"
)
async def execute_function(request: HttpRequest, body: ExecuteFunctionIn) -> dict[str, Any]:
    caller = intake.api_caller(owner_of(request))
    submission = await intake.submission(caller, body, Execution.Kind.FUNCTION)
    execution = await services.execution_run(submission)
    return function_response(execution_state(execution))


class ExecutionListQuery(PageQuery):
    only_non_zero_exit_codes: bool = False


@router.get("/executions", response={200: ExecutionListOut, **ERRORS}, summary="List executions")
async def list_executions(request: HttpRequest, query: Query[ExecutionListQuery]) -> dict[str, Any]:
    executions = await selectors.execution_list(
        owner=owner_of(request),
        limit=query.limit,
        starting_after=query.starting_after,
        only_non_zero_exit_codes=query.only_non_zero_exit_codes,
    )
    return {"data": [api_execution(e) for e in executions]}


@router.get(
    "/executions/{execution_id}",
    response={200: ExecutionOut, **ERRORS},
    summary="Get an execution",
)
async def get_execution(request: HttpRequest, execution_id: str) -> dict[str, Any]:
    execution = await selectors.execution_get(owner=owner_of(request), execution_id=execution_id)
    if execution is None:
        raise ApiError(
            404, "not_found", f"no execution {execution_id!r} exists for this API key's owner"
        )
    return api_execution(execution)


class FileListOut(Schema):
    files: list[FileOut]


async def _owned_execution(request: HttpRequest, execution_id: str) -> Execution:
    execution = await selectors.execution_get(owner=owner_of(request), execution_id=execution_id)
    if execution is None:
        raise ApiError(
            404, "not_found", f"no execution {execution_id!r} exists for this API key's owner"
        )
    return execution


@router.get(
    "/executions/{execution_id}/files",
    response={200: FileListOut, **ERRORS},
    summary="List an execution's files",
)
async def list_execution_files(request: HttpRequest, execution_id: str) -> dict[str, Any]:
    execution = await _owned_execution(request, execution_id)
    return {"files": api_execution(execution)["files"]}


@router.get(
    "/executions/{execution_id}/files/{path:path}",
    response={200: None, **ERRORS},
    summary="Get one of an execution's files",
    openapi_extra={"responses": {"200": {"description": "the file's bytes, as an attachment"}}},
)
async def get_execution_file(
    request: HttpRequest, execution_id: str, path: str
) -> HttpResponseBase:
    execution = await _owned_execution(request, execution_id)
    listed = artifacts.file_listed(execution, path)
    if listed is None:
        raise ApiError(404, "not_found", f"execution {execution_id} kept no file {path!r}")
    return await sync_to_async(artifacts.file_response)(execution, listed)
