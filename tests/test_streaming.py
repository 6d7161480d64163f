"""Watching runs over WebSockets: late joiners, stop, strangers. A real channel layer."""

import asyncio
from dataclasses import replace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from playground.models import Execution
from playground.routing import websocket_urlpatterns
from playground.runs import services
from sandbox.builds.orchestrator import runtime_builds
from sandbox.engine import Engine
from sandbox.jobs import Limits
from sandbox.models import RuntimeRevision
from sandbox.services import revision_rebuild
from tests.runs import script

pytestmark = pytest.mark.django_db(transaction=True)
EVENT_TIMEOUT_S = 20
# Prints a line, waits, prints more: long enough to join in the middle.
SLOW_PRINTER = "import time\nfor word in ['one', 'two', 'three']:\n    print(word, flush=True)\n    time.sleep(0.7)\n"


async def watcher(execution_id: str, user: User | None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/executions/{execution_id}"
    )
    communicator.scope["user"] = user
    communicator.scope["session"] = {}
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def receive_until_finished(communicator: WebsocketCommunicator) -> list[dict[str, Any]]:
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=EVENT_TIMEOUT_S)
        events.append(event)
        if event["type"] == "finished" or (
            event["type"] == "snapshot" and event["execution"]["status"] in Execution.FINISHED
        ):
            return events


async def receive_until_printed(communicator: WebsocketCommunicator, text: str) -> None:
    events: list[dict[str, Any]] = []
    while text not in stdout_of(events):
        events.append(await communicator.receive_json_from(timeout=EVENT_TIMEOUT_S))


def stdout_of(events: list[dict[str, Any]]) -> str:
    text = ""
    for event in events:
        if event["type"] == "snapshot":
            text = event["execution"]["stdout"]
        elif event["type"] == "stdout":
            text += event["text"]
    return text


async def start(owner: User, code: str, **limits: int) -> Execution:
    return await services.execution_start(
        services.Submission(
            owner=owner,
            kind=Execution.Kind.SCRIPT,
            job=script("python", code, limits=Limits(**limits)),
            request={"code": code},
        )
    )


async def test_a_late_watcher_gets_the_output_so_far_then_the_rest_once(engine: Engine) -> None:
    owner = await User.objects.acreate(username="streamer")
    execution = await start(owner, SLOW_PRINTER)
    early = await watcher(execution.id, owner)
    # Wait for the first line to be printed, then join late.
    first_events: list[dict[str, Any]] = []
    while "one" not in stdout_of(first_events):
        first_events.append(await early.receive_json_from(timeout=EVENT_TIMEOUT_S))
    late = await watcher(execution.id, owner)
    late_events = await receive_until_finished(late)
    early_events = first_events + await receive_until_finished(early)
    assert late_events[0]["type"] == "snapshot"
    assert "one" in late_events[0]["execution"]["stdout"]
    assert "three" not in late_events[0]["execution"]["stdout"], "the late watcher joined mid-run"
    assert stdout_of(late_events) == stdout_of(early_events) == "one\ntwo\nthree\n"
    seqs = [e["seq"] for e in late_events]
    assert seqs == sorted(set(seqs)), "no event twice, none out of order"
    assert late_events[-1]["execution"]["status"] == "succeeded"
    await early.disconnect()
    await late.disconnect()


async def test_a_finished_run_is_replayed_from_the_record(engine: Engine) -> None:
    owner = await User.objects.acreate(username="replayer")
    execution = await start(owner, "print('done')")
    first = await watcher(execution.id, owner)
    await receive_until_finished(first)
    await first.disconnect()
    again = await watcher(execution.id, owner)
    snapshot = await again.receive_json_from(timeout=EVENT_TIMEOUT_S)
    assert snapshot["type"] == "snapshot"
    assert (snapshot["execution"]["status"], snapshot["execution"]["stdout"]) == (
        "succeeded",
        "done\n",
    )
    assert await again.receive_nothing(timeout=0.5)
    await again.disconnect()


