"""Sandpit's Python worker: loaded before any job exists, then runs exactly one, or a
session's cells one after another (cells.py).

Started by the supervisor with three extra descriptors: the job arrives on the first
(a 4-byte length, then JSON), the function's result leaves on the second, which the
code's print() never reaches, and display() results on the third (display.py). The code
runs in this very process, so a run costs no interpreter start-up.
"""

import atexit
import builtins

# Imported here so that runs do not pay for them: what most snippets reach for, and
# costs next to nothing to load. Not asyncio (about 35 ms of CPU), inspect, dataclasses
# or typing (about 10 ms each): every container pays for what is preloaded, and a
# container serves one run, so only a run that uses them should (docs/benchmarks.md).
import collections.abc
import datetime  # noqa: F401
import importlib
import importlib.util
import itertools  # noqa: F401
import json
import linecache
import math  # noqa: F401
import os
import random  # noqa: F401
import re  # noqa: F401
import site
import struct
import sys
import threading
import traceback
import types

FILENAME = "main.py"
# The OOM killer must pick the code, never the supervisor that reports on it.
OOM_SCORE_ADJ = "1000"


def read_exactly(fd: int, n: int) -> bytes | None:
    data = bytearray()
    while len(data) < n:
        chunk = os.read(fd, min(n - len(data), 1 << 20))
        if not chunk:
            return None
        data += chunk
    return bytes(data)


def read_message(fd: int) -> dict | None:
    """The next message on the job pipe (a 4-byte length, then JSON); None at its end.
    A run gets one; a session gets its cells after it (cells.py)."""
    head = read_exactly(fd, 4)
    if head is None:
        return None
    body = read_exactly(fd, struct.unpack(">I", head)[0])
    return None if body is None else json.loads(body)


def prepare(job: dict) -> None:
    for f in job.get("files", []):
        path = os.path.join(os.getcwd(), f["path"])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if f.get("encoding") == "base64":  # checked by the engine
            import base64

            with open(path, "wb") as binary:
                binary.write(base64.b64decode(f["contents"]))
            continue
        with open(path, "w", encoding="utf-8") as out:
            out.write(f["contents"])
    os.environ.update(job.get("env", {}))
    if job.get("egress"):
        # A run with http.allow reaches the network through its egress proxy, and only so.
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import egress

        del sys.path[0]
        egress.open_egress()


def fresh_main_module(code: str) -> types.ModuleType:
    module = types.ModuleType("__main__")
    module.__file__ = os.path.join(os.getcwd(), FILENAME)
    module.__builtins__ = builtins  # type: ignore[attr-defined]
    sys.modules["__main__"] = module
    # So that tracebacks show the offending source lines.
    linecache.cache[FILENAME] = (len(code), None, code.splitlines(True), FILENAME)
    return module


def print_user_traceback(exc: BaseException) -> None:
    """Print the traceback without this worker's own frames."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb)


def one_line(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()[-1]


def exit_status(exc: SystemExit) -> int:
    """What the interpreter would exit with for this SystemExit, printing as it would."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1


def run_script(job: dict) -> int:
    code = job["code"]
    sys.argv = [FILENAME, *job.get("args", [])]
    module = fresh_main_module(code)
    try:
        exec(compile(code, FILENAME, "exec"), module.__dict__)
    except SystemExit as exc:
        return exit_status(exc)
    except BaseException as exc:
        print_user_traceback(exc)
        return 1
    return 0


def run_function(job: dict, result_fd: int) -> int:
    code = job["code"]
    sys.argv = [FILENAME]
    module = fresh_main_module(code)
    try:
        exec(compile(code, FILENAME, "exec"), module.__dict__)
        execute = module.__dict__.get("execute")
        if not callable(execute):
            raise NameError("the code defines no function named 'execute'; define execute(input)")
        value = execute(job.get("input"))
        if isinstance(value, collections.abc.Awaitable):
            import asyncio  # only an async execute() pays for it

            value = asyncio.run(_await(value))
    except SystemExit as exc:
        status = exit_status(exc) or 1
        reason = f"execute() called sys.exit({exc.code!r})"
        send_result(result_fd, {"status": "error", "error": reason}, status)
        return status
    except BaseException as exc:
        print_user_traceback(exc)
        send_result(result_fd, {"status": "error", "error": one_line(exc)}, 1)
        return 1
    display.show_open_figures()  # before the result: the run ends when it is sent
    try:
        output = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        send_result(result_fd, {"status": "json_serialization_error", "error": one_line(exc)}, 0)
        return 0
    send_result(result_fd, {"status": "valid", "output": output}, 0)
    return 0


async def _await(value: collections.abc.Awaitable[object]) -> object:
    return await value


def send_result(fd: int, result: dict, exit_code: int) -> None:
    """The result, with the exit status the run ends with: a 4-byte length, then JSON."""
    body = json.dumps({**result, "exit_code": exit_code}).encode()
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def load_agent_module(name: str, as_name: str) -> types.ModuleType:
    """One of the agent's modules beside this file (-I keeps its folder off sys.path)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
    spec = importlib.util.spec_from_file_location(as_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


# display.py, as the module matplotlib knows it by.
display = load_agent_module("display", "sandpit_display")


def main() -> None:
    job_fd, result_fd = int(sys.argv[1]), int(sys.argv[2])
    display_fd = int(sys.argv[3]) if len(sys.argv) > 3 else None
    for fd in (job_fd, result_fd, display_fd):
        if fd is not None:
            os.set_inheritable(fd, False)
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(OOM_SCORE_ADJ)
    except OSError:
        pass
    warm_up()
    os.write(result_fd, b"R")
    job = read_message(job_fd)
    if job is None:
        os._exit(1)
    display.attach(display_fd)
    if job["kind"] == "session":  # cells, one after another, until the session ends
        cells = load_agent_module("cells", "sandpit_cells")
        cells.serve(job, job_fd, result_fd, prepare, read_message)
    os.close(job_fd)
    prepare(job)
    if job["kind"] == "function":
        finish(run_function(job, result_fd))
    # A script's exit status is the process's own, as the supervisor sees it: the result
    # channel closes before the code runs, so the code cannot forge one.
    os.close(result_fd)
    finish(run_script(job))


def finish(status: int) -> None:
    """Exit as the interpreter would, without tearing down every module (~8 ms)."""
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # joins non-daemon threads
        display.show_open_figures()
        atexit._run_exitfuncs()
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:
        print_user_traceback(exc)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def warm_up() -> None:
    """Take the first-use costs now, before any job: compiling, JSON, tracebacks, and the
    modules a runtime revision asks to preload (its build checked that they import)."""
    if os.environ.get("SANDPIT_SITE_DIR"):
        site.addsitedir(os.environ["SANDPIT_SITE_DIR"])  # a runtime revision's packages
    for name in os.environ.get("SANDPIT_PRELOAD", "").split():
        importlib.import_module(name)
    compile("def f(x):\n    return {'a': [x, 1.5, None]}\n", FILENAME, "exec")
    json.loads(json.dumps({"a": [1, 1.5, None, "é"]}, allow_nan=False))
    traceback.format_exception_only(ValueError, ValueError("x"))


if __name__ == "__main__":
    main()
