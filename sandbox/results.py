"""What a run gives back: its output as it streams, then its result, read defensively.

Everything here comes from a container that ran hostile code: sizes are bounded, and
anything malformed becomes an error result, never an exception in the server.
"""

import codecs
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sandbox import limits, strict_json
from sandbox.events import EventSink, OutputEvent, Stream
from sandbox.jobs import Job, JobKind, OutputStatus, RunResult, RunStatus
from sandbox.protocol import ProtocolError

EXIT_TIMEOUT = 124  # as coreutils' timeout(1)
EXIT_KILLED = 137  # 128 + SIGKILL: out of memory, stopped, or a runaway writer
EXIT_NO_STATUS = -1  # the sandbox failed before the code could finish
# What an exit frame may say: a wait status's code, and a duration a database can hold.
MAX_EXIT_CODE = 255
MAX_DURATION_MS = 2**31 - 1


class OutputCollector:
    """stdout and stderr of one run: kept up to a cap, relayed live, decoded safely."""

    def __init__(self, max_bytes: int, emit: EventSink) -> None:
        self.max_bytes = max_bytes
        self._emit = emit
        self._text: dict[Stream, list[str]] = {"stdout": [], "stderr": []}
        self._kept = {"stdout": 0, "stderr": 0}
        self._seen = {"stdout": 0, "stderr": 0}
        self._decoders = {
            name: codecs.getincrementaldecoder("utf-8")("replace") for name in self._text
        }
        self.truncated = {"stdout": False, "stderr": False}

    def runaway(self, stream: Stream) -> bool:
        return self._seen[stream] > self.max_bytes * limits.RUNAWAY_OUTPUT_FACTOR

    async def add(self, stream: Stream, data: bytes) -> None:
        self._seen[stream] += len(data)
        if self.truncated[stream]:
            return
        kept = data[: self.max_bytes - self._kept[stream]]
        self._kept[stream] += len(kept)
        cut = len(kept) < len(data)
        text = self._decoders[stream].decode(kept, final=cut)
        if cut:
            self.truncated[stream] = True
            text += f"\n[Sandpit: {stream} cut at {self.max_bytes} bytes; the rest was dropped]\n"
        await self._append(stream, text)

    async def note(self, message: str) -> None:
        """A line of Sandpit's own at the end of stderr: why the run ended as it did."""
        text = self._decoders["stderr"].decode(b"", final=True)
        last = text or (self._text["stderr"][-1] if self._text["stderr"] else "\n")
        if not last.endswith("\n"):
            text += "\n"
        await self._append("stderr", f"{text}Sandpit: {message}\n")

    async def _append(self, stream: Stream, text: str) -> None:
        # A NUL is text no database column keeps (PostgreSQL refuses it): shown as U+FFFD.
        text = text.replace("\x00", "\ufffd")
        if text:
            self._text[stream].append(text)
            await self._emit(OutputEvent(stream, text))

    def text(self, stream: Stream) -> str:
        tail = "" if self.truncated[stream] else self._decoders[stream].decode(b"", final=True)
        return "".join(self._text[stream]) + tail


class Outcome(StrEnum):
    """How the engine's watch of a run ended."""

    EXITED = "exited"  # the supervisor sent its summary: the code ran to its end
    TIMEOUT = "timeout"  # the engine's own clock ran out (the supervisor's did not answer)
    RUNAWAY = "runaway"  # the code wrote far past the output cap and was killed
    STOPPED = "stopped"  # its owner stopped it
    BROKEN = "broken"  # the sandbox died or spoke out of turn before the summary
    RESULT_TOO_LARGE = "result_too_large"  # execute() returned more than the cap


@dataclass(frozen=True)
class ExitSummary:
    """The supervisor's last word on a run that ran to its end."""

    exit_code: int
    duration_ms: int
    timed_out: bool
    oom_killed: bool


@dataclass(frozen=True)
class Ending:
    """All the engine knows when a run is over, for run_result to make sense of."""

    outcome: Outcome
    summary: ExitSummary | None
    result_payload: bytes | None
    elapsed_ms: int


