"""Secrets at rest: sealed, opened only with the key, rotated to a new key."""

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pytest_django.fixtures import Settings as SettingsWrapper

from playground.secrets.box import SecretBox, SecretUnreadable, configured_keys


def test_a_sealed_value_is_not_in_clear_and_opens_with_its_key() -> None:
    box = SecretBox([Fernet.generate_key()])
    token = box.seal("ghp_very-secret")
    assert "very-secret" not in token
    assert box.open(token) == "ghp_very-secret"


def test_another_key_never_reads_it() -> None:
    token = SecretBox([Fernet.generate_key()]).seal("s")
    with pytest.raises(SecretUnreadable):
        SecretBox([Fernet.generate_key()]).open(token)


def test_rotation_moves_a_value_to_the_new_key() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    token = SecretBox([old]).seal("s")
    rotated = SecretBox([new, old]).rotate(token)
    assert SecretBox([new]).open(rotated) == "s"


def test_the_key_file_is_made_once_and_private(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.STATE_DIR = tmp_path
    settings.SANDPIT_SECRETS_KEY = ""
    first = configured_keys()
    assert configured_keys() == first
    assert (tmp_path / "secrets_key").stat().st_mode & 0o777 == 0o600
    settings.SANDPIT_SECRETS_KEY = f"{Fernet.generate_key().decode()},{first[0].decode()}"
    assert configured_keys()[1] == first[0]
