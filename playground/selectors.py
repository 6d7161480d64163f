"""Reads, each one scoped to its owner: another owner's rows do not exist for you."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User

from playground.models import Execution

MAX_PAGE = 100
LIST_CHUNK_ROWS = 8


async def execution_list(
    *,
    owner: User,
    limit: int = MAX_PAGE,
    starting_after: str | None = None,
    only_non_zero_exit_codes: bool = False,
) -> list[Execution]:
    """Newest first; `starting_after` is the last id of the previous page."""
    executions = Execution.objects.filter(owner=owner)
    if starting_after:
        executions = executions.filter(id__lt=starting_after)
    if only_non_zero_exit_codes:
        executions = executions.exclude(exit_code=0).exclude(exit_code__isnull=True)
    page: list[Execution] = []
    room = settings.SANDPIT_MAX_LIST_PAGE_BYTES
    # A few rows at a time: a page stops at its byte budget without loading the rest.
    query = executions.order_by("-id")[: min(limit, MAX_PAGE)]
    async for execution in query.aiterator(chunk_size=LIST_CHUNK_ROWS):
        room -= execution.stored_bytes()
        if page and room < 0:
            break
        page.append(execution)
    return page


async def execution_get(*, owner: User, execution_id: str) -> Execution | None:
    return await Execution.objects.filter(owner=owner, id=execution_id).afirst()


@dataclass(frozen=True)
class Visible:
    """A run someone may see, and whether they own it (and so may stop, share, fork env)."""

    execution: Execution
    is_owner: bool


def visible(execution: Execution | None, viewer: int | None) -> Visible | None:
    """The one rule: a run is seen by its owner, or by anyone once it is shared."""
    if execution is None:
        return None
    is_owner = viewer is not None and viewer == execution.owner_id
    return Visible(execution, is_owner) if is_owner or execution.is_shared else None


def execution_visible(*, execution_id: str, viewer: int | None) -> Visible | None:
    return visible(Execution.objects.filter(id=execution_id).first(), viewer)


async def aexecution_visible(*, execution_id: str, viewer: int | None) -> Visible | None:
    return visible(await Execution.objects.filter(id=execution_id).afirst(), viewer)
