"""Docker's image calls: the part of DockerAdapter that builds, imports, sizes and
removes images (the base image's and custom runtimes')."""

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import docker.errors

log = logging.getLogger(__name__)
T = TypeVar("T")
# Docker colours a RUN step's stderr; the log is for reading, not for a terminal.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


class ImageCalls:
    """Mixed into DockerAdapter, which gives it its client and its error mapping."""

    @property
    def api(self) -> Any:
        raise NotImplementedError

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        raise NotImplementedError

    def image_exists(self, tag: str) -> bool:
        try:
            self.call(self.api.inspect_image, tag)
        except docker.errors.ImageNotFound:
            return False
        return True

    def image_size_bytes(self, tag: str) -> int:
        return int(self.call(self.api.inspect_image, tag)["Size"])

    def import_image(self, tarball: Path, tag: str) -> None:
        repository, _, version = tag.partition(":")
        self.call(self.api.import_image_from_file, str(tarball), repository=repository, tag=version)

    def remove_image(self, tag: str) -> bool:
        """Remove an image; False when a container still uses it (try again later)."""
        try:
            self.call(self.api.remove_image, tag)
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
        stream = self.call(
            self.api.build,
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
