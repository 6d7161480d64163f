"""Custom runtimes: a runtime is a named image line; each revision is one build of it."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandbox import languages
from sandbox.ids import new_revision_id, new_runtime_id


class Runtime(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_runtime_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="runtimes"
    )
    name = models.CharField(max_length=200)
    language = models.CharField(max_length=16, choices=languages.runtime_language_choices())
    # Riza's word for how it isolates; every Sandpit runtime is a container.
    engine = models.CharField(max_length=16, default="microvm")
    current_revision = models.ForeignKey(
        "RuntimeRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Deleted runtimes leave the lists; their revisions stay, for past executions' sake.
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    def serves(self, language: str) -> bool:
        """A javascript runtime serves TypeScript runs too: the languages of its family."""
        return languages.serves(self.language, language)


class RuntimeRevision(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        BUILDING = "building"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELLED = "cancelled"

    id = models.CharField(primary_key=True, max_length=40, default=new_revision_id, editable=False)
    runtime = models.ForeignKey(Runtime, on_delete=models.CASCADE, related_name="revisions")
    manifest_name = models.CharField(max_length=32)
    manifest_contents = models.TextField()
    additional_python_imports = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    build_log = models.TextField(blank=True, default="")
    # One line saying why the build failed (pip's or npm's own error, when there is one).
    failure_reason = models.TextField(blank=True, default="")
    image_tag = models.CharField(max_length=200, blank=True, default="")
    image_size_bytes = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    build_started_at = models.DateTimeField(null=True, blank=True)
    build_finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.id

    @property
    def is_built(self) -> bool:
        return self.status == self.Status.SUCCEEDED and bool(self.image_tag)

    @property
    def build_seconds(self) -> float | None:
        if self.build_started_at and self.build_finished_at:
            return (self.build_finished_at - self.build_started_at).total_seconds()
        return None

    def preload_modules(self) -> list[str]:
        """additional_python_imports as module names: separated by commas, spaces or lines."""
        return [m for m in self.additional_python_imports.replace(",", " ").split() if m]
