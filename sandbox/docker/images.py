"""Docker's images: built (with no network), imported, sized, exported and removed.

The base image's layers (sandbox/images.py) and runtime revisions' images
(sandbox/builds/) are made here; no registry is ever asked for one. A backend that runs
them without Docker (sandbox/crun/) takes their labels and root file systems from here.
"""

import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import docker.errors

from sandbox.docker.connection import DockerConnection
from sandbox.errors import EngineUnavailable

log = logging.getLogger(__name__)
# An exported root is read in pieces of this size.
EXPORT_CHUNK_BYTES = 1024 * 1024
# The label of the stopped container an image's root is exported from, for a moment.
LABEL_EXPORT = "sandpit.export"
# Docker colours a RUN step's stderr; the log is for reading, not for a terminal.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class DockerImages:
    """sandbox.backends.ImageStore on one Docker engine."""

    def __init__(self, connection: DockerConnection) -> None:
        self.connection = connection

    def image_exists(self, tag: str) -> bool:
        try:
            self.connection.call(self.connection.api.inspect_image, tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def image_size_bytes(self, tag: str) -> int:
        return int(self.connection.call(self.connection.api.inspect_image, tag)["Size"])

    def describe_image(self, tag: str) -> tuple[str, dict[str, str]]:
        """The image's id and its labels; EngineUnavailable when there is no such image."""
        found = self._inspect(tag)
        return str(found["Id"]), dict((found.get("Config") or {}).get("Labels") or {})

    def export_filesystem(self, tag: str) -> Iterator[bytes]:
        """The root a container of the image sees (the image's layers, and the empty
        /etc/hosts, /etc/hostname and /etc/resolv.conf Docker adds), as a tar stream:
        a container is created, never started, exported and removed."""
        self._inspect(tag)
        api = self.connection.api
        created = self.connection.call(
            api.create_container,
            tag,
            command=["/bin/true"],
            network_disabled=True,
            labels=self.connection.labels({LABEL_EXPORT: "1"}),
        )
        try:
            yield from self.connection.call(api.export, created["Id"], EXPORT_CHUNK_BYTES)
        finally:
            self.connection.remove_quietly(created["Id"])

    def _inspect(self, tag: str) -> dict[str, Any]:
        try:
            found: dict[str, Any] = self.connection.call(self.connection.api.inspect_image, tag)
        except docker.errors.ImageNotFound as exc:
            raise EngineUnavailable(
                f"the sandbox image {tag} is missing; "
                "build it with 'python manage.py sandbox_image'"
            ) from exc
        return found

    def import_image(self, tarball: Path, tag: str) -> None:
        repository, _, version = tag.partition(":")
        self.connection.call(
            self.connection.api.import_image_from_file,
            str(tarball),
            repository=repository,
            tag=version,
        )

    def remove_image(self, tag: str) -> bool:
        """Remove an image; False when a container still uses it (try again later)."""
        try:
            self.connection.call(self.connection.api.remove_image, tag)
        except docker.errors.NotFound:
            return True
        except docker.errors.APIError as exc:
            log.info("image %s stays for now: %s", tag, exc)
            return False
        return True

    def build_image(
        self, context: Path | IO[bytes], tag: str, *, buildargs: dict[str, str]
    ) -> Iterator[str]:
        """Build an image with no network, yielding its log by line; RuntimeError if it fails.

        `context` is a folder, or a tar stream made by the caller (with its Dockerfile).
        """
        where: dict[str, Any] = (
            {"path": str(context)}
            if isinstance(context, Path)
            else {"fileobj": context, "custom_context": True}
        )
        stream = self.connection.call(
            self.connection.api.build,
            **where,
            tag=tag,
            buildargs=buildargs,
            network_mode="none",
            rm=True,
            forcerm=True,
            decode=True,
        )
        for chunk in stream:
            if "error" in chunk:
                raise RuntimeError(chunk["error"].strip())
            # A chunk may hold several lines, or part of one; pip's "ERROR:" lines must
            # stand at the start of a line of their own to be found.
            text = ANSI_ESCAPE.sub("", chunk.get("stream", ""))
            yield from (line for line in text.splitlines() if line.strip())

    def close(self) -> None:
        self.connection.close()
