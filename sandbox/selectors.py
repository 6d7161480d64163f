"""Reads on runtimes, each scoped to its owner."""

from django.contrib.auth.models import User

from sandbox.errors import JobInvalid
from sandbox.models import Runtime, RuntimeRevision
from sandbox.pagination import newest_first

MAX_PAGE = 100


async def runtime_list(
    *, owner: User, limit: int = MAX_PAGE, starting_after: str | None = None
) -> list[Runtime]:
    """Newest first; `starting_after` is the last id of the previous page (pagination.py),
    which may be a runtime deleted since: deleting while paging loses nothing."""
    owned = Runtime.objects.filter(owner=owner)
    runtimes = owned.filter(deleted_at__isnull=True).select_related("current_revision")
    page = await newest_first(runtimes, starting_after=starting_after, cursors=owned)
    return [r async for r in page[: min(limit, MAX_PAGE)]]


async def runtime_get(*, owner: User, runtime_id: str) -> Runtime | None:
    query = Runtime.objects.select_related("current_revision")
    return await query.filter(owner=owner, id=runtime_id, deleted_at__isnull=True).afirst()


async def revision_list(*, runtime: Runtime) -> list[RuntimeRevision]:
    return [r async for r in runtime.revisions.order_by("-id")]


async def revision_get(*, runtime: Runtime, revision_id: str) -> RuntimeRevision | None:
    return await runtime.revisions.filter(id=revision_id).afirst()


async def revision_image_for_run(*, owner: User, revision_id: str, language: str) -> str:
    """The image a run on this revision uses; JobInvalid saying why it cannot."""
    field = "runtime_revision_id"
    revision = (
        await RuntimeRevision.objects.select_related("runtime")
        .filter(id=revision_id, runtime__owner=owner, runtime__deleted_at__isnull=True)
        .afirst()
    )
    if revision is None:
        raise JobInvalid(field, f"runtime revision {revision_id!r} does not exist")
    if not revision.runtime.serves(language):
        raise JobInvalid(
            field,
            f"revision {revision_id} is a {revision.runtime.language} runtime, not {language}",
        )
    if revision.status == RuntimeRevision.Status.FAILED:
        raise JobInvalid(
            field, f"revision {revision_id} failed to build: {revision.failure_reason}"
        )
    if not revision.is_built:
        raise JobInvalid(
            field, f"revision {revision_id} is not built yet ({revision.status}); try again soon"
        )
    return revision.image_tag


def built_revisions(*, owner: User) -> list[RuntimeRevision]:
    """For the playground's picker: the owner's revisions that runs can use."""
    return list(
        RuntimeRevision.objects.select_related("runtime")
        .filter(
            runtime__owner=owner,
            runtime__deleted_at__isnull=True,
            status=RuntimeRevision.Status.SUCCEEDED,
        )
        .order_by("-id")
    )
