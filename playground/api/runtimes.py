"""/v1/runtimes and their revisions: parse, authorise, call one service, shape."""

from typing import Annotated, Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import Field, StrictStr

from playground.api.auth import owner_of
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.responses import DeletedOut, PageQuery
from playground.api.schemas import LanguageName, StrictSchema
from playground.runs.live import build_line_sink
from sandbox import selectors
from sandbox import services as runtime_services
from sandbox.builds.manifests import MAX_MANIFEST_CHARS
from sandbox.models import Runtime, RuntimeRevision

router = Router(tags=["runtimes"])
ERRORS = ERROR_RESPONSES


class ManifestFile(StrictSchema):
    name: Literal["requirements.txt", "package.json"]
    contents: Annotated[StrictStr, Field(max_length=MAX_MANIFEST_CHARS)]


class RevisionIn(StrictSchema):
    manifest_file: ManifestFile
    additional_python_imports: Annotated[StrictStr, Field(max_length=4096)] | None = None


class RuntimeIn(RevisionIn):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    # One of languages.RUNTIME_LANGUAGES; the service refuses the others.
    language: LanguageName
    engine: Literal["wasi", "microvm", "v8"] | None = None


class ManifestFileOut(Schema):
    name: str
    contents: str


class RevisionOut(Schema):
    id: str
    runtime_id: str
    manifest_file: ManifestFileOut
    status: str
    additional_python_imports: str | None = None
    # Ours, beyond Riza's fields: why a build failed, in one line, and its log.
    failure_reason: str | None = None
    build_log: str | None = None


class RuntimeOut(Schema):
    id: str
    name: str
    language: str
    engine: str
    revision_id: str
    status: str
    manifest_file: ManifestFileOut | None = None
    additional_python_imports: str | None = None


class RuntimeListOut(Schema):
    runtimes: list[RuntimeOut]


class RevisionListOut(Schema):
    revisions: list[RevisionOut]


def _revision(revision: RuntimeRevision, *, with_log: bool = False) -> dict[str, Any]:
    return {
        "id": revision.id,
        "runtime_id": revision.runtime_id,
        "manifest_file": {"name": revision.manifest_name, "contents": revision.manifest_contents},
        "status": revision.status,
        "additional_python_imports": revision.additional_python_imports or None,
        "failure_reason": revision.failure_reason or None,
        "build_log": revision.build_log if with_log else None,
    }


def _runtime(runtime: Runtime) -> dict[str, Any]:
    revision = runtime.current_revision
    return {
        "id": runtime.id,
        "name": runtime.name,
        "language": runtime.language,
        "engine": runtime.engine,
        "revision_id": revision.id if revision else "",
        "status": revision.status if revision else "pending",
        "manifest_file": (
            {"name": revision.manifest_name, "contents": revision.manifest_contents}
            if revision
            else None
        ),
        "additional_python_imports": (revision.additional_python_imports or None)
        if revision
        else None,
    }


async def _owned_runtime(request: HttpRequest, runtime_id: str) -> Runtime:
    runtime = await selectors.runtime_get(owner=owner_of(request), runtime_id=runtime_id)
    if runtime is None:
        raise ApiError(
            404, "not_found", f"no runtime {runtime_id!r} exists for this API key's owner"
        )
    return runtime


@router.post("/runtimes", response={200: RuntimeOut, **ERRORS}, summary="Create a runtime")
async def create_runtime(request: HttpRequest, body: RuntimeIn) -> dict[str, Any]:
    runtime = await runtime_services.runtime_create(
        owner=owner_of(request),
        name=body.name,
        language=body.language,
        manifest_name=body.manifest_file.name,
        manifest_contents=body.manifest_file.contents,
        additional_python_imports=body.additional_python_imports or "",
        engine=body.engine or "microvm",
        on_line=build_line_sink,
    )
    return _runtime(runtime)


@router.get("/runtimes", response={200: RuntimeListOut, **ERRORS}, summary="List runtimes")
async def list_runtimes(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    runtimes = await selectors.runtime_list(
        owner=owner_of(request),
        limit=query.limit,
        starting_after=query.starting_after,
    )
    return {"runtimes": [_runtime(r) for r in runtimes]}


@router.get("/runtimes/{runtime_id}", response={200: RuntimeOut, **ERRORS}, summary="Get a runtime")
async def get_runtime(request: HttpRequest, runtime_id: str) -> dict[str, Any]:
    return _runtime(await _owned_runtime(request, runtime_id))


@router.delete(
    "/runtimes/{runtime_id}", response={200: DeletedOut, **ERRORS}, summary="Delete a runtime"
)
async def delete_runtime(request: HttpRequest, runtime_id: str) -> dict[str, Any]:
    runtime = await _owned_runtime(request, runtime_id)
    await runtime_services.runtime_delete(runtime=runtime)
    return {"id": runtime.id, "deleted": True}


@router.post(
    "/runtimes/{runtime_id}/revisions",
    response={200: RevisionOut, **ERRORS},
    summary="Create a revision",
)
async def create_revision(
    request: HttpRequest, runtime_id: str, body: RevisionIn
) -> dict[str, Any]:
    runtime = await _owned_runtime(request, runtime_id)
    revision = await runtime_services.revision_create(
        runtime=runtime,
        manifest_name=body.manifest_file.name,
        manifest_contents=body.manifest_file.contents,
        additional_python_imports=body.additional_python_imports or "",
        on_line=build_line_sink,
    )
    return _revision(revision)


@router.get(
    "/runtimes/{runtime_id}/revisions",
    response={200: RevisionListOut, **ERRORS},
    summary="List revisions",
)
async def list_revisions(request: HttpRequest, runtime_id: str) -> dict[str, Any]:
    runtime = await _owned_runtime(request, runtime_id)
    return {"revisions": [_revision(r) for r in await selectors.revision_list(runtime=runtime)]}


@router.get(
    "/runtimes/{runtime_id}/revisions/{revision_id}",
    response={200: RevisionOut, **ERRORS},
    summary="Get a revision",
)
async def get_revision(request: HttpRequest, runtime_id: str, revision_id: str) -> dict[str, Any]:
    runtime = await _owned_runtime(request, runtime_id)
    revision = await selectors.revision_get(runtime=runtime, revision_id=revision_id)
    if revision is None:
        raise ApiError(404, "not_found", f"runtime {runtime_id} has no revision {revision_id!r}")
    return _revision(revision, with_log=True)