async def test_a_stranger_is_refused_with_a_reason(engine: Engine) -> None:
    owner = await User.objects.acreate(username="private-owner")
    stranger = await User.objects.acreate(username="stranger")
    execution = await start(owner, "print('mine')")
    communicator = await watcher(execution.id, stranger)
    closed = await communicator.receive_output(timeout=EVENT_TIMEOUT_S)
    assert closed["type"] == "websocket.close"
    # As the page answers 404 for a private run, so does its stream: no run to see here.
    assert closed["code"] == 4404
    assert "private" in closed["reason"]
    anonymous = await watcher(execution.id, None)
    assert (await anonymous.receive_output(timeout=EVENT_TIMEOUT_S))["code"] == 4404


async def test_only_the_owner_may_stop_a_run(engine: Engine) -> None:
    owner = await User.objects.acreate(username="stopper")
    stranger = await User.objects.acreate(username="bystander")
    execution = await start(
        owner, "import time\nprint('up', flush=True)\ntime.sleep(60)", execution_timeout_s=60
    )
    await sync_share(execution)
    outsider = await watcher(execution.id, stranger)
    await receive_until_printed(outsider, "up")
    await outsider.send_json_to({"type": "stop"})
    refused = await outsider.receive_json_from(timeout=EVENT_TIMEOUT_S)
    assert refused == {"type": "error", "message": "only the run's owner may stop it or type"}
    # Still going: recorded running, or about to be (services.RUNNING_MARK_AFTER_S).
    assert (await Execution.objects.aget(id=execution.id)).status in ("queued", "running")
    mine = await watcher(execution.id, owner)
    assert (await mine.receive_json_from(timeout=EVENT_TIMEOUT_S))["can_stop"] is True
    await mine.send_json_to({"type": "stop"})
    finished = (await receive_until_finished(mine))[-1]["execution"]
    assert finished["status"] == "stopped"
    assert finished["stderr"].endswith("Sandpit: the run was stopped.\n")
    await outsider.disconnect()
    await mine.disconnect()


async def sync_share(execution: Execution) -> None:
    execution.is_shared = True
    await execution.asave(update_fields=["is_shared"])
    await asyncio.sleep(0)


async def test_a_build_log_streams_to_its_owner_only(engine: Engine) -> None:
    from playground.runs.live import build_line_sink
    from sandbox import services as runtime_services

    owner = await User.objects.acreate(username="build-watcher")
    stranger = await User.objects.acreate(username="build-stranger")
    runtime = await runtime_services.runtime_create(
        owner=owner,
        name="streamed",
        language="python",
        manifest_name="requirements.txt",
        manifest_contents="six==1.17.0\n",
        on_line=build_line_sink,
    )
    revision_id = runtime.current_revision_id
    communicator = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/revisions/{revision_id}"
    )
    communicator.scope["user"] = owner
    communicator.scope["session"] = {}
    assert (await communicator.connect())[0]
    events = [await communicator.receive_json_from(timeout=EVENT_TIMEOUT_S)]
    while events[-1]["type"] != "finished" and events[-1].get("status") not in (
        "succeeded",
        "failed",
    ):
        events.append(await communicator.receive_json_from(timeout=120))
    assert events[0]["type"] == "snapshot"
    log = events[0]["log"] + "\n".join(e["line"] for e in events if e["type"] == "log")
    assert "Sandpit: fetch" in log and "Successfully tagged" in log
    assert events[-1]["status"] == "succeeded"
    await communicator.disconnect()

    # The admin's rebuild streams to the same watchers, and ends the same way.
    runtime_builds.bind(asyncio.get_running_loop(), build_line_sink)  # as the server does
    again = WebsocketCommunicator(URLRouter(websocket_urlpatterns), f"/ws/revisions/{revision_id}")
    again.scope["user"] = owner
    again.scope["session"] = {}
    assert (await again.connect())[0]
    assert (await again.receive_json_from(timeout=EVENT_TIMEOUT_S))["status"] == "succeeded"
    revision = await RuntimeRevision.objects.aget(id=revision_id)
    await sync_to_async(revision_rebuild)(revision=revision)  # what the admin's action calls
    rebuilt = [await again.receive_json_from(timeout=120)]
    while rebuilt[-1]["type"] != "finished":
        rebuilt.append(await again.receive_json_from(timeout=120))
    assert any("Sandpit: fetch" in e.get("line", "") for e in rebuilt)
    assert rebuilt[-1] == {"type": "finished", "status": "succeeded", "failure_reason": ""}
    await again.disconnect()

    outsider = WebsocketCommunicator(
        URLRouter(websocket_urlpatterns), f"/ws/revisions/{revision_id}"
    )
    outsider.scope["user"] = stranger
    outsider.scope["session"] = {}
    await outsider.connect()
    assert (await outsider.receive_output(timeout=EVENT_TIMEOUT_S))["code"] == 4404
    await runtime_services.runtime_delete(runtime=runtime)  # and its image with it


