"""The supervisor's session half: one worker that runs cells until its session ends.

A session's container serves one session of one owner. Its first job (kind "session")
carries the language, env, files, whether it has egress, and, when it resumes, the size
of the saved working directory that follows that message on stdin (a tar, restored
first). Then the engine sends more messages, each a 4-byte length and JSON, by `kind`:

    cell       run this code in the worker's namespace: frames S, O/E/D, P/B, then X
    interrupt  the running cell gets SIGINT (Python's KeyboardInterrupt, Node's
               breakOnSigint); between cells it is ignored
    save       the working directory as a tar in T frames, then X (workdir.py)

Every request is answered by one X frame: {exit_code, duration_ms, timed_out,
interrupted, oom_killed, error, ended}. `ended` says why the session cannot go on (the
worker exited, the container ran out of memory, or a cell did not stop within
INTERRUPT_GRACE_S of its interrupt); the supervisor then exits, and the engine removes
the container.

The worker's job pipe carries the same kind of messages; on its result pipe it answers
each with a 4-byte length and JSON: {"exit_code", "error"}. The code runs in the
worker's process and could write that pipe itself: what comes on it is bounded and
checked, and decides nothing but its own cell's answer.
"""

import json
import os
import select
import struct
import threading
import time

from bundles import Results
from channel import (
    DISPLAY,
    EXIT,
    READ_CHUNK_BYTES,
    SAVED,
    SIGINT,
    STARTED,
    STDERR,
    STDOUT,
    drain,
    framed,
    kill_worker,
    read_exactly,
    read_message,
    send,
    signal_worker,
    write_all,
)
from kernel import oom_kills

WORK_DIR = "/work"
SANDBOX_UID = 1000
# An interrupted cell (its time is up, or its owner asked) has this long to stop before
# the worker is killed and the session ended: KeyboardInterrupt unwinds in microseconds,
# while code that ignores SIGINT, or is stuck in C, never does.
INTERRUPT_GRACE_S = 1.0
# The worker writes its files and loads what a session needs within this.
OPEN_TIMEOUT_S = 30.0
# One answer of the worker: an exit code and an error with its traceback.
MAX_ANSWER_BYTES = 1024 * 1024
ERROR_NAME_CHARS = 200
ERROR_VALUE_CHARS = 16 * 1024
TRACEBACK_LINES = 200
TRACEBACK_LINE_CHARS = 4096
EXIT_TIMEOUT = 124  # as coreutils' timeout(1)
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell says of Ctrl-C
EXIT_KILLED = 137  # 128 + SIGKILL
POLL_S = 0.05


def checked_error(error: object) -> dict | None:
    """The worker's error, cut to its bounds: {name, value, traceback: [lines]}."""
    if not isinstance(error, dict):
        return None
    lines = error.get("traceback")
    lines = lines if isinstance(lines, list) else []
    return {
        "name": str(error.get("name", "Error"))[:ERROR_NAME_CHARS],
        "value": str(error.get("value", ""))[:ERROR_VALUE_CHARS],
        "traceback": [str(line)[:TRACEBACK_LINE_CHARS] for line in lines[:TRACEBACK_LINES]],
    }


def outcome(
    answer: dict | None, status: int | None, how: str, stuck: bool, oom_killed: bool
) -> tuple[int, str]:
    """The call's exit code, and why the session ended with it ("" when it goes on)."""
    if oom_killed:
        return EXIT_KILLED, "the session ran out of memory"
    if stuck:
        code = EXIT_TIMEOUT if how == "timeout" else EXIT_KILLED
        return code, f"a call did not stop within {INTERRUPT_GRACE_S:g} s of being interrupted"
    if status is not None:
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
        return code, f"the interpreter exited (status {code})"
    exit_code = answer.get("exit_code") if answer else None
    if not isinstance(exit_code, int) or not 0 <= exit_code <= 255:
        exit_code = 1
    if how == "timeout":
        return EXIT_TIMEOUT, ""
    if how == "interrupted":
        return EXIT_INTERRUPTED, ""
    return exit_code, ""