def parse_summary(payload: bytes) -> ExitSummary:
    try:
        summary = strict_json.loads(payload)
        exit_code, duration_ms = int(summary["exit_code"]), int(summary["duration_ms"])
        if not (0 <= exit_code <= MAX_EXIT_CODE and 0 <= duration_ms < MAX_DURATION_MS):
            raise ValueError(f"exit code {exit_code} or duration {duration_ms} out of range")
        return ExitSummary(
            exit_code=exit_code,
            duration_ms=duration_ms,
            timed_out=summary["timed_out"] is True,
            oom_killed=summary["oom_killed"] is True,
        )
    except (ValueError, KeyError, TypeError, OverflowError) as exc:
        raise ProtocolError(f"a malformed EXIT frame: {exc}") from exc


def _parse_result(payload: bytes | None) -> tuple[Any, OutputStatus, str]:
    """The function's output, its status, and why it is not valid (or "")."""
    if payload is None:
        return None, OutputStatus.ERROR, "the function did not return"
    try:
        result = strict_json.loads(payload)
        status = OutputStatus(result["status"])
        if status is OutputStatus.VALID:
            output = strict_json.loads(result["output"])
            if strict_json.bad_text_at(output) is not None:
                return None, OutputStatus.ERROR, "the function's output is not valid Unicode"
            return strict_json.without_nul(output), status, ""
        return None, status, str(result.get("error", ""))[:1000]
    except RecursionError:
        return None, OutputStatus.ERROR, "the function's output nests too deeply"
    except (ValueError, KeyError, TypeError):
        return None, OutputStatus.ERROR, "the function's result was malformed"


async def run_result(job: Job, output: OutputCollector, ending: Ending) -> RunResult:
    """What came of the run, with a line of Sandpit's own on stderr when it did not end
    by itself."""
    summary, outcome = ending.summary, ending.outcome
    timeout_s = job.limits.execution_timeout_s
    duration_ms = ending.elapsed_ms
    if summary is not None:
        duration_ms = max(0, min(summary.duration_ms, ending.elapsed_ms))

    if outcome is Outcome.TIMEOUT or (summary and summary.timed_out):
        status, exit_code = RunStatus.TIMED_OUT, EXIT_TIMEOUT
        await output.note(f"the run hit its time limit of {timeout_s} s and was killed.")
        duration_ms = min(duration_ms, timeout_s * 1000) if summary else timeout_s * 1000
    elif summary and summary.oom_killed:
        status, exit_code = RunStatus.OUT_OF_MEMORY, EXIT_KILLED
        await output.note(
            f"the run hit its memory limit of {job.limits.memory_mib} MiB and was killed."
        )
    elif outcome is Outcome.STOPPED:
        status, exit_code = RunStatus.STOPPED, EXIT_KILLED
        await output.note("the run was stopped.")
    elif outcome is Outcome.RUNAWAY:
        status, exit_code = RunStatus.FAILED, EXIT_KILLED
        limit_mib = output.max_bytes * limits.RUNAWAY_OUTPUT_FACTOR // (1024 * 1024)
        await output.note(f"the run wrote more than {limit_mib} MiB of output and was killed.")
    elif outcome is Outcome.RESULT_TOO_LARGE:
        status, exit_code = RunStatus.FAILED, 1
        await output.note(f"the function's result is larger than {limits.MAX_RESULT_BYTES} bytes.")
    elif outcome is Outcome.BROKEN or summary is None:
        status, exit_code = RunStatus.ERROR, EXIT_NO_STATUS
        await output.note("the sandbox stopped unexpectedly before the run finished.")
    else:
        exit_code = summary.exit_code
        status = RunStatus.SUCCEEDED if exit_code == 0 else RunStatus.FAILED

    value, output_status = None, None
    if job.kind is JobKind.FUNCTION:
        output_status = OutputStatus.ERROR
        if status in (RunStatus.SUCCEEDED, RunStatus.FAILED) and outcome is Outcome.EXITED:
            value, output_status, reason = _parse_result(ending.result_payload)
            if output_status is OutputStatus.JSON_SERIALIZATION_ERROR:
                await output.note(f"execute() returned a value that is not JSON: {reason}")
            elif output_status is OutputStatus.ERROR and status is RunStatus.SUCCEEDED:
                status = RunStatus.FAILED
                await output.note(f"{reason}.")
    return RunResult(
        status=status,
        exit_code=exit_code,
        stdout=output.text("stdout"),
        stderr=output.text("stderr"),
        duration_ms=duration_ms,
        output=value,
        output_status=output_status,
        stdout_truncated=output.truncated["stdout"],
        stderr_truncated=output.truncated["stderr"],
    )
