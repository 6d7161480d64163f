"""One execution as every reader sees it: the API, the permalink page, watchers, the admin.

`execution_state` is the one serialiser of a run; the API's shapes (Riza's field names)
are cut from it. A field added here reaches every reader; none of them reads the model's
fields for itself. The state never holds the request, so never env values or credentials:
only the API, to the run's owner, adds the (masked) request.
"""

from typing import Any

from playground.models import Execution
from playground.runs.files import files_shape

NO_EXIT_CODE = -1


def execution_state(execution: Execution) -> dict[str, Any]:
    """What anyone who may see this run is shown of it."""
    return {
        "id": execution.id,
        "kind": execution.kind,
        "language": execution.language,
        "status": execution.status,
        "exit_code": execution.exit_code,
        "duration": execution.duration_ms,
        "stdout": execution.stdout,
        "stderr": execution.stderr,
        "stdout_truncated": execution.stdout_truncated,
        "stderr_truncated": execution.stderr_truncated,
        "output": execution.output,
        "output_status": execution.output_status or None,
        "error_reason": execution.error_reason,
        "started_at": execution.started_at.isoformat(),
        "finished_at": execution.finished_at.isoformat() if execution.finished_at else None,
        "runtime_revision_id": execution.runtime_revision_id or None,
        "is_shared": execution.is_shared,
        "egress": execution.egress,
        "results": execution.results,
        # Where whoever sees the run gets its files: the permalink's own routes.
        "files": files_shape(execution, f"/e/{execution.id}/files"),
        # A session's call: its session, and what it raised ({name, value, traceback}).
        "session_id": execution.session_id or None,
        "error": execution.error,
    }


def execute_response(state: dict[str, Any]) -> dict[str, Any]:
    """Riza's ExecuteResponse: a script's result."""
    return {
        "id": state["id"],
        "exit_code": NO_EXIT_CODE if state["exit_code"] is None else state["exit_code"],
        "stdout": state["stdout"],
        "stderr": state["stderr"],
        "duration": state["duration"] or 0,
        "stdout_truncated": state["stdout_truncated"],
        "stderr_truncated": state["stderr_truncated"],
        # Ours: display() results, and the files kept, at the API's own routes.
        "results": state["results"],
        "files": [api_file(state["id"], f) for f in state["files"]],
    }


def function_response(state: dict[str, Any]) -> dict[str, Any]:
    """Riza's ExecuteFunctionResponse: a function's output and its run."""
    return {
        "output": state["output"],
        "output_status": state["output_status"] or "error",
        "execution": execute_response(state),
    }


def session_call_response(state: dict[str, Any]) -> dict[str, Any]:
    """A session's call: a script's result, its session, and what it raised."""
    return {**execute_response(state), "session_id": state["session_id"], "error": state["error"]}


RESPONSES = {
    Execution.Kind.SCRIPT: execute_response,
    Execution.Kind.FUNCTION: function_response,
    Execution.Kind.TOOL: function_response,
    Execution.Kind.SESSION: session_call_response,
}


def api_execution(execution: Execution) -> dict[str, Any]:
    """Riza's Execution, for the API's list and get: to its owner, with the request."""
    state = execution_state(execution)
    details = None
    if execution.is_finished:
        response = RESPONSES[Execution.Kind(execution.kind)](state)
        details = {"type": execution.kind, "request": execution.request, "response": response}
        if execution.kind == Execution.Kind.TOOL:
            details["tool_id"] = execution.tool_id
        if execution.kind == Execution.Kind.SESSION:
            details["session_id"] = execution.session_id
    return {
        "id": state["id"],
        "duration": state["duration"] or 0,
        "exit_code": NO_EXIT_CODE if state["exit_code"] is None else state["exit_code"],
        "language": state["language"],
        "started_at": execution.started_at,
        "status": state["status"],
        "details": details,
        # Ours, beyond Riza's fields: the requests the run made (http.allow), display()
        # results, and the files kept.
        "egress": state["egress"],
        "results": state["results"],
        "files": [api_file(state["id"], f) for f in state["files"]],
    }


def api_file(execution_id: str, listed: dict[str, Any]) -> dict[str, Any]:
    """A file's entry with the API's URL of it (the state has the permalink's)."""
    if "url" not in listed:
        return listed
    path = listed["url"].removeprefix(f"/e/{execution_id}/files/")
    return {**listed, "url": f"/v1/executions/{execution_id}/files/{path}"}
