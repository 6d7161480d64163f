"""Writes on notebooks: made with a session, cells run and kept, the session restarted,
interrupted or ended, shared. The notebook's pages call these; sessions and runs are
reached only through their own services (playground/sessions/services.py).

A cell is {"id", "code", "execution_id"}: its id is the page's, its code what it holds
now, and its execution the call that last ran it, which only a run here sets (a page
saving its cells says their order and code, never which call they show).
"""

import asyncio
from typing import Any

from asgiref.sync import sync_to_async
from django.db import transaction
from django.utils import timezone

from playground.models import Execution, Notebook, Session
from playground.runs.services import Submission
from playground.sessions import services as sessions
from playground.sessions.services import Opening
from sandbox.errors import Invalid, SessionEnded

# A notebook longer than this is several notebooks; it bounds the record and the page.
MAX_CELLS = 200
# A cell's id is the page's: short letters and digits, never markup.
MAX_CELL_ID_CHARS = 32

NOT_SAVED = "its notebook could not be saved"

Cell = dict[str, Any]


def cell_id_checked(value: object, field: str = "cell") -> str:
    if (
        not isinstance(value, str)
        or not 0 < len(value) <= MAX_CELL_ID_CHARS
        or not (value.isascii() and value.isalnum())
    ):
        raise Invalid(field, f"must be letters and digits, at most {MAX_CELL_ID_CHARS}")
    return value


def cells_checked(value: object) -> list[Cell]:
    """The page's cells, [{id, code}], in order; Invalid naming `cells` otherwise."""
    if not isinstance(value, list):
        raise Invalid("cells", "must be a list of {id, code}")
    if len(value) > MAX_CELLS:
        raise Invalid("cells", f"a notebook holds at most {MAX_CELLS} cells")
    cells: list[Cell] = []
    seen: set[str] = set()
    for index, cell in enumerate(value):
        if not isinstance(cell, dict) or not isinstance(cell.get("code"), str):
            raise Invalid(f"cells.{index}", "must be {id, code} with code a string")
        cell_id = cell_id_checked(cell.get("id"), f"cells.{index}.id")
        if cell_id in seen:
            raise Invalid(f"cells.{index}.id", "is another cell's id too")
        seen.add(cell_id)
        cells.append({"id": cell_id, "code": cell["code"]})
    return cells


async def notebook_create(*, opening: Opening, cells: list[Cell]) -> Notebook:
    """Open its session, then record the notebook; a refusal (too many sessions, an
    engine that is busy) leaves nothing."""
    session = await sessions.session_open(opening)
    try:
        return await Notebook.objects.acreate(
            owner=opening.owner,
            language=session.language,
            session=session,
            cells=[{**cell, "execution_id": None} for cell in cells],
        )
    except BaseException:
        await asyncio.shield(sessions.session_end(session=session, reason=NOT_SAVED))
        raise


def session_of(notebook: Notebook) -> Session:
    """The session its cells run in; SessionEnded when it has none any more."""
    if notebook.session is None:
        raise SessionEnded("this notebook's session is gone; restart it to open a new one")
    return notebook.session


async def notebook_run(
    *, notebook: Notebook, cell_id: str, code: str, submission: Submission
) -> Execution:
    """Run a cell in the notebook's session, watched live (sessions.session_call_start);
    the cell then shows that call. SessionBusy, SessionEnded as the session's calls."""
    execution = await sessions.session_call_start(
        session=session_of(notebook), submission=submission
    )
    await sync_to_async(_cell_ran)(notebook.id, cell_id, code, execution.id)
    return execution


def _cell_ran(notebook_id: str, cell_id: str, code: str, execution_id: str) -> None:
    with transaction.atomic():
        notebook = Notebook.objects.select_for_update().get(id=notebook_id)
        cell = next((c for c in notebook.cells if c["id"] == cell_id), None)
        if cell is None:
            if len(notebook.cells) >= MAX_CELLS:
                return  # the run goes on; a notebook this long keeps no more cells
            cell = {"id": cell_id}
            notebook.cells.append(cell)
        cell.update(code=code, execution_id=execution_id)
        notebook.updated_at = timezone.now()
        notebook.save(update_fields=["cells", "updated_at"])


async def notebook_save(*, notebook: Notebook, cells: list[Cell]) -> None:
    """The page's cells, in its order and with its code; each keeps the call it showed."""
    await sync_to_async(_cells_saved)(notebook.id, cells)


def _cells_saved(notebook_id: str, cells: list[Cell]) -> None:
    with transaction.atomic():
        notebook = Notebook.objects.select_for_update().get(id=notebook_id)
        shown = {c["id"]: c.get("execution_id") for c in notebook.cells}
        notebook.cells = [{**c, "execution_id": shown.get(c["id"])} for c in cells]
        notebook.updated_at = timezone.now()
        notebook.save(update_fields=["cells", "updated_at"])


async def notebook_interrupt(*, notebook: Notebook) -> bool:
    """Interrupt the cell going on, keeping the session's state; False when none is."""
    return await sessions.session_interrupt(session=session_of(notebook))


async def notebook_end(*, notebook: Notebook) -> Notebook:
    """End its session (its sandbox removed at once); its cells and outputs stay."""
    if notebook.session is not None:
        notebook.session = await sessions.session_end(session=notebook.session)
    return notebook


async def notebook_restart(*, notebook: Notebook, opening: Opening) -> Notebook:
    """End its session and open a new one, of the same language: a fresh interpreter and
    working directory. Its cells stay; their outputs, of the old session, go."""
    await notebook_end(notebook=notebook)
    session = await sessions.session_open(opening)
    return await sync_to_async(_restarted)(notebook.id, session)


def _restarted(notebook_id: str, session: Session) -> Notebook:
    with transaction.atomic():
        notebook = Notebook.objects.select_for_update().get(id=notebook_id)
        notebook.session = session
        notebook.cells = [{**cell, "execution_id": None} for cell in notebook.cells]
        notebook.updated_at = timezone.now()
        notebook.save(update_fields=["session", "cells", "updated_at"])
    return notebook


def notebook_share(*, notebook: Notebook, shared: bool) -> None:
    """Shared: anyone with its permalink sees its cells and their outputs (never its
    session's env or credentials, which no page shows)."""
    notebook.is_shared = shared
    notebook.save(update_fields=["is_shared"])
