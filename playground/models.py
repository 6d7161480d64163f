import json

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandbox.ids import (
    new_execution_id,
    new_notebook_id,
    new_secret_id,
    new_session_id,
    new_tool_id,
    new_tool_revision_id,
)
from sandbox.jobs import RunResult, RunStatus


class ApiKey(models.Model):
    """A key for the /v1 API. Only its hash is kept; the key itself is shown once."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(max_length=100)
    # The first characters of the key, so that people can tell their keys apart.
    prefix = models.CharField(max_length=16)
    hashed_key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class Execution(models.Model):
    """One run, from the API or the playground: what was asked and what came of it."""

    class Kind(models.TextChoices):
        SCRIPT = "script"
        FUNCTION = "function"
        TOOL = "tool"
        SESSION = "session"  # a call in a session (Session)

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        TIMED_OUT = "timed_out", "timed out"
        OUT_OF_MEMORY = "out_of_memory", "out of memory"
        STOPPED = "stopped"
        ERROR = "error"

    FINISHED = frozenset(
        {
            Status.SUCCEEDED,
            Status.FAILED,
            Status.TIMED_OUT,
            Status.OUT_OF_MEMORY,
            Status.STOPPED,
            Status.ERROR,
        }
    )

    id = models.CharField(primary_key=True, max_length=40, default=new_execution_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="executions"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    language = models.CharField(max_length=16)
    code = models.TextField()
    # The request as received, with every credential replaced by a mask.
    request = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    exit_code = models.IntegerField(null=True, blank=True)
    stdout = models.TextField(blank=True, default="")
    stderr = models.TextField(blank=True, default="")
    # Whether the output passed SANDBOX_MAX_OUTPUT_BYTES and was cut there.
    stdout_truncated = models.BooleanField(default=False)
    stderr_truncated = models.BooleanField(default=False)
    # Every request the run made through its egress proxy (http.allow): method, host,
    # port, path with query values masked, status, bytes, time, whether a credential was
    # added, why it was refused. Never a credential.
    egress = models.JSONField(default=list, blank=True)
    output = models.JSONField(null=True, blank=True)
    output_status = models.CharField(max_length=32, blank=True, default="")
    # display() results: Jupyter display_data bundles, checked by the engine.
    results = models.JSONField(default=list, blank=True)
    # Files kept by output_files: [{path, size, sha256, content_type} | {path, skipped}];
    # their bytes are in the artifacts storage (playground/runs/files.py).
    files = models.JSONField(default=list, blank=True)
    # Their bytes in all: what counts against the owner's quota (playground/runs/files.py).
    files_bytes = models.BigIntegerField(default=0)
    duration_ms = models.IntegerField(null=True, blank=True)
    # Why the engine could not run it (busy, unreachable, interrupted), for people.
    error_reason = models.TextField(blank=True, default="")
    # The custom runtime revision it ran on; blank for the base image.
    runtime_revision_id = models.CharField(max_length=40, blank=True, default="")
    # A tool's run: the tool and the revision of it that ran.
    tool_id = models.CharField(max_length=40, blank=True, default="")
    tool_revision_id = models.CharField(max_length=40, blank=True, default="")
    # A session's call: the session, and the error it raised ({name, value, traceback}).
    session_id = models.CharField(max_length=40, blank=True, default="")
    error = models.JSONField(null=True, blank=True)
    # Anyone with the link may see a shared run; its id is unguessable (80 random bits).
    is_shared = models.BooleanField(default=False)
    # The server instance that ran it: a restart fails only its own unfinished runs.
    node = models.CharField(max_length=100, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-id"], name="execution_owner_newest"),
            # The API's history pages (sandbox/pagination.py).
            models.Index(fields=["owner", "-started_at", "-id"], name="execution_owner_started"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def stored_bytes(self) -> int:
        """About what this record weighs in a response: its texts, output and request."""
        texts = len(self.stdout) + len(self.stderr) + len(self.code) + len(self.error_reason)
        structured = json.dumps([self.output, self.request, self.results, self.error])
        return texts + len(structured)

    def record_result(self, result: RunResult) -> None:
        self.status = _STATUS_OF_RUN[result.status]
        self.exit_code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr
        self.stdout_truncated = result.stdout_truncated
        self.stderr_truncated = result.stderr_truncated
        self.egress = result.egress
        self.duration_ms = result.duration_ms
        self.output = result.output
        self.output_status = result.output_status.value if result.output_status else ""
        self.results = result.results
        self.error = result.error
        self.finished_at = timezone.now()

    # What record_failure changes: a conditional update of these ends a run exactly once.
    FAILURE_FIELDS = (
        "status",
        "exit_code",
        "duration_ms",
        "output_status",
        "stderr",
        "error_reason",
        "finished_at",
    )

    def record_failure(self, reason: str) -> None:
        """The engine could not run it: an error with a reason, never a silent gap."""
        self.status = self.Status.ERROR
        self.error_reason = reason
        self.exit_code = -1 if self.exit_code is None else self.exit_code
        self.duration_ms = self.duration_ms or 0
        if self.kind != self.Kind.SCRIPT:
            self.output_status = "error"
        if not self.stderr.endswith(reason + "\n"):
            self.stderr += f"Sandpit: {reason}\n"
        self.finished_at = timezone.now()


class Session(models.Model):
    """A sandbox kept for one owner, whose calls share variables, imports and files like a
    notebook's cells. Each call is an Execution (kind "session").

    `busy` is no status of the record: a call going on is known to the node that holds
    the session (its `node`), which says so when it is asked.
    """

    class Status(models.TextChoices):
        READY = "ready"
        PAUSED = "paused"
        ENDED = "ended"

    class Kept(models.TextChoices):
        """What came back when it last woke: its interpreter's memory, or its files."""

        MEMORY = "memory"
        FILES = "files"

    id = models.CharField(primary_key=True, max_length=40, default=new_session_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions"
    )
    language = models.CharField(max_length=16)
    runtime_revision_id = models.CharField(max_length=40, blank=True, default="")
    # The runtime revision's image; blank for the base image current when it wakes.
    image = models.CharField(max_length=200, blank=True, default="")
    memory_mib = models.IntegerField()
    idle_timeout_s = models.IntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.READY)
    # Why it is paused or ended, for people ("paused after 600 s idle").
    reason = models.TextField(blank=True, default="")
    state_kept = models.CharField(max_length=16, choices=Kept.choices, default=Kept.MEMORY)
    calls = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    # When it pauses by itself (ready), or ends (paused); none once ended.
    expires_at = models.DateTimeField(null=True, blank=True)
    # The node whose engine holds its sandbox and saved files: calls go there.
    node = models.CharField(max_length=100, blank=True, default="")
    # What it was opened with, credentials and env values masked (as a run's request).
    request = models.JSONField(default=dict)
    # Its env and http.allow as resolved, sealed with the secrets key (a Fernet token):
    # a resume, on this server or after its restart, needs them; nobody reads them.
    sealed = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "-created_at", "-id"], name="session_owner_newest"),
            models.Index(fields=["node", "status", "expires_at"], name="session_node_due"),
        ]

    def __str__(self) -> str:
        return self.id

    @property
    def is_ended(self) -> bool:
        return self.status == self.Status.ENDED


