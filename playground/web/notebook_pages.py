"""The playground's notebook: its page, its read-only permalink, and the page's requests
(the session cookie and CSRF, as POST /runs; never an API key): make a notebook, run a
cell, save the cells, interrupt, restart, end, share. A session's opening and each cell
pass the one intake with the page's Caller: a guest's lower ceilings, and no network.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from playground.api.bodies import aparse_json_object
from playground.api.errors import ApiError, api_error_of, error_json
from playground.api.guard import read_body
from playground.models import Execution, Notebook
from playground.notebooks import selectors, services
from playground.notebooks.serializers import notebook_state
from playground.runs import intake
from playground.sessions.serializers import session_state
from playground.sessions.services import Opening
from playground.web.guests import aplayground_owner, viewer_id
from playground.web.pages import body_allowance, page_caller
from sandbox.errors import EngineError, Invalid, SessionError
from sandbox.languages import LANGUAGES

log = logging.getLogger(__name__)
Answer = Callable[[], Awaitable[dict[str, Any]]]


async def _viewer(request: HttpRequest) -> int | None:
    return await sync_to_async(viewer_id)(request.user, request.session)


async def _state(notebook: Notebook, *, is_owner: bool) -> dict[str, Any]:
    executions = await sync_to_async(selectors.notebook_executions)(notebook)
    return notebook_state(notebook, executions, is_owner=is_owner)


@ensure_csrf_cookie  # the page's script posts with the token from this cookie
async def notebook_page(request: HttpRequest, notebook_id: str | None = None) -> HttpResponse:
    """A new notebook, or one of yours; someone else's is its permalink once shared."""
    viewer = await _viewer(request)
    state = None
    if notebook_id is not None:
        notebook = await selectors.anotebook_owned(owner_id=viewer, notebook_id=notebook_id)
        if notebook is None:
            seen = await sync_to_async(selectors.notebook_visible)(
                notebook_id=notebook_id, viewer=viewer
            )
            if seen is None:
                raise Http404("no such notebook")
            return redirect("notebook_permalink", notebook_id=notebook_id)
        state = await _state(notebook, is_owner=True)
    recent = [] if notebook_id else await sync_to_async(selectors.notebooks_recent)(owner_id=viewer)
    context = {
        "notebook": state,
        "language": LANGUAGES.get(state["language"]) if state else None,
        "languages": LANGUAGES.values(),
        "recent": recent,
        "can_run": await sync_to_async(_can_run)(request),
    }
    return await sync_to_async(render)(request, "notebook.html", context)


def _can_run(request: HttpRequest) -> bool:
    return bool(request.user.is_authenticated or settings.PLAYGROUND_ANONYMOUS)


