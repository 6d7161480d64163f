"""Sandpit's supervisor: PID 2 of every sandbox container (docker-init is PID 1).

It starts the language worker at once, so the interpreter is loaded and waiting before
any job exists, then speaks one framed protocol with the engine over the container's
stdin and stdout:

  engine -> supervisor  one job: 4-byte big-endian length, then JSON; for a job with
                        live stdin, then more of it, a length and its bytes each,
                        and a length of 0 for its end (live_stdin.py); a session
                        sends more messages (session.py)
  supervisor -> engine  frames: 1 type byte, 4-byte big-endian length, payload

    R  ready      the worker is loaded and waiting for a job        (empty)
    S  started    the job reached the worker; the code is running   (empty)
    O  stdout     a chunk of the code's stdout, as it was written   (bytes)
    E  stderr     a chunk of the code's stderr                      (bytes)
    F  result     the function's result                             (JSON)
    D  display    one display() result, checked (bundles.py)        (JSON)
    P  file       an output file: its path and size, or why skipped (JSON)
    B  bytes      a piece of that file (collect.py)                 (bytes)
    T  saved      a piece of a session's working directory (a tar)  (bytes)
    X  exit       exit status, duration, timeout and OOM flags      (JSON)

The supervisor runs as root with only the capabilities to drop to the sandbox user
(SETUID, SETGID) and to kill that user's processes (KILL); the worker, and so the code,
runs as uid 1000 with none. The code can therefore neither write to the supervisor's
descriptors (the container's stdout, /proc/1/fd/1) nor trace it. The worker's stdout
and stderr are pipes read here, so nothing the code prints can forge a frame; the
function's result arrives on a separate pipe that print() never reaches, and a script
closes that pipe before its code runs: its exit status is the one waitpid() sees.
display() results come on a third pipe, checked here before they are framed. The engine
still treats every frame as untrusted input.

Runs under the image's own Python (Debian's), standard library only.
"""

import json
import os
import select
import struct
import sys
import threading
import time

# -I leaves this script's folder off sys.path; the agents live side by side.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nouring
from bundles import Results
from channel import (
    DISPLAY,
    EXIT,
    FRAMES,  # noqa: F401  (tests/unit/test_protocol.py reads it here)
    READ_CHUNK_BYTES,
    READY,
    RESULT,
    STARTED,
    STDERR,
    STDOUT,
    drain,
    framed,
    kill_worker,
    read_exactly,
    read_message,
    send,
    write_in_background,
    write_out,
)
from kernel import make_undumpable, oom_kills

WORK_DIR = "/work"
# A run with http.allow: the forwarder's port, and the socket of its proxy on the host.
EGRESS_PORT = 3128
EGRESS_SOCKET = "/run/sandpit/egress.sock"
SANDBOX_UID = 1000  # the image's "sandbox" user
# After the worker exits, a child it left behind may still hold its stdout open; wait
# this long for the pipes to drain before reporting, so the exit is never held hostage.
DRAIN_AFTER_EXIT_S = 0.2


def result_complete(result: bytearray) -> bool:
    """The worker's result is a 4-byte length and that much JSON."""
    return len(result) >= 4 and len(result) >= 4 + struct.unpack(">I", result[:4])[0]


def result_exit_code(payload: bytes) -> int:
    # The worker shares its process with the code; anything odd is a failed run.
    try:
        value = json.loads(payload)["exit_code"]
        return value if isinstance(value, int) and 0 <= value <= 255 else 1
    except (ValueError, KeyError, TypeError):
        return 1


class Worker:
    """The language worker's process, and the supervisor's ends of its pipes."""

    __slots__ = ("display_r", "job_w", "pid", "result_r", "stderr_r", "stdin_w", "stdout_r")

    def __init__(
        self,
        pid: int,
        job_w: int,
        result_r: int,
        stdin_w: int,
        stdout_r: int,
        stderr_r: int,
        display_r: int,
    ) -> None:
        self.pid = pid
        self.job_w = job_w
        self.result_r = result_r
        self.stdin_w = stdin_w
        self.stdout_r = stdout_r
        self.stderr_r = stderr_r
        self.display_r = display_r


class Ending:
    """How the worker's run ended: its wait status, when, and the result it wrote."""

    __slots__ = ("exited_at", "result", "status", "timed_out")

    def __init__(self, status: int, exited_at: float, timed_out: bool, result: bytearray) -> None:
        self.status = status
        self.exited_at = exited_at
        self.timed_out = timed_out
        self.result = result


def start_worker(command: list[str]) -> Worker:
    """Fork the worker, which loads its interpreter and waits for a job on its pipe."""
    job_r, job_w = os.pipe()
    result_r, result_w = os.pipe()
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    display_r, display_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        become_worker(
            command,
            stdio=(stdin_r, stdout_w, stderr_w),
            passed=(job_r, result_w, display_w),
            others=(job_w, result_r, stdin_w, stdout_r, stderr_r, display_r),
        )
    for fd in (job_r, result_w, stdin_r, stdout_w, stderr_w, display_w):
        os.close(fd)
    return Worker(pid, job_w, result_r, stdin_w, stdout_r, stderr_r, display_r)


def become_worker(
    command: list[str],
    *,
    stdio: tuple[int, int, int],
    passed: tuple[int, int, int],
    others: tuple[int, ...],
) -> None:
    """In the child: the sandbox user, no io_uring, its own process group, its pipes in
    place and no other descriptor of ours; then exec the worker. Never returns."""
    os.setsid()  # its own process group, so a timeout kills its children too
    if os.getuid() == 0:
        os.setgroups([])
        os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
        os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    nouring.install()  # no io_uring for the code, on top of Docker's profile
    for target, fd in enumerate(stdio):
        os.dup2(fd, target)
    keep = {0, 1, 2, *passed}
    for fd in (*others, *stdio):
        if fd not in keep:
            os.close(fd)
    for fd in passed:  # the job's, the result's and display()'s, as the worker's arguments
        os.set_inheritable(fd, True)
    os.chdir(WORK_DIR)
    argv = [*command, *(str(fd) for fd in passed)]
    os.execve(argv[0], argv, dict(os.environ))


