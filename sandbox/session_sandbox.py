"""One session's sandbox: a container whose worker runs cells, and the messages that drive
it (sandbox/agent/session.py is the other end).

Everything it reads is hostile input, as a run's is: the same frames under the same
caps, the summary's error bounded again, and the saved working directory (T frames)
bounded by limits.SESSION_SAVED_MAX_BYTES. A call past its time is interrupted by the
supervisor; the engine's own clock gives it INTERRUPT_GRACE_S and ENGINE_TIMEOUT_GRACE_S
more before it gives the session up.
"""

import asyncio
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox import limits, strict_json
from sandbox.artifacts import ARTIFACT_FRAMES, Artifacts
from sandbox.egress.proxy import EgressProxy
from sandbox.events import EventSink, StatusEvent, Stream
from sandbox.jobs import Job, OutputCaps, RunResult, RunStatus
from sandbox.pool import Sandbox
from sandbox.protocol import Frame, ProtocolError, ResultTooLarge, encode_job
from sandbox.results import EXIT_KILLED, EXIT_NO_STATUS, EXIT_TIMEOUT, OutputCollector

# The error a call may carry back, at most (the supervisor cuts it to these already).
ERROR_NAME_CHARS = 200
ERROR_VALUE_CHARS = 16 * 1024
TRACEBACK_LINES = 200
TRACEBACK_LINE_CHARS = 4096
ENDED_REASON_CHARS = 200
# Reading a saved working directory from disk into a resuming sandbox, a piece at a time.
RESTORE_CHUNK_BYTES = 1024 * 1024


@dataclass(frozen=True)
class CallSummary:
    """The supervisor's last word on one request of a session."""

    exit_code: int
    duration_ms: int
    timed_out: bool
    interrupted: bool
    oom_killed: bool
    error: dict[str, Any] | None
    ended: str
    details: dict[str, Any]


def _checked_error(error: Any) -> dict[str, Any] | None:
    if error is None:
        return None
    if not isinstance(error, dict):
        raise ProtocolError("a call's error is not an object")
    name, value, lines = error.get("name"), error.get("value"), error.get("traceback", [])
    if not isinstance(name, str) or not isinstance(value, str) or not isinstance(lines, list):
        raise ProtocolError("a call's error is malformed")
    if not all(isinstance(line, str) for line in lines):
        raise ProtocolError("a call's traceback is not lines of text")
    return {
        "name": name[:ERROR_NAME_CHARS],
        "value": value[:ERROR_VALUE_CHARS],
        "traceback": [line[:TRACEBACK_LINE_CHARS] for line in lines[:TRACEBACK_LINES]],
    }


def parse_call_summary(payload: bytes) -> CallSummary:
    try:
        summary = strict_json.loads(payload)
        exit_code, duration_ms = int(summary["exit_code"]), int(summary["duration_ms"])
        if not (0 <= exit_code <= 255 and 0 <= duration_ms < 2**31):
            raise ValueError(f"exit code {exit_code} or duration {duration_ms} out of range")
        ended = summary.get("ended") or ""
        if not isinstance(ended, str):
            raise ValueError("`ended` is not text")
        if strict_json.bad_text_at(summary) is not None:
            raise ValueError("text that is not Unicode")
        return CallSummary(
            exit_code=exit_code,
            duration_ms=duration_ms,
            timed_out=summary.get("timed_out") is True,
            interrupted=summary.get("interrupted") is True,
            oom_killed=summary.get("oom_killed") is True,
            error=_checked_error(summary.get("error")),
            ended=ended[:ENDED_REASON_CHARS],
            details={
                key: summary[key]
                for key in ("restored", "saved")
                if isinstance(summary.get(key), dict)
            },
        )
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
        raise ProtocolError(f"a malformed EXIT frame: {exc}") from exc


