"""The playground's pages: the editor, a run's permalink, history, API keys."""

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.paginator import Paginator
from django.db import DatabaseError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from playground.api.bodies import aparse_json_object
from playground.api.errors import ApiError, api_error_of, error_json
from playground.api.guard import read_body
from playground.models import ApiKey, Execution
from playground.ratelimits import refuse_over_rate
from playground.runs import files as artifacts
from playground.runs import services
from playground.runs.intake import Caller, Via, api_caller, guest_caller, submission
from playground.runs.selectors import execution_visible
from playground.runs.serializers import execution_state
from playground.web.guests import aplayground_owner, client_address, is_guest, viewer_id
from sandbox import limits
from sandbox.errors import EngineError, Invalid, JobInvalid
from sandbox.languages import LANGUAGES
from sandbox.selectors import built_revisions

HISTORY_PAGE_SIZE = 25
log = logging.getLogger(__name__)


def _visible_execution(request: HttpRequest, execution_id: str) -> tuple[Execution, bool]:
    """The run and whether the viewer owns it; 404 unless owned or shared."""
    seen = execution_visible(
        execution_id=execution_id, viewer=viewer_id(request.user, request.session)
    )
    if seen is None:
        raise Http404("no such run")
    return seen.execution, seen.is_owner


def _fork_of(request: HttpRequest, execution_id: str) -> dict[str, Any] | None:
    try:
        execution, is_owner = _visible_execution(request, execution_id)
    except Http404:
        return None
    stored = execution.request
    return {
        "language": execution.language,
        # A session's call forks as a script: its code, without the session's state.
        "mode": "script"
        if execution.kind in (Execution.Kind.SCRIPT, Execution.Kind.SESSION)
        else "function",
        "code": execution.code,
        "input": json.dumps(stored.get("input"), indent=2) if "input" in stored else "",
        "stdin": stored.get("stdin", ""),
        "args": stored.get("args", []),
        "files": stored.get("files", []),
        # Hosts and credential names, to the owner only (the secrets were masked before
        # the record was kept).
        "http": stored.get("http", {}) if is_owner else {},
        # Env values are masked in the record: the names come back, the values do not.
        "env": dict.fromkeys(stored.get("env", {}), ""),
        "limits": stored.get("limits", {}),
        "runtime_revision_id": execution.runtime_revision_id,
    }


def _runtime_choices(request: HttpRequest) -> list[dict[str, str]]:
    owner = viewer_id(request.user, request.session)
    if owner is None:
        return []
    return [
        {"id": r.id, "label": f"{r.runtime.name} · {r.id[-6:]}", "language": r.runtime.language}
        for r in built_revisions(owner=User(pk=owner))
    ]


@ensure_csrf_cookie  # the page's script posts runs with the token from this cookie
def home(request: HttpRequest) -> HttpResponse:
    fork = request.GET.get("fork")
    context = {
        "fork": _fork_of(request, fork) if fork else None,
        "defaults": {
            "execution_timeout": limits.DEFAULT_TIMEOUT_S,
            "memory_size": limits.DEFAULT_MEMORY_MIB,
            "max_timeout": settings.SANDBOX_MAX_TIMEOUT_S,
            "max_memory": settings.SANDBOX_MAX_MEMORY_MIB,
        },
        "can_run": request.user.is_authenticated or settings.PLAYGROUND_ANONYMOUS,
        "revisions": _runtime_choices(request),
        "languages": LANGUAGES.values(),
    }
    return render(request, "home.html", context)


@dataclass(frozen=True)
class BodyAllowance:
    """How much of a body one requester of the playground may send."""

    max_bytes: int
    max_elements: int
    turn: str  # whose turn it is when work is shared out (playground/workers.py)


async def body_allowance(request: HttpRequest, *, starts_run: bool = True) -> BodyAllowance:
    """Users get the API's; guests far smaller bodies, and a request that starts a run
    (or opens a session) counts against their rate.

    Raises ApiError: 401 when nobody may run, 429 past a guest's rate. Nothing of the
    body is read before this.
    """
    user = await request.auser()
    if user.is_authenticated:
        return BodyAllowance(
            settings.DATA_UPLOAD_MAX_MEMORY_SIZE, settings.MAX_REQUEST_ELEMENTS, f"owner:{user.pk}"
        )
    if not settings.PLAYGROUND_ANONYMOUS:
        raise ApiError(401, "unauthorized", "sign in to run code")
    address = client_address(request)
    if starts_run:
        await refuse_over_rate(
            f"guest:{address}",
            settings.PLAYGROUND_GUEST_RUNS_PER_MINUTE,
            "guests (sign in for more) may start runs:",
        )
    return BodyAllowance(
        settings.PLAYGROUND_GUEST_MAX_REQUEST_BYTES,
        settings.PLAYGROUND_GUEST_MAX_REQUEST_ELEMENTS,
        f"guest:{address}",
    )


def page_caller(owner: User) -> Caller:
    """Whoever runs from a page: a guest within a guest's allowance, else a user's."""
    return guest_caller(owner) if is_guest(owner) else api_caller(owner, Via.PLAYGROUND)


