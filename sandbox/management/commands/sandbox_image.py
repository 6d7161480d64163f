from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import images
from sandbox.docker.connection import DockerConnection
from sandbox.docker.images import DockerImages
from sandbox.errors import EngineUnavailable


class Command(BaseCommand):
    help = "Build the base sandbox image when its inputs changed, and print its tag."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check", action="store_true", help="only report; exit 1 when the image is missing"
        )

    def handle(self, *args: Any, check: bool = False, **options: Any) -> None:
        store = DockerImages(
            DockerConnection(
                instance=settings.SANDBOX_INSTANCE, timeout_s=settings.SANDBOX_DOCKER_TIMEOUT_S
            )
        )
        tag = images.base_image_tag()
        try:
            if check:
                if not store.image_exists(tag):
                    raise CommandError(f"{tag} is not built; run 'python manage.py sandbox_image'")
            else:
                images.ensure_base_image(store, say=lambda line: self.stderr.write(line))
            size_mib = store.image_size_bytes(tag) / 2**20
        except (EngineUnavailable, RuntimeError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            store.close()
        self.stdout.write(f"{tag} ({size_mib:.0f} MiB)")
