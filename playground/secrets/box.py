"""Secrets at rest: Fernet tokens (AES-128-CBC with HMAC-SHA256), under MultiFernet so
that a key can be rotated.

The keys come from SANDPIT_SECRETS_KEY (comma-separated; the first encrypts, all
decrypt) or, when it is unset, from `<state dir>/secrets_key`, made at first use (0600).
A lost key makes its secrets unreadable: no other key reads them.
"""

import functools
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from sandbox.files import write_private

KEY_FILE = "secrets_key"


class SecretUnreadable(Exception):
    """A stored secret that no configured key decrypts (the key was lost or changed)."""


def key_file() -> Path:
    return Path(settings.STATE_DIR) / KEY_FILE


def write_key_file(keys: list[bytes]) -> None:
    """The key file, owner-only, replaced atomically: one key a line, the first in use."""
    write_private(key_file(), b"\n".join(keys) + b"\n")


def configured_keys() -> list[bytes]:
    if settings.SANDPIT_SECRETS_KEY:
        return [k.strip().encode() for k in settings.SANDPIT_SECRETS_KEY.split(",") if k.strip()]
    path = key_file()
    if not path.exists():
        write_key_file([Fernet.generate_key()])
    return [line.strip() for line in path.read_bytes().splitlines() if line.strip()]


class SecretBox:
    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, value: str) -> str:
        return self._fernet.encrypt(value.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretUnreadable("no configured key decrypts this secret") from None

    def rotate(self, token: str) -> str:
        """The same value, sealed under the first key."""
        return self._fernet.rotate(token.encode("ascii")).decode("ascii")


@functools.cache
def secret_box() -> SecretBox:
    return SecretBox(configured_keys())