@require_POST
async def start_run(request: HttpRequest) -> HttpResponse:
    """Start a run from the editor; the page then watches it over its WebSocket."""
    try:
        execution = await _start(request)
    except (ApiError, Invalid, EngineError) as exc:
        return error_json(api_error_of(exc))
    except Exception as exc:
        # A bug of ours, or a database away: the page still gets the JSON error it can
        # show, and the log the rest.
        if not isinstance(exc, DatabaseError):
            log.exception("POST /runs failed")
        return error_json(api_error_of(exc))
    return JsonResponse({"id": execution.id, "permalink": f"/e/{execution.id}"}, status=201)


async def _start(request: HttpRequest) -> Execution:
    """The editor's run: its body within the requester's allowance, then the one intake."""
    allowance = await body_allowance(request)
    raw = read_body(request, allowance.max_bytes)
    body = await aparse_json_object(raw, max_elements=allowance.max_elements, owner=allowance.turn)
    mode = body.pop("mode", "script")
    # The page's own: the run's stdin stays open for its owner to type into.
    live_stdin = body.pop("live_stdin", False) is True
    kinds = {"script": Execution.Kind.SCRIPT, "function": Execution.Kind.FUNCTION}
    kind = kinds.get(mode) if isinstance(mode, str) else None
    if kind is None:
        raise JobInvalid("mode", "must be script or function")
    owner = await aplayground_owner(request)
    if owner is None:
        raise ApiError(401, "unauthorized", "sign in to run code")
    asked = await submission(page_caller(owner), body, kind)
    if live_stdin:
        asked = replace(asked, job=replace(asked.job, live_stdin=True))
    return await services.execution_start(asked)


def execution_page(request: HttpRequest, execution_id: str) -> HttpResponse:
    execution, is_owner = _visible_execution(request, execution_id)
    stored = execution.request
    context = {
        "execution": execution,
        "is_owner": is_owner,
        "state": execution_state(execution),
        "language": LANGUAGES.get(execution.language),  # type: ignore[call-overload]
        "input_json": json.dumps(stored["input"], indent=2) if "input" in stored else None,
        "stdin": stored.get("stdin", ""),
        "args": stored.get("args", []),
    }
    return render(request, "execution.html", context)


def execution_file(request: HttpRequest, execution_id: str, path: str) -> HttpResponseBase:
    """A file the run kept, to whoever may see its permalink (an attachment, never a page)."""
    execution, _ = _visible_execution(request, execution_id)
    listed = artifacts.file_listed(execution, path)
    if listed is None:
        raise Http404("no such file")
    return artifacts.file_response(execution, listed)


@require_POST
def share(request: HttpRequest, execution_id: str) -> HttpResponse:
    """Share or unshare: the permalink's form, or the editor's Share button (JSON)."""
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        execution, is_owner = _visible_execution(request, execution_id)
        if not is_owner:
            raise Http404("no such run")
    except Http404:
        if wants_json:
            return error_json(ApiError(404, "not_found", "no such run of yours"))
        raise
    services.execution_share(execution=execution, shared=request.POST.get("shared") == "1")
    if wants_json:
        permalink = request.build_absolute_uri(f"/e/{execution.id}")
        return JsonResponse(
            {"id": execution.id, "is_shared": execution.is_shared, "permalink": permalink}
        )
    return redirect("execution", execution_id=execution.id)


def history(request: HttpRequest) -> HttpResponse:
    viewer = viewer_id(request.user, request.session)
    # The list shows none of a run's texts, results or files (only whether it has any):
    # leave them in the database.
    heavy = ("code", "request", "stdout", "stderr", "output", "results", "files")
    executions = (
        Execution.objects.filter(owner_id=viewer)
        .defer(*heavy)
        .annotate(has_results=~Q(results=[]), has_files=~Q(files=[]))
        .order_by("-id")
    )
    filters = {}
    for name, choices in (
        ("language", tuple(LANGUAGES)),
        ("kind", tuple(Execution.Kind.values)),
        ("status", tuple(Execution.Status.values)),
    ):
        value = request.GET.get(name, "")
        if value in choices:
            executions = executions.filter(**{name: value})
            filters[name] = value
    page = Paginator(executions, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "filters": filters,
        "statuses": Execution.Status.choices,
        "kinds": Execution.Kind.choices,
        "languages": LANGUAGES.values(),
        "query": "&".join(f"{k}={v}" for k, v in filters.items()),
    }
    return render(request, "history.html", context)


@login_required
def api_keys(request: HttpRequest) -> HttpResponse:
    new_key = None
    if request.method == "POST":
        if "revoke" in request.POST:
            revoke = request.POST["revoke"]
            keys = ApiKey.objects.filter(owner_id=request.user.pk)
            api_key = keys.filter(pk=int(revoke)).first() if revoke.isdigit() else None
            if api_key is not None:
                services.api_key_revoke(api_key=api_key)
                messages.success(request, f"Revoked {api_key.name}.")
        else:
            name = request.POST.get("name", "").strip()[:100] or "unnamed"
            _, new_key = services.api_key_create(owner=request.user, name=name)  # type: ignore[arg-type]
    context = {
        "keys": ApiKey.objects.filter(owner_id=request.user.pk),
        "new_key": new_key,
        "is_guest": is_guest(request.user),  # type: ignore[arg-type]
        "base_url": request.build_absolute_uri("/").rstrip("/"),
    }
    return render(request, "api_keys.html", context)
