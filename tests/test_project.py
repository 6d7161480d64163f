"""The project as a whole: migrations, the image command, the home page."""

import os
import stat
import subprocess
import sys
from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils.module_loading import import_string

from sandbox import images
from tests.conftest import LiveServer


@pytest.mark.django_db
def test_no_model_change_lacks_its_migration() -> None:
    call_command("makemigrations", "--check", "--dry-run", stdout=StringIO())


def test_sandbox_image_reports_the_current_image(base_image: str) -> None:
    out = StringIO()
    call_command("sandbox_image", "--check", stdout=out)
    assert out.getvalue().startswith(f"{images.base_image_tag()} (")
    assert base_image == images.base_image_tag()


def test_the_image_tag_changes_when_an_agent_file_changes(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "worker.py").write_text("one")
    monkeypatch.setattr(images, "AGENT_DIR", agent)
    images.base_image_tag.cache_clear()
    try:
        first = images.base_image_tag()
        images.base_image_tag.cache_clear()
        assert images.base_image_tag() == first
        (agent / "worker.py").write_text("two")
        images.base_image_tag.cache_clear()
        assert images.base_image_tag() != first
    finally:
        images.base_image_tag.cache_clear()


@pytest.mark.django_db
def test_the_home_page_answers() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    assert b"Sandpit" in response.content


def test_the_state_folder_is_private_and_made_on_first_use(tmp_path: Path) -> None:
    state = tmp_path / "new" / "state"
    env = {**os.environ, "SANDPIT_STATE_DIR": str(state), "SECRET_KEY": "given"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        env=env,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert (state / "db.sqlite3").exists()
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_static_files_are_served_and_no_middleware_is_sync_only(
    sandpit_server: LiveServer,
) -> None:
    """A sync-only middleware would send every request through a thread and back: the
    static files middleware asks WhiteNoise only about static paths."""
    for path in settings.MIDDLEWARE:
        assert import_string(path).async_capable, f"{path} is sync-only"
    served = httpx.get(f"{sandpit_server.url}/static/js/editor.js")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/javascript")
    assert served.content == (Path(__file__).parents[1] / "static/js/editor.js").read_bytes()
    assert httpx.get(f"{sandpit_server.url}/static/js/missing.js").status_code == 404
