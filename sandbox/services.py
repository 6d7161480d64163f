"""Writes on runtimes and revisions. Builds run in the background (sandbox/builds/)."""

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.utils import timezone

from sandbox.builds.manifests import invalid_imports, manifest_problem
from sandbox.builds.orchestrator import BuildSink, runtime_builds
from sandbox.engine import get_engine
from sandbox.models import MANIFEST_FOR_LANGUAGE, Runtime, RuntimeRevision


class RuntimeInvalid(ValueError):
    """A runtime or revision request breaks a rule; `field` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def _check_manifest(language: str, manifest_name: str, contents: str) -> None:
    expected = MANIFEST_FOR_LANGUAGE[language]
    if manifest_name != expected:
        raise RuntimeInvalid(
            "manifest_file.name", f"a {language} runtime takes a {expected}, not {manifest_name}"
        )
    problem = manifest_problem(manifest_name, contents)
    if problem:
        raise RuntimeInvalid("manifest_file.contents", problem)


async def revision_create(
    *,
    runtime: Runtime,
    manifest_name: str,
    manifest_contents: str,
    additional_python_imports: str = "",
    on_line: BuildSink | None = None,
) -> RuntimeRevision:
    """A new revision, built in the background; it becomes the runtime's current one."""
    _check_manifest(runtime.language, manifest_name, manifest_contents)
    if additional_python_imports and runtime.language != Runtime.Language.PYTHON:
        raise RuntimeInvalid("additional_python_imports", "only Python runtimes preload imports")
    bad = invalid_imports(additional_python_imports)
    if bad:
        raise RuntimeInvalid(
            "additional_python_imports", f"{bad[0]!r} is not a module name (e.g. numpy, os.path)"
        )
    revision = await RuntimeRevision.objects.acreate(
        runtime=runtime,
        manifest_name=manifest_name,
        manifest_contents=manifest_contents,
        additional_python_imports=additional_python_imports,
    )
    runtime.current_revision = revision
    await runtime.asave(update_fields=["current_revision"])
    runtime_builds.start(revision.id, on_line)
    return revision


async def runtime_create(
    *,
    owner: User,
    name: str,
    language: str,
    manifest_name: str,
    manifest_contents: str,
    additional_python_imports: str = "",
    engine: str = "microvm",
    on_line: BuildSink | None = None,
) -> Runtime:
    _check_manifest(language, manifest_name, manifest_contents)
    runtime = await Runtime.objects.acreate(
        owner=owner, name=name, language=language, engine=engine
    )
    await revision_create(
        runtime=runtime,
        manifest_name=manifest_name,
        manifest_contents=manifest_contents,
        additional_python_imports=additional_python_imports,
        on_line=on_line,
    )
    return runtime


async def runtime_delete(*, runtime: Runtime) -> None:
    """Hide the runtime, cancel its builds, stop its pools and remove its images.

    Past executions keep their record (and the revision id they ran on).
    """
    runtime.deleted_at = timezone.now()
    await runtime.asave(update_fields=["deleted_at"])
    async for revision in runtime.revisions.all():
        await runtime_builds.cancel(revision.id)
        if revision.image_tag:
            await get_engine().release_image(revision.image_tag)
            await sync_to_async(runtime_builds.adapter.remove_image)(revision.image_tag)


def revision_rebuild(*, revision: RuntimeRevision) -> None:
    """Build a revision again, e.g. after a registry hiccup: the admin's action."""
    revision.status = RuntimeRevision.Status.PENDING
    revision.build_log = ""
    revision.failure_reason = ""
    revision.save(update_fields=["status", "build_log", "failure_reason"])
    runtime_builds.start_soon(revision.id)


def revisions_fail_interrupted() -> int:
    """Builds a stopped server left pending or building end as failed, not forever."""
    return RuntimeRevision.objects.filter(
        status__in=[RuntimeRevision.Status.PENDING, RuntimeRevision.Status.BUILDING]
    ).update(
        status=RuntimeRevision.Status.FAILED,
        failure_reason="the server restarted during the build; create a new revision",
        build_finished_at=timezone.now(),
    )
