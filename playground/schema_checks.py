"""Tenants' JSON Schemas, checked in a process of their own, within a time limit.

A schema's `pattern` and `patternProperties` are a tenant's regular expressions, and
Python's `re` backtracks: `^(a+)+$` against forty a's and a `!` runs for hours, and it
holds the GIL all the while, so no other thread of the server, nor its event loop, would
run. So schemas and inputs are checked in worker processes (started on first use from a
fork server, their memory capped, at the lowest CPU priority), and a check that passes
CHECK_TIMEOUT_S has its workers killed and replaced, and answers that the schema took
too long to check.

The checks answer (field, message) or None: exceptions of ours do not cross processes.
"""

import asyncio
import contextlib
import multiprocessing
import os
import re
import resource
import threading
from collections.abc import Callable, Mapping
from multiprocessing.pool import Pool
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

CHECK_TIMEOUT_S = 2.0
CHECKERS = 2
CHECKER_MEMORY_BYTES = 1024 * 1024 * 1024
REQUIRED = re.compile(r"^'(.+)' is a required property$")

Problem = tuple[str, str] | None


def schema_problem(schema: Any) -> Problem:
    """What is wrong with `input_schema`, unless it is a JSON Schema its metaschema takes."""
    if not isinstance(schema, dict):
        return "input_schema", "must be a JSON Schema object"
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = ".".join(str(p) for p in exc.absolute_path)
        return (
            "input_schema",
            f"is not valid JSON Schema{' at ' + where if where else ''}: {exc.message}",
        )
    return None


def input_problem(schema: Mapping[str, Any], value: Any) -> Problem:
    """The part of the input at fault (`input.a.0`) and what was wanted, or None."""
    if not schema:
        return None
    validator = jsonschema.validators.validator_for(schema)(schema)
    error = best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = [str(p) for p in error.absolute_path]
    missing = REQUIRED.match(error.message) if error.validator == "required" else None
    if missing:
        path.append(missing.group(1))
    return ".".join(["input", *path]), error.message


def _confine() -> None:
    """Each worker: its memory capped, and the lowest CPU priority, so that a tenant who
    keeps a check busy until its time limit takes CPU from no run and no request."""
    resource.setrlimit(resource.RLIMIT_AS, (CHECKER_MEMORY_BYTES, CHECKER_MEMORY_BYTES))
    os.nice(19)


class Checkers:
    """The worker processes; replaced whole when a check overruns."""

    def __init__(self) -> None:
        self._pool: Pool | None = None
        self._lock = threading.Lock()

    def _current(self) -> Pool:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                self._pool = context.Pool(CHECKERS, initializer=_confine)
            return self._pool

    def _replace(self, pool: Pool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        pool.terminate()

    async def check(self, field: str, fn: Callable[..., Problem], *args: Any) -> Problem:
        pool = self._pool
        if pool is None:  # the first check starts the workers
            pool = await asyncio.to_thread(self._current)
        # The answer comes back by callback: no thread of the server waits on a worker.
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[Problem] = loop.create_future()

        def settle(problem: Problem) -> None:
            _from_pool(loop, answer.set_result, answer, problem)

        def fail(exc: BaseException) -> None:
            _from_pool(loop, answer.set_exception, answer, exc)

        pool.apply_async(fn, args, callback=settle, error_callback=fail)
        try:
            return await asyncio.wait_for(answer, CHECK_TIMEOUT_S)
        except TimeoutError:
            await asyncio.to_thread(self._replace, pool)
            return field, (
                f"took longer than {CHECK_TIMEOUT_S:g} s to check against the schema; "
                "a pattern in it backtracks too much"
            )
        except MemoryError:
            return field, "needs too much memory to check against the schema"

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.terminate()


def _from_pool(
    loop: asyncio.AbstractEventLoop,
    deliver: Callable[[Any], None],
    answer: asyncio.Future[Problem],
    value: Any,
) -> None:
    """From the pool's result thread: hand a check's outcome to the waiting coroutine."""

    def now() -> None:
        if not answer.done():  # a check given up on is answered by its time-out
            deliver(value)

    with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
        loop.call_soon_threadsafe(now)


checkers = Checkers()