def hand_job_to_worker(worker: Worker, job: dict, job_bytes: bytes) -> float:
    """Give the worker its job and the code its stdin, each from a thread of its own
    (either may be more than a pipe holds); tell the engine the code starts, and when."""
    started = time.monotonic()
    write_in_background(worker.job_w, framed(job_bytes))
    stdin = job.get("stdin", "").encode()
    if job.get("live_stdin"):  # its owner types the rest (live_stdin.py)
        import live_stdin

        live = (worker.stdin_w, stdin, read_exactly, write_out)
        threading.Thread(target=live_stdin.relay, args=live, daemon=True).start()
    else:
        write_in_background(worker.stdin_w, stdin)
    send(STARTED)
    return started


def relay_until_done(worker: Worker, job: dict, deadline: float) -> Ending:
    """Frame the code's stdout and stderr out as they come and collect its result, until
    the worker exits (and its pipes drain), a function returns, or the time is up."""
    streams = {worker.stdout_r: STDOUT, worker.stderr_r: STDERR}
    result = bytearray()
    results = Results(DISPLAY, STDERR, job)
    open_fds = [worker.stdout_r, worker.stderr_r, worker.result_r, worker.display_r]
    timed_out = False
    status: int | None = None
    exited_at: float | None = None
    while open_fds:
        now = time.monotonic()
        if status is None:
            waited, wait_status = os.waitpid(worker.pid, os.WNOHANG)
            if waited:
                status, exited_at = wait_status, now
        if status is None and now >= deadline:
            timed_out = True
            status, exited_at = kill_worker(worker.pid), now
        if exited_at is not None and now - exited_at > DRAIN_AFTER_EXIT_S:
            break
        wait_s = 0.05 if status is not None else min(0.05, max(0.0, deadline - now))
        readable, _, _ = select.select(open_fds, [], [], wait_s)
        for fd in readable:
            chunk = os.read(fd, READ_CHUNK_BYTES)
            if not chunk:
                open_fds.remove(fd)
            elif fd == worker.result_r:
                result += chunk
            elif fd == worker.display_r:
                results.relay(chunk, send)
            else:
                send(streams[fd], chunk)
        if status is None and job["kind"] == "function" and result_complete(result):
            # The function returned: the run is over. What it printed before returning
            # is already in the pipes; take it, then end the worker rather than wait for
            # the interpreter to tear itself down (5-10 ms).
            exited_at = time.monotonic()
            # display() calls came before the return
            drain(worker.display_r, lambda chunk: results.relay(chunk, send))
            for fd in (worker.stdout_r, worker.stderr_r):
                drain(fd, lambda chunk, kind=streams[fd]: send(kind, chunk))
            kill_worker(worker.pid)
            status = 0
            break
    if status is None:
        _, status = os.waitpid(worker.pid, 0)
        exited_at = time.monotonic()
    drain(worker.display_r, lambda chunk: results.relay(chunk, send))
    return Ending(status, exited_at or time.monotonic(), timed_out, result)


def returned(job: dict, ending: Ending) -> bytes | None:
    """The function's result, if it returned in time."""
    result = ending.result
    if job["kind"] == "function" and result_complete(result) and not ending.timed_out:
        return bytes(result[4 : 4 + struct.unpack(">I", result[:4])[0]])
    return None


def send_result(job: dict, ending: Ending) -> None:
    payload = returned(job, ending)
    if payload is not None:
        send(RESULT, payload)


def send_summary(job: dict, ending: Ending, started: float, oom_before: int) -> None:
    """The exit frame: how the run ended, and when."""
    exit_code, signal_number = 0, 0
    payload = returned(job, ending)
    if payload is not None:
        exit_code = result_exit_code(payload)
    elif os.WIFEXITED(ending.status):
        exit_code = os.WEXITSTATUS(ending.status)
    else:
        signal_number = os.WTERMSIG(ending.status)
        exit_code = 128 + signal_number
    summary = {
        "exit_code": exit_code,
        "signal": signal_number,
        "duration_ms": int((ending.exited_at - started) * 1000),
        "timed_out": ending.timed_out,
        "oom_killed": oom_kills() > oom_before,
    }
    send(EXIT, json.dumps(summary).encode())


def main() -> int:
    make_undumpable()
    # The worker's command, from sandbox/languages.py by way of the container's command.
    worker = start_worker(sys.argv[1:])
    if os.read(worker.result_r, 1) != READY:
        sys.stderr.write("supervisor: the worker did not start\n")
        return 1
    send(READY)
    job_bytes = read_message()
    if job_bytes is None:
        return 1
    job = json.loads(job_bytes)
    if job.get("egress"):
        import forwarder

        forwarder.open_for_run(EGRESS_PORT, EGRESS_SOCKET)
    if job["kind"] == "session":  # a worker that runs cells until the session ends
        import session

        return session.serve(worker, job)
    timeout_s = float(job["limits"]["execution_timeout"])
    oom_before = oom_kills()
    started = hand_job_to_worker(worker, job, job_bytes)
    ending = relay_until_done(worker, job, deadline=started + timeout_s)
    send_result(job, ending)
    if job.get("output_files"):  # the files the run asked to keep, however it ended
        import collect

        collect.keep_files(WORK_DIR, job, send, uid=SANDBOX_UID)
    send_summary(job, ending, started, oom_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
