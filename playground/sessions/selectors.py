"""Reads of sessions, each scoped to its owner: another owner's session does not exist
for you, whichever way you ask (API, MCP)."""

from django.contrib.auth.models import User

from playground.models import Session
from playground.runs.selectors import MAX_PAGE
from sandbox.pagination import newest_first


async def session_get(*, owner: User, session_id: object) -> Session | None:
    if not isinstance(session_id, str):
        return None
    return await Session.objects.filter(owner=owner, id=session_id).afirst()


async def session_list(
    *, owner: User, limit: int = MAX_PAGE, starting_after: str | None = None
) -> list[Session]:
    """Newest first; `starting_after` is the last id of the previous page (pagination.py)."""
    page = await newest_first(Session.objects.filter(owner=owner), starting_after=starting_after)
    return [s async for s in page.defer("sealed")[: min(limit, MAX_PAGE)]]