async def test_unsharing_lets_go_of_every_watcher_but_the_owner(engine: Engine) -> None:
    owner = await User.objects.acreate(username="unsharer")
    stranger = await User.objects.acreate(username="was-welcome")
    execution = await start(
        owner, "import time\nprint('up', flush=True)\ntime.sleep(60)", execution_timeout_s=60
    )
    await sync_share(execution)
    outsider = await watcher(execution.id, stranger)
    mine = await watcher(execution.id, owner)
    await receive_until_printed(outsider, "up")
    await sync_to_async(services.execution_share)(execution=execution, shared=False)
    while (message := await outsider.receive_output(timeout=EVENT_TIMEOUT_S))["type"] != (
        "websocket.close"
    ):
        pass
    assert message["code"] == 4403
    await mine.send_json_to({"type": "stop"})  # the owner still watches, and may stop it
    assert (await receive_until_finished(mine))[-1]["execution"]["status"] == "stopped"
    await mine.disconnect()


async def test_the_owner_types_into_a_live_run_and_a_watcher_may_not(engine: Engine) -> None:
    owner = await User.objects.acreate(username="typist")
    stranger = await User.objects.acreate(username="onlooker")
    code = (
        "name = input('name? ')\nprint('hello', name, flush=True)\n"
        "import sys\nprint('rest:', repr(sys.stdin.read()))"
    )
    execution = await services.execution_start(
        services.Submission(
            owner=owner,
            kind=Execution.Kind.SCRIPT,
            job=replace(
                script("python", code, limits=Limits(execution_timeout_s=30)), live_stdin=True
            ),
            request={"code": code},
        )
    )
    await sync_share(execution)
    outsider = await watcher(execution.id, stranger)
    await receive_until_printed(outsider, "name? ")
    await outsider.send_json_to({"type": "stdin", "text": "mallory\n"})
    refused = await outsider.receive_json_from(timeout=EVENT_TIMEOUT_S)
    assert refused == {"type": "error", "message": "only the run's owner may stop it or type"}
    mine = await watcher(execution.id, owner)
    await mine.send_json_to({"type": "stdin", "text": "ada\n"})
    await receive_until_printed(mine, "hello ada")
    await mine.send_json_to({"type": "stdin", "text": "more\n"})
    await mine.send_json_to({"type": "stdin_end"})
    finished = (await receive_until_finished(mine))[-1]["execution"]
    assert finished["status"] == "succeeded", finished["stderr"]
    assert finished["stdout"] == "name? hello ada\nrest: 'more\\n'\n"
    assert "mallory" not in finished["stdout"]
    await mine.send_json_to({"type": "stdin", "text": "late\n"})
    late = await mine.receive_json_from(timeout=EVENT_TIMEOUT_S)
    assert late["type"] == "error" and "not going" in late["message"]
    await outsider.disconnect()
    await mine.disconnect()


async def test_a_run_without_live_stdin_takes_no_typing(engine: Engine) -> None:
    owner = await User.objects.acreate(username="not-typing")
    execution = await start(owner, "import time\nprint('up', flush=True)\ntime.sleep(5)")
    mine = await watcher(execution.id, owner)
    await receive_until_printed(mine, "up")
    await mine.send_json_to({"type": "stdin", "text": "x\n"})
    refused = await mine.receive_json_from(timeout=EVENT_TIMEOUT_S)
    assert refused["type"] == "error" and "does not take input" in refused["message"]
    await mine.send_json_to({"type": "stop"})
    await receive_until_finished(mine)
    await mine.disconnect()