async def notebook_permalink(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """The whole notebook, read-only: to its owner, or to anyone once shared."""
    seen = await sync_to_async(selectors.notebook_visible)(
        notebook_id=notebook_id, viewer=await _viewer(request)
    )
    if seen is None:
        raise Http404("no such notebook")
    notebook = seen.notebook
    context = {
        "notebook": notebook,
        "is_owner": seen.is_owner,
        "state": await _state(notebook, is_owner=seen.is_owner),
        "language": LANGUAGES.get(notebook.language),  # type: ignore[call-overload]
    }
    return await sync_to_async(render)(request, "notebook_view.html", context)


@require_POST
def notebook_share(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """Share or unshare, from the permalink's form; the owner's only."""
    viewer = viewer_id(request.user, request.session)
    notebook = selectors.notebook_owned(owner_id=viewer, notebook_id=notebook_id)
    if notebook is None:
        raise Http404("no such notebook")
    services.notebook_share(notebook=notebook, shared=request.POST.get("shared") == "1")
    return redirect("notebook_permalink", notebook_id=notebook.id)


# --- the page's requests: JSON both ways -----------------------------------------------


async def _answer(work: Answer, status: int = 200) -> HttpResponse:
    try:
        body = await work()
    except (ApiError, Invalid, EngineError, SessionError) as exc:
        return error_json(api_error_of(exc))
    except Exception as exc:
        # A bug of ours, or a database away: the page still gets an error it can show.
        if not isinstance(exc, DatabaseError):
            log.exception("a notebook request failed")
        return error_json(api_error_of(exc))
    return JsonResponse(body, status=status)


async def _body(request: HttpRequest, *, starts_run: bool) -> dict[str, Any]:
    allowance = await body_allowance(request, starts_run=starts_run)
    raw = read_body(request, allowance.max_bytes)
    return await aparse_json_object(raw, max_elements=allowance.max_elements, owner=allowance.turn)


async def _owned(request: HttpRequest, notebook_id: str) -> Notebook:
    notebook = await selectors.anotebook_owned(
        owner_id=await _viewer(request), notebook_id=notebook_id
    )
    if notebook is None:
        raise ApiError(404, "not_found", f"no notebook {notebook_id!r} of yours")
    return notebook


async def _opening(owner: User, language: object) -> Opening:
    """A session for a notebook: its language, on the base image, within the caller's
    allowance (a guest's memory, idle time and number of sessions)."""
    return await intake.session_opening(page_caller(owner), {"language": language})


@require_POST
async def notebook_create(request: HttpRequest) -> HttpResponse:
    """A notebook and its session, made when its first cell runs."""

    async def work() -> dict[str, Any]:
        body = await _body(request, starts_run=True)
        owner = await aplayground_owner(request)
        if owner is None:
            raise ApiError(401, "unauthorized", "sign in to run code")
        cells = services.cells_checked(body.get("cells", []))
        opening = await _opening(owner, body.get("language"))
        notebook = await services.notebook_create(opening=opening, cells=cells)
        return await _state(notebook, is_owner=True)

    return await _answer(work, status=201)


@require_POST
async def notebook_run(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """Run a cell; the page watches its call over /ws/executions/<id>, as a run."""

    async def work() -> dict[str, Any]:
        body = await _body(request, starts_run=True)
        notebook = await _owned(request, notebook_id)
        cell_id = services.cell_id_checked(body.get("cell"))
        submission = await intake.submission(
            page_caller(notebook.owner),
            {"code": body.get("code")},
            Execution.Kind.SESSION,
            session=services.session_of(notebook),
        )
        execution = await services.notebook_run(
            notebook=notebook, cell_id=cell_id, code=submission.job.code, submission=submission
        )
        return {"id": execution.id, "permalink": f"/e/{execution.id}"}

    return await _answer(work, status=201)


@require_POST
async def notebook_cells(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """The page's cells as they stand: their order and code."""

    async def work() -> dict[str, Any]:
        body = await _body(request, starts_run=False)
        notebook = await _owned(request, notebook_id)
        cells = services.cells_checked(body.get("cells"))
        await services.notebook_save(notebook=notebook, cells=cells)
        return {"cells": len(cells)}

    return await _answer(work)


@require_POST
async def notebook_interrupt(request: HttpRequest, notebook_id: str) -> HttpResponse:
    async def work() -> dict[str, Any]:
        notebook = await _owned(request, notebook_id)
        interrupted = await services.notebook_interrupt(notebook=notebook)
        return {"interrupted": interrupted, "session": _session(notebook)}

    return await _answer(work)


@require_POST
async def notebook_restart(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """End the session and open a new one: its cells stay, their outputs go."""

    async def work() -> dict[str, Any]:
        await body_allowance(request)  # opens a session: a guest's rate counts it
        notebook = await _owned(request, notebook_id)
        opening = await _opening(notebook.owner, notebook.language)
        notebook = await services.notebook_restart(notebook=notebook, opening=opening)
        return await _state(notebook, is_owner=True)

    return await _answer(work)


@require_POST
async def notebook_end(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """End the session (its sandbox removed at once); the cells and outputs stay."""

    async def work() -> dict[str, Any]:
        notebook = await services.notebook_end(notebook=await _owned(request, notebook_id))
        return {"session": _session(notebook)}

    return await _answer(work)


@require_GET
async def notebook_session(request: HttpRequest, notebook_id: str) -> HttpResponse:
    """The session's state, which the page shows (ready, busy, paused, ended)."""

    async def work() -> dict[str, Any]:
        return {"session": _session(await _owned(request, notebook_id))}

    return await _answer(work)


def _session(notebook: Notebook) -> dict[str, Any] | None:
    return session_state(notebook.session) if notebook.session else None