class LiveSession:
    """A session whose sandbox is here: running, or frozen while it is paused."""

    def __init__(
        self, session_id: str, job: Job, sandbox: Sandbox, proxy: EgressProxy | None
    ) -> None:
        self.session_id = session_id
        self.job = job  # its opening: language, image, memory, env, egress
        self.sandbox = sandbox
        self.proxy = proxy
        # Frozen (paused, its files saved) until this time on the loop's clock; then
        # its container is removed and only its files are left.
        self.frozen_until: float | None = None
        self.call_id = ""  # the execution of the call going on, if any

    @property
    def frozen(self) -> bool:
        return self.frozen_until is not None

    async def send(self, message: bytes) -> None:
        writer = self.sandbox.connection.writer
        writer.write(encode_job(message))
        await writer.drain()

    async def _until_exit(self, timeout_s: float) -> CallSummary:
        """Frames until the summary, none but it expected (an opening, a save)."""
        async with asyncio.timeout(timeout_s):
            while True:
                frame, payload = await self.sandbox.stream.next_frame()
                if frame is Frame.EXIT:
                    return parse_call_summary(payload)
                if frame not in (Frame.STDOUT, Frame.STDERR):
                    raise ProtocolError(f"a {frame.name} frame out of turn")

    async def open(self, wire: bytes, restore: Path | None, size: int) -> CallSummary:
        """Hand the worker its session, and the saved working directory (`size` bytes)
        when it resumes."""
        self.sandbox.connection.writer.write(encode_job(wire))
        if restore is not None:
            with restore.open("rb") as saved:
                while chunk := await asyncio.to_thread(saved.read, RESTORE_CHUNK_BYTES):
                    self.sandbox.connection.writer.write(chunk)
                    await self.sandbox.connection.writer.drain()
        await self.sandbox.connection.writer.drain()
        summary = await self._until_exit(limits.SESSION_OPEN_TIMEOUT_S + size / 2**20)
        if summary.exit_code != 0 or summary.ended:
            error = summary.error or {}
            raise ProtocolError(f"the session did not open: {error.get('value') or summary.ended}")
        return summary

    async def save(self, target: Path, max_bytes: int) -> dict[str, Any]:
        """The working directory as a tar in `target`; what went in and what did not."""
        await self.send(json.dumps({"kind": "save", "max_bytes": max_bytes}).encode())
        partial = target.with_name(f".{target.name}.part")
        size = 0
        try:
            with partial.open("wb") as out:
                async with asyncio.timeout(limits.SESSION_SAVE_TIMEOUT_S):
                    while True:
                        frame, payload = await self.sandbox.stream.next_frame()
                        if frame is Frame.EXIT:
                            summary = parse_call_summary(payload)
                            break
                        if frame is not Frame.SAVED:
                            raise ProtocolError(f"a {frame.name} frame while saving")
                        size += len(payload)
                        if size > max_bytes:
                            raise ProtocolError("saved files past their cap")
                        await asyncio.to_thread(out.write, payload)
            partial.chmod(0o600)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        saved = summary.details.get("saved", {})
        skipped = saved.get("skipped", []) if isinstance(saved.get("skipped"), list) else []
        return {"bytes": size, "files": int(saved.get("files", 0)), "skipped": skipped[:32]}

    async def call(
        self, job: Job, emit: EventSink, *, caps: OutputCaps, max_output_bytes: int
    ) -> RunResult:
        """Run one cell, relaying its events; what came of it."""
        output = OutputCollector(max_output_bytes, emit)
        artifacts = Artifacts(caps)
        started = time.monotonic()
        summary: CallSummary | None = None
        how = "broken"
        mark = len(self.proxy.log) if self.proxy else 0
        if self.proxy is not None:
            self.proxy.bytes_moved = 0  # a session's egress cap is per call, as a run's
        grace = limits.SESSION_INTERRUPT_GRACE_S + limits.ENGINE_TIMEOUT_GRACE_S
        self.call_id = job.run_id
        try:
            await self.send(job.to_wire(caps))
            async with asyncio.timeout(job.limits.execution_timeout_s + grace):
                while summary is None:
                    frame, payload = await self.sandbox.stream.next_frame()
                    if frame is Frame.STARTED:
                        await emit(StatusEvent("running"))
                    elif frame is Frame.STDOUT or frame is Frame.STDERR:
                        stream: Stream = "stdout" if frame is Frame.STDOUT else "stderr"
                        await output.add(stream, payload)
                        if output.runaway(stream):
                            how = "runaway"
                            break
                    elif frame in ARTIFACT_FRAMES:
                        artifacts.add(frame, payload)
                    elif frame is Frame.EXIT:
                        summary = parse_call_summary(payload)
                        how = "exited"
                    else:
                        raise ProtocolError(f"a {frame.name} frame in a call")
        except TimeoutError:
            how = "timeout"
        except ResultTooLarge:
            how = "broken"
        except (EOFError, ConnectionError, ProtocolError):
            how = "stopped" if self.sandbox.stopped else "broken"
        finally:
            self.call_id = ""
        elapsed_ms = int((time.monotonic() - started) * 1000)
        result = await call_result(
            job, output, how, summary, elapsed_ms, self.job.limits.memory_mib
        )
        artifacts.finish()
        result.results, result.files = artifacts.results, artifacts.files
        if self.proxy is not None:
            result.egress = self.proxy.records()[mark:]
        return result


