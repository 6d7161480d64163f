"""/v1/sessions: sessions and their calls. Parse, authorise, call one service, shape."""

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema

from playground.api.auth import owner_of
from playground.api.errors import ERROR_RESPONSES, ApiError
from playground.api.responses import PageQuery, SessionCallOut
from playground.api.schemas import LanguageName, SessionExecuteIn, SessionIn
from playground.models import Execution, Session
from playground.runs import intake
from playground.runs.serializers import execution_state, session_call_response
from playground.sessions import selectors, services
from playground.sessions.serializers import session_state

router = Router(tags=["sessions"])
ERRORS = ERROR_RESPONSES


class SessionOut(Schema):
    id: str
    language: LanguageName
    runtime_revision_id: str | None = None
    # ready, busy, paused or ended (then with ended_reason).
    status: str
    ended_reason: str | None = None
    # Ours: why it is paused (by its owner, idle past idle_timeout, a server restart).
    paused_reason: str | None = None
    created_at: datetime
    last_used_at: datetime
    # When it pauses by itself (ready), or ends (paused).
    expires_at: datetime | None = None
    idle_timeout: int
    calls: int
    # What came back when it last woke: "memory" (its interpreter, thawed) or "files".
    state_kept: str
    memory_size: int


class SessionListOut(Schema):
    sessions: list[SessionOut]


class SessionInterruptOut(SessionOut):
    # Whether a call was going on to be interrupted.
    interrupted: bool


async def _owned(request: HttpRequest, session_id: str) -> Session:
    session = await selectors.session_get(owner=owner_of(request), session_id=session_id)
    if session is None:
        raise ApiError(
            404, "not_found", f"no session {session_id!r} exists for this API key's owner"
        )
    return session


@router.post("/sessions", response={201: SessionOut, **ERRORS}, summary="Open a session")
async def open_session(request: HttpRequest, body: SessionIn) -> tuple[int, dict[str, Any]]:
    opening = await intake.session_opening(intake.api_caller(owner_of(request)), body)
    session = await services.session_open(opening)
    return 201, session_state(session)


@router.get("/sessions", response={200: SessionListOut, **ERRORS}, summary="List sessions")
async def list_sessions(request: HttpRequest, query: Query[PageQuery]) -> dict[str, Any]:
    sessions = await selectors.session_list(
        owner=owner_of(request), limit=query.limit, starting_after=query.starting_after
    )
    return {"sessions": [session_state(s) for s in sessions]}


@router.get("/sessions/{session_id}", response={200: SessionOut, **ERRORS}, summary="Get a session")
async def get_session(request: HttpRequest, session_id: str) -> dict[str, Any]:
    return session_state(await _owned(request, session_id))


@router.post(
    "/sessions/{session_id}/execute",
    response={200: SessionCallOut, **ERRORS},
    summary="Run code in a session",
)
async def execute(request: HttpRequest, session_id: str, body: SessionExecuteIn) -> dict[str, Any]:
    session = await _owned(request, session_id)
    caller = intake.api_caller(owner_of(request))
    submission = await intake.submission(caller, body, Execution.Kind.SESSION, session=session)
    execution = await services.session_call(session=session, submission=submission)
    return session_call_response(execution_state(execution))


@router.post(
    "/sessions/{session_id}/interrupt",
    response={200: SessionInterruptOut, **ERRORS},
    summary="Interrupt a session's call",
)
async def interrupt(request: HttpRequest, session_id: str) -> dict[str, Any]:
    session = await _owned(request, session_id)
    interrupted = await services.session_interrupt(session=session)
    return {**session_state(session), "interrupted": interrupted}


@router.post(
    "/sessions/{session_id}/pause", response={200: SessionOut, **ERRORS}, summary="Pause a session"
)
async def pause(request: HttpRequest, session_id: str) -> dict[str, Any]:
    session = await services.session_pause(session=await _owned(request, session_id))
    return session_state(session)


@router.post(
    "/sessions/{session_id}/resume",
    response={200: SessionOut, **ERRORS},
    summary="Resume a paused session",
)
async def resume(request: HttpRequest, session_id: str) -> dict[str, Any]:
    session = await services.session_resume(session=await _owned(request, session_id))
    return session_state(session)


@router.delete(
    "/sessions/{session_id}", response={200: SessionOut, **ERRORS}, summary="End a session"
)
async def end(request: HttpRequest, session_id: str) -> dict[str, Any]:
    session = await services.session_end(session=await _owned(request, session_id))
    return session_state(session)
