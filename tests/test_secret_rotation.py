"""manage.py rotate_secrets_key: every secret re-encrypted under a new key, the old gone."""

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from pytest_django.fixtures import Settings as SettingsWrapper

from playground.models import Secret, Session
from playground.secrets import box as secret_box
from playground.secrets.box import SecretBox, SecretUnreadable, configured_keys


@pytest.fixture(autouse=True)
def fresh_box() -> Iterator[None]:
    """The box is made once per process: made again from this test's keys, and after."""
    secret_box.secret_box.cache_clear()
    yield
    secret_box.secret_box.cache_clear()


@pytest.mark.django_db
def test_rotation_re_encrypts_everything_and_retires_the_old_key(
    settings: SettingsWrapper, tmp_path: Path
) -> None:
    settings.STATE_DIR = tmp_path
    settings.SANDPIT_SECRETS_KEY = ""
    owner = User.objects.create(username="rotator")
    (old_key,) = configured_keys()
    for i in range(3):
        Secret.objects.create(
            owner=owner, name=f"S{i}", ciphertext=SecretBox([old_key]).seal(f"v{i}")
        )
    session = Session.objects.create(
        owner=owner,
        language="python",
        memory_mib=128,
        idle_timeout_s=600,
        sealed=SecretBox([old_key]).seal('{"env": {"K": "v"}}'),
    )
    said = io.StringIO()
    call_command("rotate_secrets_key", stdout=said)
    assert "re-encrypted 3 secrets" in said.getvalue()
    (new_key,) = configured_keys()
    assert new_key != old_key
    session.refresh_from_db()
    assert SecretBox([new_key]).open(session.sealed) == '{"env": {"K": "v"}}'
    for i, secret in enumerate(Secret.objects.order_by("name")):
        assert SecretBox([new_key]).open(secret.ciphertext) == f"v{i}"
        with pytest.raises(SecretUnreadable):
            SecretBox([old_key]).open(secret.ciphertext)
