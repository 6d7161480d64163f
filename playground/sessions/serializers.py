"""One session as every reader sees it (the API, MCP): the one serialiser of a session.

`busy` is not on the record: the engine of the node that holds the session knows
whether a request of it is going on, and says so here.
"""

from typing import Any

from django.conf import settings

from playground.models import Session
from sandbox.engine import get_engine


def session_state(session: Session) -> dict[str, Any]:
    """The API's Session: never its env, credentials or sealed spec."""
    status = session.status
    here = session.node == settings.SANDBOX_INSTANCE
    if status != Session.Status.ENDED and here and get_engine().sessions.is_busy(session.id):
        status = "busy"
    return {
        "id": session.id,
        "language": session.language,
        "runtime_revision_id": session.runtime_revision_id or None,
        "status": status,
        "ended_reason": session.reason if session.is_ended else None,
        # Ours: why it is paused (by its owner, idle, a restart).
        "paused_reason": session.reason if session.status == Session.Status.PAUSED else None,
        "created_at": session.created_at,
        "last_used_at": session.last_used_at,
        "expires_at": session.expires_at,
        "idle_timeout": session.idle_timeout_s,
        "calls": session.calls,
        "state_kept": session.state_kept,
        "memory_size": session.memory_mib,
    }
