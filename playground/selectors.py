"""Reads, each one scoped to its owner: another owner's rows do not exist for you."""

from django.contrib.auth.models import User

from playground.models import Execution

MAX_PAGE = 100


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
    return [e async for e in executions.order_by("-id")[: min(limit, MAX_PAGE)]]


async def execution_get(*, owner: User, execution_id: str) -> Execution | None:
    return await Execution.objects.filter(owner=owner, id=execution_id).afirst()
