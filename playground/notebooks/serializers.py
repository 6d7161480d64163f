"""One notebook as its pages see it: its cells, each with the state of the call that last
ran it (the one serialiser of runs), and its session's state (the one of sessions)."""

from typing import Any

from playground.models import Execution, Notebook
from playground.runs.serializers import execution_state
from playground.sessions.serializers import session_state


def notebook_state(
    notebook: Notebook, executions: dict[str, Execution], *, is_owner: bool
) -> dict[str, Any]:
    """Its session (never its env or credentials: only what session_state shows) to its
    owner alone; the cells and their outputs to whoever may see it."""
    cells = []
    for cell in notebook.cells:
        execution = executions.get(cell.get("execution_id") or "")
        state = execution_state(execution) if execution else None
        if state is not None and not is_owner:
            state["session_id"] = None  # the session is its owner's business alone
        cells.append({"id": cell["id"], "code": cell["code"], "execution": state})
    return {
        "id": notebook.id,
        "language": notebook.language,
        "is_shared": notebook.is_shared,
        "created_at": notebook.created_at.isoformat(),
        "updated_at": notebook.updated_at.isoformat(),
        "permalink": f"/n/{notebook.id}",
        "session": session_state(notebook.session) if is_owner and notebook.session else None,
        "cells": cells,
    }
