"""The playground's pages for tools and secrets: your own, signed in."""

import json
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_POST

from playground.api.bodies import aparse_json_object
from playground.api.errors import ApiError, api_error_of, error_json
from playground.models import Execution, Secret, Tool, ToolRevision
from playground.runs import intake, services
from playground.runs.selectors import owned_tools
from playground.secrets import vault
from playground.tools import services as tool_services
from sandbox.errors import EngineError, Invalid
from sandbox.languages import LANGUAGES

# A try-it input is typed into a form: far fewer values than an API call may send.
TRY_IT_MAX_ELEMENTS = 10_000


def _tool(request: HttpRequest, tool_id: str) -> Tool:
    tool = owned_tools(request.user.pk).filter(id=tool_id).first()
    if tool is None:
        raise Http404("no such tool")
    return tool


@login_required
def tool_list(request: HttpRequest) -> HttpResponse:
    tools = Tool.objects.filter(owner_id=request.user.pk).select_related("current_revision")
    return render(request, "tools.html", {"tools": tools})


@login_required
@ensure_csrf_cookie
def tool_edit(request: HttpRequest, tool_id: str | None = None) -> HttpResponse:
    """Make a tool, or change one (a new revision); the form and its errors."""
    tool = _tool(request, tool_id) if tool_id else None
    error: dict[str, str] | None = None
    if request.method == "POST":
        fields: dict[str, Any] = {
            "name": request.POST.get("name", ""),
            "language": request.POST.get("language", ""),
            "description": request.POST.get("description", ""),
            "code": request.POST.get("code", ""),
        }
        try:
            text = request.POST.get("input_schema", "").strip()
            try:
                fields["input_schema"] = json.loads(text) if text else {}
            except ValueError as exc:
                raise Invalid("input_schema", f"is not JSON: {exc}") from None
            if tool is None:
                tool = async_to_sync(tool_services.tool_create)(
                    owner=request.user,  # type: ignore[arg-type]
                    fields=tool_services.ToolFields(**fields),
                )
                messages.success(request, f"Saved {fields['name']}.")
            else:
                async_to_sync(tool_services.tool_update)(tool=tool, changes=fields)
                messages.success(request, f"Saved a new revision of {fields['name']}.")
            return redirect("tool", tool_id=tool.id)
        except Invalid as exc:
            error = {"field": exc.field, "message": str(exc)}
    shown = tool_services.tool_shape(tool) if tool else None
    context = {
        "tool": shown,
        "revisions": ToolRevision.objects.filter(tool=tool).only("id", "name", "created_at")
        if tool
        else [],
        "languages": LANGUAGES.values(),
        "error": error,
        "posted": request.POST if error else None,
    }
    return render(request, "tool_edit.html", context)


@login_required
@require_POST
def tool_run(request: HttpRequest, tool_id: str) -> HttpResponse:
    """Try it: run the tool on an input from the page; the page watches it live."""
    tool = _tool(request, tool_id)
    try:
        body = async_to_sync(aparse_json_object)(
            request.body, max_elements=TRY_IT_MAX_ELEMENTS, owner=f"owner:{request.user.pk}"
        )
        caller = intake.api_caller(request.user, intake.Via.PLAYGROUND)  # type: ignore[arg-type]
        tried = {
            "input": body.get("input"),
            "revision_id": body.get("revision_id") or None,
            "output_files": body.get("output_files"),
        }
        submission = async_to_sync(intake.submission)(caller, tried, Execution.Kind.TOOL, tool)
        execution = async_to_sync(services.execution_start)(submission)
    except (ApiError, Invalid, EngineError) as exc:
        return error_json(api_error_of(exc))
    return JsonResponse({"id": execution.id, "permalink": f"/e/{execution.id}"}, status=201)


@login_required
def secret_list(request: HttpRequest) -> HttpResponse:
    """Add, list and delete secrets; a value is taken once and never shown."""
    error: dict[str, Any] | None = None
    if request.method == "POST":
        if "delete" in request.POST:
            secret = Secret.objects.filter(owner_id=request.user.pk, id=request.POST["delete"])
            found = secret.first()
            if found is not None:
                async_to_sync(vault.secret_delete)(secret=found)
                messages.success(request, f"Deleted {found.name}.")
            return redirect("secrets")
        name = request.POST.get("name", "").strip()
        try:
            async_to_sync(vault.secret_create)(
                owner=request.user,  # type: ignore[arg-type]
                name=name,
                value=request.POST.get("value", ""),
            )
            messages.success(request, f"Saved {name}. Its value will not be shown again.")
            return redirect("secrets")
        except Invalid as exc:
            error = {"field": exc.field, "message": str(exc), "name": name}
    secrets = Secret.objects.filter(owner_id=request.user.pk).defer("ciphertext")
    return render(request, "secrets.html", {"secrets": secrets, "error": error})
