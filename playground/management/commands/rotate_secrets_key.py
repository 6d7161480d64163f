from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from playground.models import Secret, Session
from playground.secrets.box import SecretBox, configured_keys, key_file, write_key_file


class Command(BaseCommand):
    help = (
        "Make a new secrets key and re-encrypt every secret (and sessions' sealed env) "
        "under it. With the key kept in the state folder, the file then holds the new key "
        "alone; with SANDPIT_SECRETS_KEY set, the new key is written to that file and must "
        "replace the variable's value."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        new = Fernet.generate_key()
        box = SecretBox([new, *configured_keys()])
        with transaction.atomic():
            secrets = list(Secret.objects.select_for_update())
            for secret in secrets:
                secret.ciphertext = box.rotate(secret.ciphertext)
                secret.save(update_fields=["ciphertext"])
            # Sessions keep their env and credentials sealed, for their resumes.
            for session in Session.objects.select_for_update().exclude(sealed=""):
                session.sealed = box.rotate(session.sealed)
                session.save(update_fields=["sealed"])
            write_key_file([new])
        self.stdout.write(f"re-encrypted {len(secrets)} secrets under a new key in {key_file()}")
        if settings.SANDPIT_SECRETS_KEY:
            self.stdout.write(
                "SANDPIT_SECRETS_KEY is set: set it to that file's contents, then restart"
            )