class Answers:
    """The worker's answers, as its result pipe brings them."""

    def __init__(self) -> None:
        self.pending = bytearray()

    def feed(self, chunk: bytes) -> None:
        self.pending += chunk

    def take(self) -> dict | None:
        """The next whole answer, or None until one has come."""
        if len(self.pending) < 4:
            return None
        (length,) = struct.unpack(">I", self.pending[:4])
        if length > MAX_ANSWER_BYTES:
            self.pending.clear()
            return {"exit_code": 1, "error": {"name": "Error", "value": "an answer too long"}}
        if len(self.pending) < 4 + length:
            return None
        body = bytes(self.pending[4 : 4 + length])
        del self.pending[: 4 + length]
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        return answer if isinstance(answer, dict) else {"exit_code": 1, "error": None}


class StdinPart:
    """The next `size` bytes of stdin as a file to read: a saved working directory."""

    def __init__(self, size: int) -> None:
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        data = read_exactly(0, n) if n else b""
        self.left -= len(data)
        return data

    def skip_rest(self) -> None:
        while self.left:
            self.read(1 << 20)


class Session:
    def __init__(self, worker: object, job: dict) -> None:
        self.worker = worker
        self.job = job  # the caps of results and files, for every cell
        self.answers = Answers()
        self.cells = 0
        self.writer: threading.Thread | None = None

    # --- requests ---------------------------------------------------------------

    def open(self, restored: dict | None) -> bool:
        """Hand the worker its session (it writes the files); True when it failed."""
        body = {k: self.job.get(k) for k in ("kind", "language", "env", "files", "egress")}
        return self.exchange(body, {}, OPEN_TIMEOUT_S, extra={"restored": restored})

    def cell(self, message: dict) -> bool:
        """Run one cell; True when the session ended with it."""
        self.cells += 1
        body = {
            "kind": "cell",
            "cell": self.cells,
            "code": message.get("code", ""),
            "stdin": message.get("stdin", ""),
        }
        timeout_s = float(message["limits"]["execution_timeout"])
        return self.exchange(body, message, timeout_s)

    def save(self, message: dict) -> None:
        import workdir

        started = time.monotonic()
        saved = workdir.save(
            WORK_DIR,
            lambda piece: send(SAVED, piece),
            uid=SANDBOX_UID,
            max_bytes=int(message.get("max_bytes", 0)),
        )
        self.summary(0, started, saved=saved)

    # --- one exchange with the worker ----------------------------------------------

    def exchange(
        self, body: dict, message: dict, timeout_s: float, extra: dict | None = None
    ) -> bool:
        if self.writer is not None and self.writer.is_alive():
            # The worker never read its last message: it answered before its cell ended.
            self.end_worker()
            self.summary(1, time.monotonic(), ended="the worker stopped reading its cells")
            return True
        oom_before = oom_kills()
        started = time.monotonic()
        self.hand_over(framed(json.dumps(body).encode()))
        if body["kind"] == "cell":
            send(STARTED)
        answer, status, how, stuck = self.relay(message, deadline=started + timeout_s)
        oom_killed = oom_kills() > oom_before
        exit_code, ended = outcome(answer, status, how, stuck, oom_killed)
        if ended and status is None:
            self.end_worker()
        if message.get("output_files"):  # the files the call asked to keep, however it ended
            import workdir

            workdir.keep_files(WORK_DIR, message, send, uid=SANDBOX_UID)
        error = checked_error(answer.get("error")) if answer else None
        self.summary(
            exit_code,
            started,
            timed_out=how == "timeout",
            interrupted=how == "interrupted",
            oom_killed=oom_killed,
            error=error,
            ended=ended,
            **(extra or {}),
        )
        return bool(ended)

    def hand_over(self, data: bytes) -> None:
        """The message to the worker: written at once when the pipe takes it (a cell's,
        mostly), the rest from a thread of its own, as it may be more than a pipe holds."""
        fd = self.worker.job_w
        os.set_blocking(fd, False)
        try:
            written = os.write(fd, data)
        except BlockingIOError:
            written = 0
        finally:
            os.set_blocking(fd, True)
        self.writer = None
        if written < len(data):
            self.writer = threading.Thread(
                target=write_all, args=(fd, data[written:], False), daemon=True
            )
            self.writer.start()

    def relay(self, message: dict, deadline: float) -> tuple[dict | None, int | None, str, bool]:
        """Frame the cell's output out until its answer comes or the worker is gone:
        its answer, the worker's wait status if it exited, how it was interrupted ("",
        "timeout" or "interrupted"), and whether it was killed for not stopping."""
        worker = self.worker
        streams = {worker.stdout_r: STDOUT, worker.stderr_r: STDERR}
        results = Results(DISPLAY, STDERR, {**self.job, **message})
        fds = [worker.stdout_r, worker.stderr_r, worker.result_r, worker.display_r, 0]
        interrupted_at: float | None = None
        how = ""
        answer: dict | None = None
        status: int | None = None
        while answer is None:
            now = time.monotonic()
            waited, wait_status = os.waitpid(worker.pid, os.WNOHANG)
            if waited:
                status = wait_status
                break
            if interrupted_at is None and now >= deadline:
                interrupted_at, how = now, "timeout"
                signal_worker(worker.pid, SIGINT)
            if interrupted_at is not None and now - interrupted_at >= INTERRUPT_GRACE_S:
                return None, kill_worker(worker.pid), how, True
            until = deadline if interrupted_at is None else interrupted_at + INTERRUPT_GRACE_S
            readable, _, _ = select.select(fds, [], [], min(POLL_S, max(0.0, until - now)))
            for fd in readable:
                if fd == 0:
                    request = self.next_request()
                    if request == "interrupt" and interrupted_at is None:
                        interrupted_at, how = time.monotonic(), "interrupted"
                        signal_worker(worker.pid, SIGINT)
                    continue
                chunk = os.read(fd, READ_CHUNK_BYTES)
                if not chunk:
                    fds.remove(fd)
                elif fd == worker.result_r:
                    self.answers.feed(chunk)
                    answer = self.answers.take()
                elif fd == worker.display_r:
                    results.relay(chunk, send)
                else:
                    send(streams[fd], chunk)
        drain(worker.display_r, lambda chunk: results.relay(chunk, send))
        for fd in (worker.stdout_r, worker.stderr_r):
            drain(fd, lambda chunk, kind=streams[fd]: send(kind, chunk))
        return answer, status, how, False

    def next_request(self) -> str:
        """A message from the engine while a cell runs: only an interrupt means anything
        then. A closed stdin is the engine letting go of the container."""
        try:
            body = read_message()
        except EOFError:
            self.end_worker()
            os._exit(0)
        try:
            return str(json.loads(body or b"{}").get("kind", ""))
        except (ValueError, AttributeError):
            return ""

    def end_worker(self) -> None:
        try:
            kill_worker(self.worker.pid)
        except ChildProcessError:
            pass

    def summary(self, exit_code: int, started: float, **more: object) -> None:
        summary = {
            "exit_code": exit_code,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "timed_out": False,
            "oom_killed": False,
            **more,
        }
        send(EXIT, json.dumps(summary).encode())


def serve(worker: object, job: dict) -> int:
    """Run the session's requests until the engine lets go or the session ends."""
    os.close(worker.stdin_w)  # a cell's stdin comes in its message: the pipe stays at EOF
    restored = None
    if job.get("restore"):
        import workdir

        part = StdinPart(int(job["restore"]))
        restored = workdir.restore(part, WORK_DIR, uid=SANDBOX_UID)
        part.skip_rest()
    session = Session(worker, job)
    if session.open(restored):
        return 0
    while True:
        try:
            body = read_message()
        except EOFError:
            session.end_worker()
            return 0
        message = json.loads(body) if body else {}
        kind = message.get("kind")
        if kind == "cell":
            if session.cell(message):
                return 0
        elif kind == "save":
            session.save(message)
