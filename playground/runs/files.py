"""Runs' output files: kept in the artifacts storage, listed on their execution, served
only to whoever may see the run.

Stored through Django's storage API (STORAGES["artifacts"]: a folder of the state
directory by default, any backend by setting) under a name made from the execution's
id and a digest of the path (no name a run chose reaches the storage), and removed with
their execution. Served as attachments that no browser renders in Sandpit's origin:
`Content-Disposition: attachment`, `nosniff` and a CSP sandbox.
"""

import asyncio
import base64
import hashlib
import logging
from collections.abc import AsyncIterator, Iterable
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db.models import Sum
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import StreamingHttpResponse
from django.utils.http import content_disposition_header

from playground.models import Execution
from playground.web.guests import GUEST_PREFIX
from sandbox.jobs import File, Job, OutputFile

log = logging.getLogger(__name__)
# A download is read and sent this much at a time.
SERVE_PIECE_BYTES = 256 * 1024
SERVING_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "Cache-Control": "private, no-store",
}


def storage() -> Storage:
    return storages["artifacts"]


def stored_name(execution_id: str, path: str) -> str:
    digest = hashlib.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"executions/{execution_id}/{digest}"


def new_files(job: Job, files: Iterable[OutputFile]) -> list[OutputFile]:
    """The run's files but those it was given and left as they were: a page that sends
    uploads and asks for every file back would keep each upload twice."""
    given = {f.path: _sha256_of(f) for f in job.files}
    return [f for f in files if f.skipped or given.get(f.path) != f.sha256]


def _sha256_of(given: File) -> str:
    if given.encoding == "base64":
        data = base64.b64decode(given.contents)
    else:
        data = given.contents.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def files_store(execution: Execution, files: Iterable[OutputFile]) -> list[dict[str, Any]]:
    """Keep a finished run's files' bytes, within its owner's quota; their listing, for
    the record, and their bytes in all on `execution.files_bytes` (blocking I/O)."""
    room = quota_bytes(execution.owner) - used_bytes(execution.owner_id)
    listed: list[dict[str, Any]] = []
    kept = 0
    for f in files:
        if not f.skipped and f.size > room - kept:
            f.skipped = "past its owner's room for kept files; delete old runs, or ask for fewer"
        if f.skipped:
            listed.append({"path": f.path, "skipped": f.skipped})
            continue
        name = stored_name(execution.id, f.path)
        try:
            storage().delete(name)  # saved again after a database retry: the same bytes
            storage().save(name, ContentFile(f.data))
        except OSError as exc:
            log.error("run %s: file %r could not be stored: %s", execution.id, f.path, exc)
            listed.append({"path": f.path, "skipped": "it could not be stored"})
            continue
        kept += f.size
        listed.append(
            {"path": f.path, "size": f.size, "sha256": f.sha256, "content_type": f.content_type}
        )
    execution.files_bytes = kept
    return listed


def quota_bytes(owner: User) -> int:
    """What one owner's runs may keep in files, in all: a guest far less than a user."""
    guest = owner.username.startswith(GUEST_PREFIX) and not owner.has_usable_password()
    mib = settings.PLAYGROUND_GUEST_FILES_QUOTA_MIB if guest else settings.SANDPIT_FILES_QUOTA_MIB
    return int(mib) * 1024 * 1024


def used_bytes(owner_id: int) -> int:
    total = Execution.objects.filter(owner_id=owner_id).aggregate(total=Sum("files_bytes"))
    return int(total["total"] or 0)


def files_shape(execution: Execution, base_url: str) -> list[dict[str, Any]]:
    """The execution's `files`, each kept one with the URL it is served at."""
    shaped = []
    for f in execution.files:
        entry = dict(f)
        if not entry.get("skipped"):
            entry["url"] = f"{base_url}/{quote(entry['path'])}"
        shaped.append(entry)
    return shaped


def file_listed(execution: Execution, path: str) -> dict[str, Any] | None:
    return next((f for f in execution.files if f["path"] == path and not f.get("skipped")), None)


def file_response(execution: Execution, listed: dict[str, Any]) -> StreamingHttpResponse:
    """A kept file's bytes, as an attachment that runs nothing in Sandpit's origin,
    streamed a piece at a time off the event loop (a FileResponse's bytes would all be
    read at once under ASGI, and on the one thread every sync view shares)."""
    handle = storage().open(stored_name(execution.id, listed["path"]), "rb")

    async def pieces() -> AsyncIterator[bytes]:
        try:
            while piece := await asyncio.to_thread(handle.read, SERVE_PIECE_BYTES):
                yield piece
        finally:
            await asyncio.to_thread(handle.close)

    response = StreamingHttpResponse(
        pieces(), content_type=listed.get("content_type") or "application/octet-stream"
    )
    filename = listed["path"].rsplit("/", 1)[-1]
    response["Content-Disposition"] = content_disposition_header(True, filename) or "attachment"
    response["Content-Length"] = str(listed.get("size", 0))
    for name, value in SERVING_HEADERS.items():
        response[name] = value
    return response


@receiver(post_delete, sender=Execution)
def _forget_files(sender: type, instance: Execution, **kwargs: Any) -> None:
    for f in instance.files or []:
        if not f.get("skipped"):
            storage().delete(stored_name(instance.id, f["path"]))
