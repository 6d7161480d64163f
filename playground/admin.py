import json
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from playground.models import ApiKey, Execution, Secret, Session, Tool, ToolRevision
from playground.runs.serializers import execution_state
from playground.runs.services import api_key_revoke


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("name", "prefix", "owner", "created_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "owner__username")
    # The hash is useless to people and the key itself is never stored.
    exclude = ("hashed_key",)
    readonly_fields = ("owner", "prefix", "created_at", "last_used_at", "revoked_at")
    actions = ("revoke",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # keys are made where they can be shown once: create_api_key

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        for api_key in queryset:
            api_key_revoke(api_key=api_key)


class NonZeroExitFilter(admin.SimpleListFilter):
    title = "exit code"
    parameter_name = "exit"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("zero", "0"), ("non_zero", "not 0")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "zero":
            return queryset.filter(exit_code=0)
        if self.value() == "non_zero":
            return queryset.exclude(exit_code=0).exclude(exit_code__isnull=True)
        return queryset


@admin.register(Execution)
class ExecutionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "owner",
        "kind",
        "language",
        "status",
        "exit_code",
        "duration_ms",
        "started_at",
    )
    list_filter = ("status", "language", "kind", NonZeroExitFilter, "is_shared", "started_at")
    search_fields = ("id",)
    date_hierarchy = "started_at"

    def get_queryset(self, request: HttpRequest) -> Any:
        queryset = super().get_queryset(request)
        # The list shows none of a run's texts; its page (change view) loads them all.
        if request.resolver_match and (request.resolver_match.url_name or "").endswith(
            "changelist"
        ):
            return queryset.defer("code", "request", "stdout", "stderr", "output")
        return queryset

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A record of what happened: nobody edits it. The stored request is already masked.
        return ["permalink", "as_served", *(f.name for f in Execution._meta.fields)]

    @admin.display(description="as its readers see it")
    def as_served(self, execution: Execution) -> str:
        """The one serialiser's view: what the API, the permalink and watchers are given."""
        state = json.dumps(execution_state(execution), indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", state)

    @admin.display(description="permalink")
    def permalink(self, execution: Execution) -> str:
        url = reverse("execution", args=[execution.id])
        return format_html('<a href="{}">{}</a>', url, url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Names and owners; the value is never shown, not even encrypted."""

    list_display = ("name", "id", "owner", "created_at", "last_used_at")
    search_fields = ("name", "id", "owner__username")
    exclude = ("ciphertext",)
    readonly_fields = ("id", "name", "owner", "created_at", "last_used_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a value is given by its owner, through the API or the page


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """A record of sessions: their calls are executions (kind "session"). Their sealed env
    and credentials are never shown; ending one is its owner's (DELETE /v1/sessions)."""

    list_display = ("id", "owner", "language", "status", "calls", "node", "last_used_at")
    list_filter = ("status", "language", "node")
    search_fields = ("id", "owner__username")
    exclude = ("sealed",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Session._meta.fields if f.name != "sealed"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ToolRevisionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ToolRevision
    fields = ("id", "name", "language", "runtime_revision_id", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Tool)
class ToolAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("__str__", "owner", "current_revision", "created_at")
    search_fields = ("id", "owner__username", "revisions__name")
    readonly_fields = ("id", "owner", "current_revision", "created_at")
    inlines = (ToolRevisionInline,)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
