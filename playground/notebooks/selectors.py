"""Reads of notebooks, each scoped: a notebook is its owner's, and seen by others only
once shared (the rule of runs' permalinks)."""

from dataclasses import dataclass

from playground.models import Execution, Notebook

# The notebooks listed on a new notebook's page: the owner's latest.
RECENT_NOTEBOOKS = 10


@dataclass(frozen=True)
class VisibleNotebook:
    notebook: Notebook
    is_owner: bool


def notebook_owned(*, owner_id: int | None, notebook_id: str) -> Notebook | None:
    """One of the owner's notebooks with its session, or None (another's is None too)."""
    if owner_id is None:
        return None
    found = Notebook.objects.select_related("session", "owner")
    return found.filter(owner_id=owner_id, id=notebook_id).first()


async def anotebook_owned(*, owner_id: int | None, notebook_id: str) -> Notebook | None:
    if owner_id is None:
        return None
    found = Notebook.objects.select_related("session", "owner")
    return await found.filter(owner_id=owner_id, id=notebook_id).afirst()


def notebook_visible(*, notebook_id: str, viewer: int | None) -> VisibleNotebook | None:
    """The notebook, to its owner or (shared) to anyone; None otherwise."""
    notebook = Notebook.objects.select_related("session").filter(id=notebook_id).first()
    if notebook is None:
        return None
    is_owner = viewer is not None and viewer == notebook.owner_id
    return VisibleNotebook(notebook, is_owner) if is_owner or notebook.is_shared else None


def notebooks_recent(*, owner_id: int | None) -> list[Notebook]:
    if owner_id is None:
        return []
    recent = Notebook.objects.filter(owner_id=owner_id).select_related("session")
    return list(recent.defer("cells").order_by("-updated_at")[:RECENT_NOTEBOOKS])


def notebook_executions(notebook: Notebook) -> dict[str, Execution]:
    """The calls its cells show, by id: its owner's session calls only."""
    calls = Execution.objects.filter(
        owner_id=notebook.owner_id, kind=Execution.Kind.SESSION, id__in=notebook.execution_ids()
    )
    return {execution.id: execution for execution in calls}
