"""Sessions in the engine, through real containers: state between calls, errors and
results, interrupts, time and memory limits, pause and resume, isolation."""

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from sandbox.engine import Engine, EngineConfig
from sandbox.errors import EngineBusy, SessionBusy, SessionEnded
from sandbox.jobs import File, Job, JobKind, Limits, RunResult, RunStatus
from sandbox.languages import Language
from tests.runs import EventLog, script

_ids = itertools.count(1)


def opening(language: str, session_id: str, **kwargs: Any) -> Job:
    return Job(
        kind=JobKind.SESSION, language=Language(language), code="", run_id=session_id, **kwargs
    )


@asynccontextmanager
async def session(
    engine: Engine, language: str, **kwargs: Any
) -> AsyncIterator[Callable[..., Any]]:
    """A session open for the test; `call(code, ...)` runs a cell in it."""
    session_id = f"ses_test{next(_ids)}"
    await engine.sessions.open(opening(language, session_id, **kwargs))

    async def call(code: str, **more: Any) -> RunResult:
        job = Job(
            kind=JobKind.CELL,
            language=Language(language),
            code=code,
            run_id=f"exec_{session_id}_{next(_ids)}",
            limits=Limits(execution_timeout_s=more.pop("timeout", 10)),
            **more,
        )
        with engine.sessions.reserved(session_id):
            return await engine.sessions.call(session_id, job, EventLog())

    call.session_id = session_id  # type: ignore[attr-defined]
    try:
        yield call
    finally:
        await engine.sessions.end(session_id)


def plain(result: RunResult) -> list[str]:
    return [r["data"]["text/plain"] for r in result.results]


async def test_python_keeps_variables_imports_functions_and_files_between_calls(
    engine: Engine,
) -> None:
    async with session(engine, "python", files=(File("data.csv", "a,b\n1,2\n"),)) as call:
        await call("import json\nrows = open('data.csv').read().splitlines()\n")
        await call("def width(): return len(rows[0].split(','))\nopen('out.txt', 'w').write('hi')")
        result = await call("print(json.dumps(rows))\nwidth() * 21")
        files = await call("open('out.txt').read()")
    assert (result.exit_code, result.stdout, plain(result)) == (0, '["a,b", "1,2"]\n', ["42"])
    assert plain(files) == ["'hi'"]


async def test_the_last_bare_expression_is_a_result_and_none_or_a_semicolon_is_not(
    engine: Engine,
) -> None:
    async with session(engine, "python") as call:
        shown = await call("x = 6\nx * 7")
        nothing = await call("None")
        silenced = await call("x * 7;")
        underscore = await call("_ + 1")
        html = await call("class Bold:\n    def _repr_html_(self): return '<b>hi</b>'\nBold()")
    assert plain(shown) == ["42"]
    assert (nothing.results, silenced.results) == ([], [])
    assert plain(underscore) == ["43"]
    assert html.results[0]["data"]["text/html"] == "<b>hi</b>"


async def test_an_exception_is_an_error_and_the_session_goes_on(engine: Engine) -> None:
    async with session(engine, "python") as call:
        await call("total = 1")
        failed = await call("def f():\n    return 1 / 0\nf()")
        after = await call("total + 1")
        syntax = await call("def (:")
    assert (failed.exit_code, failed.status) == (1, RunStatus.FAILED)
    assert failed.error is not None
    assert (failed.error["name"], failed.error["value"]) == (
        "ZeroDivisionError",
        "division by zero",
    )
    assert failed.error["traceback"][0] == "Traceback (most recent call last):"
    assert any("<cell" in line for line in failed.error["traceback"])
    assert "ZeroDivisionError: division by zero" in failed.stderr
    assert not failed.session_ended
    assert plain(after) == ["2"]
    assert syntax.error is not None and syntax.error["name"] == "SyntaxError"


async def test_python_cells_may_await_at_the_top_level(engine: Engine) -> None:
    async with session(engine, "python") as call:
        result = await call("import asyncio\nawait asyncio.sleep(0.01)\nvalue = 5\nvalue")
        again = await call("value + await asyncio.sleep(0, result=1)")
    assert (plain(result), plain(again)) == (["5"], ["6"])


@pytest.mark.parametrize("language", ["javascript", "typescript"])
async def test_javascript_keeps_top_level_declarations_as_the_node_repl_does(
    engine: Engine, language: str
) -> None:
    typed = ": number" if language == "typescript" else ""
    async with session(engine, language) as call:
        await call(
            f"const base{typed} = 40\nlet count = 1\nfunction add(a{typed}) {{ return a + base }}"
        )
        await call(
            "class Box { constructor(v) { this.v = v } }"
            if language == "javascript"
            else "class Box { constructor(public v: number) {} }"
        )
        awaited = await call(f"const later{typed} = await Promise.resolve(2); add(later)")
        result = await call("new Box(add(count + 1)).v + later")
        again = await call("const base = 1")
        literal = await call("{ a: 1 }")
    assert plain(awaited) == ["42"]
    assert plain(result) == ["44"]
    assert again.exit_code == 1 and again.error is not None
    assert again.error["name"] == "SyntaxError"
    assert literal.results[0]["data"]["application/json"] == {"a": 1}


