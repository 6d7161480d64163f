"""A Python session's cells: one namespace for all of them, as a notebook's kernel keeps.

A cell is compiled whole. When its last statement is a bare expression not ended by
`;`, that expression's value, unless None, is the cell's result, as Jupyter's
execute_result: a bundle made as display() makes one (display.py), and `_` names the
value afterwards, as in IPython. Top-level `await` works: such a cell runs on an event
loop kept for the session. An exception prints its traceback on stderr, as a script's
would, and is the cell's error ({name, value, traceback}); the session goes on.
`sys.exit()` in a cell ends the cell, not the session.

SIGINT (the supervisor's interrupt, or the time limit) raises KeyboardInterrupt while a
cell runs, and is ignored between cells, so that a late one never lands in this
module's own bookkeeping.
"""

import ast
import builtins
import io
import json
import linecache
import os
import signal
import struct
import sys
import traceback
import types
from collections.abc import Callable

CO_COROUTINE = 0x0080  # inspect.CO_COROUTINE, without inspect's 10 ms import
COMPILE_FLAGS = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


def send_answer(fd: int, answer: dict) -> None:
    """One answer to the supervisor: a 4-byte length, then JSON."""
    body = json.dumps(answer, default=str).encode()
    data = struct.pack(">I", len(body)) + body
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def silenced(code: str, last: ast.stmt) -> bool:
    """Whether the cell's last expression ends with `;`: IPython then shows nothing."""
    lines = code.splitlines()
    if last.end_lineno is None or last.end_col_offset is None or last.end_lineno > len(lines):
        return False
    rest = lines[last.end_lineno - 1].encode()[last.end_col_offset :].decode(errors="ignore")
    return rest.split("#", 1)[0].strip().startswith(";")


def flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


class Cells:
    def __init__(self) -> None:
        self.running = False
        self.loop = None
        self.display = sys.modules["sandpit_display"]
        module = types.ModuleType("__main__")
        module.__builtins__ = builtins  # type: ignore[attr-defined]
        sys.modules["__main__"] = module
        self.namespace = module.__dict__
        sys.argv = [""]
        signal.signal(signal.SIGINT, self.on_sigint)

    def on_sigint(self, signum: int, frame: object) -> None:
        if self.running:
            raise KeyboardInterrupt

    def run(self, message: dict) -> dict:
        """Run one cell; its answer."""
        try:
            return self._run(message)
        except KeyboardInterrupt as exc:  # landed between the code's end and the answer
            self.running = False
            return self.failed(exc)

    def _run(self, message: dict) -> dict:
        code = str(message.get("code", ""))
        filename = f"<cell {message.get('cell', 0)}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        stdin = str(message.get("stdin", "")).encode()
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
        failure: BaseException | None = None
        self.running = True
        try:
            self.execute(code, filename)
            self.display.show_open_figures()  # as Jupyter's inline backend, each cell
        except BaseException as exc:
            failure = exc
        finally:
            self.running = False
        flush()
        if failure is None:
            return {"exit_code": 0, "error": None}
        if isinstance(failure, SystemExit):
            return self.exited(failure)
        return self.failed(failure)

    def execute(self, code: str, filename: str) -> None:
        tree = ast.parse(code, filename, "exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr) and not silenced(code, tree.body[-1]):
            last = ast.Expression(tree.body.pop().value)
        self.evaluate(compile(tree, filename, "exec", COMPILE_FLAGS))
        if last is None:
            return
        value = self.evaluate(compile(last, filename, "eval", COMPILE_FLAGS))
        if value is not None:
            self.namespace["_"] = value
            self.display.display(value)

    def evaluate(self, code: types.CodeType) -> object:
        result = eval(code, self.namespace)  # noqa: S307 (running the code is the point)
        if code.co_flags & CO_COROUTINE:
            if self.loop is None:
                import asyncio  # only a session that awaits pays for it

                self.loop = asyncio.new_event_loop()
            result = self.loop.run_until_complete(result)
        return result

    def exited(self, exc: SystemExit) -> dict:
        """sys.exit() in a cell: the cell ends with that status, the session goes on."""
        if exc.code is None:
            return {"exit_code": 0, "error": None}
        if isinstance(exc.code, int):
            status = exc.code & 0xFF
        else:
            print(exc.code, file=sys.stderr)
            status = 1
        if not status:
            return {"exit_code": 0, "error": None}
        return {
            "exit_code": status,
            "error": {"name": "SystemExit", "value": str(exc.code), "traceback": []},
        }

    def failed(self, exc: BaseException) -> dict:
        """The traceback on stderr, without this module's frames; the answer with it."""
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell "):
            tb = tb.tb_next
        report = traceback.TracebackException(type(exc), exc, tb)
        # A KeyboardInterrupt is raised by on_sigint, a frame of ours: not the code's.
        report.stack = traceback.StackSummary.from_list(
            [frame for frame in report.stack if frame.filename != __file__]
        )
        text = "".join(report.format())
        sys.stderr.write(text)
        flush()
        try:
            value = str(exc)
        except Exception:
            value = f"<{type(exc).__name__} whose str() failed>"
        error = {"name": type(exc).__name__, "value": value, "traceback": text.splitlines()}
        return {"exit_code": 1, "error": error}


def serve(
    job: dict,
    job_fd: int,
    result_fd: int,
    prepare: Callable[[dict], None],
    read_message: Callable[[int], dict | None],
) -> None:
    """Open the session (its files, env and egress), then run cells until the job pipe
    closes. Never returns."""
    cells = Cells()
    try:
        prepare(job)
        answer = {"exit_code": 0, "error": None}
    except BaseException as exc:
        answer = cells.failed(exc)
    send_answer(result_fd, answer)
    while True:
        message = read_message(job_fd)
        if message is None:
            flush()
            os._exit(0)
        send_answer(result_fd, cells.run(message))
