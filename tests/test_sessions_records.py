"""Session records when their node goes: a restart settles this node's sessions, and a
dead node's sessions end (their sandboxes and files were on its engine)."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from playground.cluster.nodes import SESSION_NODE_DIED, sweep
from playground.models import Execution, Node, Session
from playground.sessions.upkeep import RESTARTED_ENDED, RESTARTED_PAUSED, sessions_recover

Status = Session.Status


@pytest.fixture
def owner(db: None) -> User:
    return User.objects.create(username="owner")


def make(owner: User, node: str, status: str) -> Session:
    return Session.objects.create(
        owner=owner, language="python", memory_mib=128, idle_timeout_s=600, node=node, status=status
    )


def test_a_restart_pauses_sessions_whose_files_were_saved_and_ends_the_rest(owner: User) -> None:
    saved = make(owner, "here", Status.READY)
    unsaved = make(owner, "here", Status.READY)
    paused = make(owner, "here", Status.PAUSED)
    lost = make(owner, "here", Status.PAUSED)
    elsewhere = make(owner, "there", Status.READY)
    assert sessions_recover(node="here", saved={saved.id, paused.id}) == (1, 2)
    for session, status, reason in (
        (saved, Status.PAUSED, RESTARTED_PAUSED),
        (unsaved, Status.ENDED, RESTARTED_ENDED),
        (paused, Status.PAUSED, ""),
        (lost, Status.ENDED, "its saved files are gone"),
        (elsewhere, Status.READY, ""),
    ):
        session.refresh_from_db()
        assert (session.status, session.reason) == (status, reason)


def test_a_dead_nodes_sessions_end_with_a_reason(owner: User) -> None:
    long_ago = timezone.now() - timedelta(seconds=settings.SANDPIT_NODE_TIMEOUT_S + 60)
    Node.objects.create(name="gone", last_seen=long_ago)
    ready, paused = make(owner, "gone", Status.READY), make(owner, "gone", Status.PAUSED)
    mine = make(owner, settings.SANDBOX_INSTANCE, Status.READY)
    sweep()
    for session in (ready, paused):
        session.refresh_from_db()
        assert (session.status, session.reason) == (Status.ENDED, SESSION_NODE_DIED)
    mine.refresh_from_db()
    assert mine.status == Status.READY


def test_a_calls_permalink_the_history_and_the_admin_show_it(admin_user: User) -> None:
    session = make(admin_user, "here", Status.READY)
    session.sealed = "SEALED-TOKEN-NEVER-SHOWN"
    session.save()
    execution = Execution.objects.create(
        owner=admin_user,
        kind=Execution.Kind.SESSION,
        session_id=session.id,
        language="python",
        code="1 / 0",
        status="failed",
        exit_code=1,
        stderr="ZeroDivisionError: division by zero\n",
        error={"name": "ZeroDivisionError", "value": "division by zero", "traceback": []},
    )
    client = Client()
    client.force_login(admin_user)
    page = client.get(f"/e/{execution.id}")
    assert page.status_code == 200 and "ZeroDivisionError" in page.content.decode()
    history = client.get("/history?kind=session")
    assert [e.id for e in history.context["page"].object_list] == [execution.id]
    admin = client.get(f"/admin/playground/session/{session.id}/change/").content.decode()
    assert session.id in admin and "SEALED-TOKEN-NEVER-SHOWN" not in admin
    assert client.get("/admin/playground/session/?status=ready").status_code == 200