@pytest.mark.parametrize("language", ["javascript", "typescript"])
async def test_imports_in_a_cell_last_for_the_cells_after_it(engine: Engine, language: str) -> None:
    async with session(engine, language) as call:
        imported = await call(
            "import path from 'path'\nimport * as os from 'os'\n"
            "import {\n  basename,\n  join as glue,\n} from 'path'\nimport 'fs'\nbasename('/a/b')"
        )
        again = await call(
            "import path from 'path'\nglue('x', path.basename('/y')) + typeof os.cpus"
        )
        failed = await call("\n\nimport { nope } from 'no-such-module'")
    assert plain(imported) == ["'b'"]
    assert plain(again) == ["'x/yfunction'"]
    assert failed.error is not None and "no-such-module" in failed.error["value"]
    assert "<cell" in failed.stderr and ":3" in failed.stderr


async def test_a_javascript_error_is_an_error_with_its_stack(engine: Engine) -> None:
    async with session(engine, "javascript") as call:
        failed = await call("function f() { throw new TypeError('nope') }\nf()")
        after = await call("1 + 1")
    assert failed.exit_code == 1 and failed.error is not None
    assert (failed.error["name"], failed.error["value"]) == ("TypeError", "nope")
    assert failed.error["traceback"][0] == "TypeError: nope"
    assert "<cell" in failed.error["traceback"][1]
    assert plain(after) == ["2"]


@pytest.mark.parametrize(
    ("language", "endless"),
    [
        ("python", "import time\nwhile True:\n    time.sleep(0.01)"),
        ("javascript", "while (true) {}"),
        ("javascript", "await new Promise(() => {})"),
    ],
)
async def test_a_call_past_its_time_is_interrupted_and_the_state_kept(
    engine: Engine, language: str, endless: str
) -> None:
    async with session(engine, language) as call:
        await call("var kept = 41" if language == "javascript" else "kept = 41")
        result = await call(endless, timeout=1)
        after = await call("kept + 1")
    assert (result.status, result.exit_code) == (RunStatus.TIMED_OUT, 124)
    assert "the call hit its time limit of 1 s and was interrupted." in result.stderr
    assert not result.session_ended
    assert 1000 <= result.duration_ms < 3000
    assert plain(after) == ["42"]


async def test_interrupt_stops_the_call_going_on_and_keeps_the_state(engine: Engine) -> None:
    async with session(engine, "python") as call:
        await call("kept = 1")
        going = asyncio.create_task(call("import time\ntime.sleep(30)", timeout=60))
        await asyncio.sleep(0.5)
        assert await engine.sessions.interrupt(call.session_id)  # type: ignore[attr-defined]
        result = await going
        after = await call("kept")
    assert (result.status, result.exit_code) == (RunStatus.STOPPED, 130)
    assert result.error is not None and result.error["name"] == "KeyboardInterrupt"
    assert result.duration_ms < 5000
    assert plain(after) == ["1"]


async def test_a_second_request_while_one_goes_on_is_refused(engine: Engine) -> None:
    async with session(engine, "python") as call:
        going = asyncio.create_task(call("import time\ntime.sleep(1)"))
        await asyncio.sleep(0.2)
        with pytest.raises(SessionBusy), engine.sessions.reserved(call.session_id):  # type: ignore[attr-defined]
            pass
        assert (await going).exit_code == 0


async def test_a_call_that_ignores_its_interrupt_ends_the_session(engine: Engine) -> None:
    async with session(engine, "python") as call:
        result = await call(
            "import signal, time\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\ntime.sleep(30)",
            timeout=1,
        )
        with pytest.raises(SessionEnded):
            await call("1")
    assert (result.status, result.exit_code) == (RunStatus.TIMED_OUT, 124)
    assert result.session_ended == "a call did not stop within 1 s of being interrupted"
    assert "the session has ended" in result.stderr


@pytest.mark.parametrize(
    ("language", "hog"),
    [
        ("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))"),
        ("javascript", "const blocks = [];\nwhile (true) blocks.push(Buffer.alloc(8 << 20, 1));"),
    ],
)
async def test_past_its_memory_the_session_ends(engine: Engine, language: str, hog: str) -> None:
    async with session(engine, language, limits=Limits(memory_mib=64)) as call:
        result = await call(hog)
        with pytest.raises(SessionEnded):
            await call("1")
    assert (result.status, result.exit_code) == (RunStatus.OUT_OF_MEMORY, 137)
    assert result.session_ended == "the session ran out of memory"
    assert "the session hit its memory limit of 64 MiB." in result.stderr
    assert sessions_sandboxes(engine) == set()


def sessions_sandboxes(engine: Engine) -> set[str]:
    return engine.sessions.live_ids()


