"""ASGI lifespan: start the sandbox engine with the server, and stop it with the server.

Starting it early removes containers a crashed server left behind and fills the warm
pools before the first request, instead of making the first user wait for them.
"""

import asyncio
import logging
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings

from playground.api.bodies import parsers
from playground.cluster.nodes import membership
from playground.mcp.server import mcp_endpoint
from playground.runs.live import build_line_sink
from playground.runs.services import executions_fail_interrupted
from playground.sessions.upkeep import recover_at_start, session_upkeep
from playground.tools.schema_checks import checkers
from sandbox.builds.orchestrator import runtime_builds
from sandbox.engine import get_engine
from sandbox.errors import EngineError
from sandbox.services import revisions_fail_interrupted

log = logging.getLogger("sandbox")
# A stop is bounded: whatever a step leaves (containers still being removed) the next
# start reaps by its label, so no step may hold the process past this.
SHUTDOWN_STEP_TIMEOUT_S = 20


async def lifespan_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            failed = await sync_to_async(executions_fail_interrupted)(
                node=settings.SANDBOX_INSTANCE
            )
            if failed:
                log.warning("%d runs were cut short by the last stop; they are now errors", failed)
            builds = await sync_to_async(revisions_fail_interrupted)()
            if builds:
                log.warning("%d runtime builds were cut short by the last stop", builds)
            runtime_builds.bind(asyncio.get_running_loop(), build_line_sink)
            # Before the engine reaps this instance's containers: no session record is
            # left running that no sandbox serves.
            await recover_at_start()
            try:
                await get_engine().start()
            except EngineError as exc:
                # Serve anyway: runs answer 503 until the engine is back.
                log.error("the sandbox engine did not start: %s", exc)
            await mcp_endpoint.start()
            membership.start()
            session_upkeep.start()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            checkers.close()  # kills their processes: returns at once
            parsers.close()
            for name, step in (
                ("membership", membership.stop),
                ("MCP", mcp_endpoint.stop),
                ("sessions", session_upkeep.stop),  # running ones save their files
                ("engine", get_engine().close),
            ):
                try:
                    await asyncio.wait_for(step(), SHUTDOWN_STEP_TIMEOUT_S)
                except TimeoutError:
                    log.warning("the %s did not stop within %d s", name, SHUTDOWN_STEP_TIMEOUT_S)
            await send({"type": "lifespan.shutdown.complete"})
            return
