"""Writes on runtimes and revisions. Builds run in the background (sandbox/builds/)."""

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from sandbox import languages
from sandbox.builds.manifests import invalid_imports, manifest_problem
from sandbox.builds.orchestrator import runtime_builds
from sandbox.engine import get_engine
from sandbox.errors import RuntimeInvalid
from sandbox.events import BuildSink
from sandbox.languages import Family
from sandbox.models import Runtime, RuntimeRevision


def _check_revision(
    runtime_language: str, manifest_name: str, contents: str, additional_python_imports: str
) -> None:
    """RuntimeInvalid, naming the field, for a revision that must not be built."""
    if runtime_language not in languages.RUNTIME_LANGUAGES:
        allowed = ", ".join(languages.RUNTIME_LANGUAGES)
        raise RuntimeInvalid("language", f"a runtime is one of {allowed}")
    family = languages.LANGUAGES[languages.Language(runtime_language)].family
    expected = languages.FAMILIES[family].manifest
    if manifest_name != expected:
        raise RuntimeInvalid(
            "manifest_file.name",
            f"a {runtime_language} runtime takes a {expected}, not {manifest_name}",
        )
    problem = manifest_problem(manifest_name, contents)
    if problem:
        raise RuntimeInvalid("manifest_file.contents", problem)
    if additional_python_imports and family is not Family.PYTHON:
        raise RuntimeInvalid("additional_python_imports", "only Python runtimes preload imports")
    bad = invalid_imports(additional_python_imports)
    if bad:
        raise RuntimeInvalid(
            "additional_python_imports", f"{bad[0]!r} is not a module name (e.g. numpy, os.path)"
        )


def _add_revision(
    runtime: Runtime, manifest_name: str, manifest_contents: str, additional_python_imports: str
) -> RuntimeRevision:
    with transaction.atomic():
        revision = RuntimeRevision.objects.create(
            runtime=runtime,
            manifest_name=manifest_name,
            manifest_contents=manifest_contents,
            additional_python_imports=additional_python_imports,
        )
        runtime.current_revision = revision
        runtime.save(update_fields=["current_revision"])
    return revision


async def revision_create(
    *,
    runtime: Runtime,
    manifest_name: str,
    manifest_contents: str,
    additional_python_imports: str = "",
    on_line: BuildSink | None = None,
) -> RuntimeRevision:
    """A new revision, built in the background; it becomes the runtime's current one.

    Raises RuntimeInvalid, or BuildsBusy when the owner has as many builds as one may,
    and writes nothing.
    """
    _check_revision(runtime.language, manifest_name, manifest_contents, additional_python_imports)
    with runtime_builds.place(runtime.owner_id):
        revision = await sync_to_async(_add_revision)(
            runtime, manifest_name, manifest_contents, additional_python_imports
        )
        runtime_builds.start(revision.id, on_line, owner_id=runtime.owner_id, placed=True)
    return revision


def _add_runtime(
    owner: User,
    name: str,
    language: str,
    engine: str,
    manifest_name: str,
    manifest_contents: str,
    additional_python_imports: str,
) -> tuple[Runtime, RuntimeRevision]:
    """The runtime and its first revision, together or not at all."""
    with transaction.atomic():
        runtime = Runtime.objects.create(owner=owner, name=name, language=language, engine=engine)
        revision = _add_revision(
            runtime, manifest_name, manifest_contents, additional_python_imports
        )
    return runtime, revision


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
    """A runtime and its first revision, whose build starts in the background.

    Raises RuntimeInvalid, or BuildsBusy when the owner has as many builds as one may,
    and writes nothing.
    """
    _check_revision(language, manifest_name, manifest_contents, additional_python_imports)
    with runtime_builds.place(owner.id):
        runtime, revision = await sync_to_async(_add_runtime)(
            owner,
            name,
            language,
            engine,
            manifest_name,
            manifest_contents,
            additional_python_imports,
        )
        runtime_builds.start(revision.id, on_line, owner_id=owner.id, placed=True)
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
    runtime_builds.start_soon(revision.id, revision.runtime.owner_id)


def revisions_fail_interrupted() -> int:
    """Builds a stopped server left pending or building end as failed, not forever."""
    return RuntimeRevision.objects.filter(
        status__in=[RuntimeRevision.Status.PENDING, RuntimeRevision.Status.BUILDING]
    ).update(
        status=RuntimeRevision.Status.FAILED,
        failure_reason="the server restarted during the build; create a new revision",
        build_finished_at=timezone.now(),
    )
