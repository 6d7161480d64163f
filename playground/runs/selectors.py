"""Reads, each one scoped to its owner: another owner's rows do not exist for you."""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import QuerySet

from playground.models import Execution, Tool
from sandbox.pagination import newest_first

MAX_PAGE = 100
LIST_CHUNK_ROWS = 8


async def execution_list(
    *,
    owner: User,
    limit: int = MAX_PAGE,
    starting_after: str | None = None,
    only_non_zero_exit_codes: bool = False,
) -> list[Execution]:
    """Newest first; `starting_after` is the last id of the previous page (pagination.py)."""
    owned = Execution.objects.filter(owner=owner)
    executions = owned
    if only_non_zero_exit_codes:
        executions = executions.exclude(exit_code=0).exclude(exit_code__isnull=True)
    executions = await newest_first(
        executions, starting_after=starting_after, created="started_at", cursors=owned
    )
    page: list[Execution] = []
    room = settings.SANDPIT_MAX_LIST_PAGE_BYTES
    # A few rows at a time: a page stops at its byte budget without loading the rest.
    query = executions[: min(limit, MAX_PAGE)]
    async for execution in query.aiterator(chunk_size=LIST_CHUNK_ROWS):
        room -= execution.stored_bytes()
        if page and room < 0:
            break
        page.append(execution)
    return page


def owned_tools(owner_id: int | None) -> "QuerySet[Tool]":
    """An owner's tools, each with its current revision: every read of tools starts here."""
    return Tool.objects.filter(owner_id=owner_id).select_related("current_revision", "owner")


async def tool_get(*, owner: User, tool_id: object) -> Tool | None:
    """One of the owner's tools, or None (another owner's is None too)."""
    if not isinstance(tool_id, str):
        return None
    return await owned_tools(owner.pk).filter(id=tool_id).afirst()


async def tool_list(
    *, owner: User, limit: int = MAX_PAGE, starting_after: str | None = None
) -> list[Tool]:
    """Newest first; `starting_after` is the last id of the previous page (pagination.py)."""
    page = await newest_first(owned_tools(owner.pk), starting_after=starting_after)
    return [t async for t in page[: min(limit, MAX_PAGE)]]


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