class Notebook(models.Model):
    """The playground's notebook: cells run in turn in one session of its owner, each cell
    keeping its code and the call (an Execution of that session) that last ran it.

    A restart ends the session and opens another: the notebook, its address and its cells
    stay. Shared, anyone with its permalink sees its cells and their outputs.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_notebook_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notebooks"
    )
    language = models.CharField(max_length=16)
    # The session its cells run in now; none once it is deleted.
    session = models.ForeignKey(
        Session, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # [{"id", "code", "execution_id"}], in order (playground/notebooks/services.py).
    cells = models.JSONField(default=list)
    is_shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["owner", "-updated_at"], name="notebook_owner_recent")]

    def __str__(self) -> str:
        return self.id

    def execution_ids(self) -> list[str]:
        return [cell["execution_id"] for cell in self.cells if cell.get("execution_id")]


class Secret(models.Model):
    """A value runs may use (in env, in http auth) and nobody may read back."""

    id = models.CharField(primary_key=True, max_length=40, default=new_secret_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="secrets"
    )
    name = models.CharField(max_length=128)
    # A Fernet token (playground/secrets/box.py); the value is never stored in clear.
    ciphertext = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="secret_name_per_owner")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Tool(models.Model):
    """A saved function, versioned: each update is a new revision, and old ones still run."""

    id = models.CharField(primary_key=True, max_length=40, default=new_tool_id, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tools"
    )
    current_revision = models.ForeignKey(
        "ToolRevision", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        revision = self.current_revision
        return f"{revision.name if revision else '?'} ({self.id})"


class ToolRevision(models.Model):
    """One version of a tool: all of what it is, as it was saved."""

    id = models.CharField(
        primary_key=True, max_length=40, default=new_tool_revision_id, editable=False
    )
    tool = models.ForeignKey(Tool, on_delete=models.CASCADE, related_name="revisions")
    name = models.CharField(max_length=128)
    description = models.TextField(blank=True, default="")
    language = models.CharField(max_length=16)
    code = models.TextField()
    input_schema = models.JSONField(default=dict, blank=True)
    runtime_revision_id = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class Node(models.Model):
    """A server of the cluster, by its SANDBOX_INSTANCE; alive while it heartbeats."""

    name = models.CharField(primary_key=True, max_length=100)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name


_STATUS_OF_RUN = {
    RunStatus.SUCCEEDED: Execution.Status.SUCCEEDED,
    RunStatus.FAILED: Execution.Status.FAILED,
    RunStatus.TIMED_OUT: Execution.Status.TIMED_OUT,
    RunStatus.OUT_OF_MEMORY: Execution.Status.OUT_OF_MEMORY,
    RunStatus.STOPPED: Execution.Status.STOPPED,
    RunStatus.ERROR: Execution.Status.ERROR,
}