async def call_result(
    job: Job,
    output: OutputCollector,
    how: str,
    summary: CallSummary | None,
    elapsed_ms: int,
    memory_mib: int,
) -> RunResult:
    """What came of a call, with a line of Sandpit's own on stderr when it did not end by
    itself, and why the session ended with it, if it did."""
    timeout_s = job.limits.execution_timeout_s
    grace = f"{limits.SESSION_INTERRUPT_GRACE_S:g} s"
    error = None
    if summary is None:
        status, exit_code, ended = {
            "timeout": (RunStatus.TIMED_OUT, EXIT_TIMEOUT, "the sandbox did not answer in time"),
            "runaway": (RunStatus.FAILED, EXIT_KILLED, "a call wrote far past the output cap"),
            "stopped": (RunStatus.STOPPED, EXIT_KILLED, "the session was ended during a call"),
        }.get(how, (RunStatus.ERROR, EXIT_NO_STATUS, "its sandbox stopped unexpectedly"))
        duration_ms = elapsed_ms
    else:
        exit_code, ended, error = summary.exit_code, summary.ended, summary.error
        duration_ms = max(0, min(summary.duration_ms, elapsed_ms))
        if summary.oom_killed:
            status = RunStatus.OUT_OF_MEMORY
        elif summary.timed_out:
            status = RunStatus.TIMED_OUT
            kept = f"did not stop within {grace}" if ended else "was interrupted"
            await output.note(f"the call hit its time limit of {timeout_s} s and {kept}.")
        elif summary.interrupted:
            status = RunStatus.STOPPED
            kept = f"did not stop within {grace}" if ended else "was interrupted"
            await output.note(f"the call {kept}.")
        elif ended:
            status = RunStatus.ERROR
        else:
            status = RunStatus.SUCCEEDED if exit_code == 0 else RunStatus.FAILED
    if status is RunStatus.OUT_OF_MEMORY:
        ended = ended or "the session ran out of memory"
        await output.note(f"the session hit its memory limit of {memory_mib} MiB.")
    if ended:
        await output.note(f"the session has ended: {ended}.")
    elif status in (RunStatus.TIMED_OUT, RunStatus.STOPPED):
        await output.note("the session's state is kept.")
    return RunResult(
        status=status,
        exit_code=exit_code,
        stdout=output.text("stdout"),
        stderr=output.text("stderr"),
        duration_ms=duration_ms,
        stdout_truncated=output.truncated["stdout"],
        stderr_truncated=output.truncated["stderr"],
        error=error,
        session_ended=ended,
    )
