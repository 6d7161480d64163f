from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from sandbox.models import Runtime, RuntimeRevision
from sandbox.services import revision_rebuild


class RevisionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = RuntimeRevision
    fields = ("id", "status", "failure_reason", "image_tag", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Runtime)
class RuntimeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "name",
        "language",
        "owner",
        "current_revision",
        "created_at",
        "deleted_at",
    )
    list_filter = ("language", "deleted_at")
    search_fields = ("id", "name", "owner__username")
    readonly_fields = ("id", "owner", "language", "engine", "current_revision", "created_at")
    inlines = (RevisionInline,)


@admin.register(RuntimeRevision)
class RuntimeRevisionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = (
        "id",
        "runtime",
        "status",
        "image_tag",
        "size_mib",
        "build_time_s",
        "created_at",
    )
    list_filter = ("status", "runtime__language")
    search_fields = ("id", "runtime__name", "runtime__id")
    actions = ("rebuild",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["size_mib", "build_time_s", *(f.name for f in RuntimeRevision._meta.fields)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # revisions are made through the API, which starts their build

    @admin.display(description="size (MiB)")
    def size_mib(self, revision: RuntimeRevision) -> str:
        size = revision.image_size_bytes
        return f"{size / 2**20:.0f}" if size else "—"

    @admin.display(description="build time (s)")
    def build_time_s(self, revision: RuntimeRevision) -> str:
        seconds = revision.build_seconds
        return f"{seconds:.1f}" if seconds is not None else "—"

    @admin.action(description="Rebuild the selected revisions")
    def rebuild(self, request: HttpRequest, queryset: QuerySet[RuntimeRevision]) -> None:
        for revision in queryset:
            revision_rebuild(revision=revision)
        self.message_user(request, f"Rebuilding {len(queryset)} revisions.")