async def test_sessions_share_nothing(engine: Engine) -> None:
    async with session(engine, "python") as one, session(engine, "python") as two:
        await one("secret = 'one'\nopen('mine.txt', 'w').write('one')")
        variable = await two("secret")
        file = await two("import os\nos.path.exists('mine.txt')")
    assert variable.error is not None and variable.error["name"] == "NameError"
    assert plain(file) == ["False"]


async def test_a_paused_session_wakes_with_its_memory_while_frozen(engine: Engine) -> None:
    async with session(engine, "python") as call:
        sid = call.session_id  # type: ignore[attr-defined]
        await call("kept = [1, 2]\nopen('f.txt', 'w').write('saved')")
        with engine.sessions.reserved(sid):
            saved = await engine.sessions.pause(sid)
        assert saved["files"] == 1 and engine.sessions.is_frozen(sid)
        with engine.sessions.reserved(sid):
            kept = await engine.sessions.resume(opening("python", sid))
        result = await call("kept")
    assert kept == "memory"
    assert plain(result) == ["[1, 2]"]
    assert not engine.sessions.has_saved(sid)


async def test_a_paused_session_past_its_frozen_spell_comes_back_with_its_files(
    engine: Engine,
) -> None:
    async with session(engine, "python", env={"GREETING": "hello"}) as call:
        sid = call.session_id  # type: ignore[attr-defined]
        await call(
            "import os\nos.makedirs('sub/dir')\nopen('sub/dir/f.txt', 'w').write('saved')\n"
            "os.symlink('sub/dir/f.txt', 'link')\nkept = 1"
        )
        with engine.sessions.reserved(sid):
            await engine.sessions.pause(sid)
        await engine.sessions.let_go(sid)
        assert sid not in engine.sessions.live_ids() and engine.sessions.has_saved(sid)
        with engine.sessions.reserved(sid):
            came_back = await engine.sessions.resume(
                opening("python", sid, env={"GREETING": "hello"})
            )
        files = await call("import os\nopen('link').read(), os.environ['GREETING']")
        memory = await call("kept")
    assert came_back == "files"
    assert plain(files) == ["('saved', 'hello')"]
    assert memory.error is not None and memory.error["name"] == "NameError"


async def test_a_javascript_session_comes_back_with_its_files(engine: Engine) -> None:
    async with session(engine, "javascript") as call:
        sid = call.session_id  # type: ignore[attr-defined]
        await call("require('fs').writeFileSync('note.txt', 'from js')")
        with engine.sessions.reserved(sid):
            await engine.sessions.pause(sid)
        await engine.sessions.let_go(sid)
        with engine.sessions.reserved(sid):
            await engine.sessions.resume(opening("javascript", sid))
        result = await call("require('fs').readFileSync('note.txt', 'utf8')")
    assert plain(result) == ["'from js'"]


async def test_output_files_and_display_results_come_with_a_call(engine: Engine) -> None:
    async with session(engine, "python") as call:
        result = await call(
            "open('chart.svg', 'w').write('<svg/>')\ndisplay({'text/markdown': '# hi'}, raw=True)",
            output_files=("*.svg",),
        )
        later = await call("open('chart.svg').read()")
    assert [f.path for f in result.files] == ["chart.svg"]
    assert result.files[0].data == b"<svg/>"
    assert result.results[0]["data"] == {"text/markdown": "# hi"}
    assert plain(later) == ["'<svg/>'"]


async def test_ending_a_session_during_a_call_stops_it_and_removes_its_sandbox(
    engine: Engine,
) -> None:
    async with session(engine, "python") as call:
        sid = call.session_id  # type: ignore[attr-defined]
        going = asyncio.create_task(call("import time\ntime.sleep(30)", timeout=60))
        await asyncio.sleep(0.5)
        await engine.sessions.end(sid)
        result = await going
    assert (result.status, result.exit_code) == (RunStatus.STOPPED, 137)
    assert sid not in engine.sessions.live_ids()


@pytest.fixture(scope="module")
async def one_slot(engine_config: EngineConfig) -> AsyncIterator[Engine]:
    """An engine with one run slot and no waiting line, of its own instance."""
    config = replace(
        engine_config,
        instance=f"{engine_config.instance}-one-slot",
        pool_size=1,
        max_concurrent_runs=1,
        max_queued_runs=0,
    )
    small = Engine(config)
    await small.start()
    yield small
    await small.close()
    assert small.adapter.instance_sandboxes() == []
    small.adapter.close()


async def test_a_sessions_call_takes_a_run_slot_as_a_run_does(one_slot: Engine) -> None:
    async with session(one_slot, "python") as call:
        going = asyncio.create_task(call("import time\ntime.sleep(1.5)"))
        await asyncio.sleep(0.5)
        with pytest.raises(EngineBusy):
            await one_slot.run(script("python", "print(1)"))
        assert (await going).exit_code == 0
        ran = asyncio.create_task(one_slot.run(script("python", "import time\ntime.sleep(1.5)")))
        await asyncio.sleep(0.5)
        with pytest.raises(EngineBusy):
            await call("1")
        assert (await ran).exit_code == 0
        assert plain(await call("2")) == ["2"]
