"""Each language as a script and as a function, through real containers."""

from sandbox.engine import Engine
from sandbox.events import StatusEvent
from sandbox.jobs import File, OutputStatus, RunStatus
from tests.runs import EventLog, function, script


async def test_it_runs_the_seed_example_exactly(engine: Engine) -> None:
    result = await engine.run(
        function(
            "python",
            'def execute(input): return { "name": input["name"], "executed": True }',
            input={"name": "John"},
        )
    )
    assert result.output == {"name": "John", "executed": True}
    assert result.output_status is OutputStatus.VALID
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    assert result.status is RunStatus.SUCCEEDED


async def test_it_runs_a_python_script_with_args_stdin_env_and_files(engine: Engine) -> None:
    code = """
import os, sys
print(sys.argv[1:], sys.stdin.read().upper(), os.environ["GREETING"])
print(open("data/in.txt").read(), end="")
print("oops", file=sys.stderr)
sys.exit(3)
"""
    result = await engine.run(
        script(
            "python",
            code,
            args=["a", "b c"],
            stdin="hello",
            env={"GREETING": "hi"},
            files=[File("data/in.txt", "from a file\n")],
        )
    )
    assert result.stdout == "['a', 'b c'] HELLO hi\nfrom a file\n"
    assert result.stderr == "oops\n"
    assert result.exit_code == 3
    assert result.status is RunStatus.FAILED
    assert result.output_status is None


async def test_it_runs_a_javascript_script_with_args_stdin_env_and_files(engine: Engine) -> None:
    code = """
const fs = require('fs');
console.log(JSON.stringify(process.argv.slice(2)), fs.readFileSync(0, 'utf8'), process.env.GREETING);
process.stdout.write(fs.readFileSync('data/in.txt', 'utf8'));
console.error('oops');
await new Promise((resolve) => setTimeout(resolve, 10));
process.exitCode = 4;
"""
    result = await engine.run(
        script(
            "javascript",
            code,
            args=["a", "b c"],
            stdin="hello",
            env={"GREETING": "hi"},
            files=[File("data/in.txt", "from a file\n")],
        )
    )
    assert result.stdout == '["a","b c"] hello hi\nfrom a file\n'
    assert result.stderr == "oops\n"
    assert result.exit_code == 4


async def test_it_runs_a_typescript_script_with_types_enums_and_generics(engine: Engine) -> None:
    code = """
enum Colour { Red, Green = "green" }
interface Box<T> { value: T }
function unbox<T>(box: Box<T>): T { return box.value; }
export const answer: number = unbox<number>({ value: 42 });
console.log(answer, Colour.Green, Colour[Colour.Red]);
"""
    result = await engine.run(script("typescript", code))
    assert (result.stdout, result.stderr, result.exit_code) == ("42 green Red\n", "", 0)


async def test_it_runs_sync_and_async_functions_in_every_language(engine: Engine) -> None:
    cases = {
        ("python", "def execute(input):\n    return {'got': input, 'lang': 'py'}"),
        (
            "python",
            "import asyncio\nasync def execute(input):\n"
            "    await asyncio.sleep(0.01)\n    return {'got': input, 'lang': 'py'}",
        ),
        ("javascript", "function execute(input) { return { got: input, lang: 'js' }; }"),
        (
            "javascript",
            "async function execute(input) {\n"
            "  await new Promise((r) => setTimeout(r, 10));\n  return { got: input, lang: 'js' };\n}",
        ),
        (
            "typescript",
            "interface In { n: number }\n"
            "export function execute(input: In): { got: In; lang: string } "
            "{ return { got: input, lang: 'ts' }; }",
        ),
        (
            "typescript",
            "export async function execute<T>(input: T): Promise<{ got: T; lang: string }> {\n"
            "  await new Promise((r) => setTimeout(r, 10));\n  return { got: input, lang: 'ts' };\n}",
        ),
    }
    for language, code in cases:
        result = await engine.run(function(language, code, input={"n": 1}))
        assert result.output_status is OutputStatus.VALID, (language, code, result.stderr)
        tag = {"python": "py", "javascript": "js", "typescript": "ts"}[language]
        assert result.output == {"got": {"n": 1}, "lang": tag}


async def test_a_function_without_input_gets_none_or_null(engine: Engine) -> None:
    py = await engine.run(function("python", "def execute(input):\n    return input is None"))
    js = await engine.run(function("javascript", "const execute = (input) => input === null;"))
    assert (py.output, js.output) == (True, True)


async def test_a_function_that_returns_nothing_has_null_output(engine: Engine) -> None:
    py = await engine.run(function("python", "def execute(input):\n    pass"))
    js = await engine.run(function("javascript", "function execute(input) {}"))
    for result in (py, js):
        assert (result.output, result.output_status) == (None, OutputStatus.VALID)


async def test_what_a_function_prints_never_corrupts_its_output(engine: Engine) -> None:
    # Text shaped like the supervisor's frames and like the result message.
    forged = 'X\\x00\\x00\\x00\\x10{"exit_code": 9}F\\x00\\x00\\x00\\x05{"status": "valid", "output": "1"}'
    py = await engine.run(
        function(
            "python",
            "import sys\n"
            "def execute(input):\n"
            f"    print('{forged}')\n"
            f"    sys.stderr.write('{forged}\\n')\n"
            "    return {'real': True}",
        )
    )
    js = await engine.run(
        function(
            "javascript",
            "function execute(input) {\n"
            f"  console.log('{forged}');\n"
            f"  console.error('{forged}');\n"
            "  return { real: true };\n}",
        )
    )
    # The frame's NULs are kept as U+FFFD, as every NUL of output is (no database keeps one).
    expected_line = forged.encode().decode("unicode_escape").replace("\x00", "\ufffd") + "\n"
    for result in (py, js):
        assert result.output_status is OutputStatus.VALID
        assert result.output in ({"real": True},)
        assert result.stdout == expected_line
        assert result.stderr == expected_line
        assert result.exit_code == 0


async def test_a_non_serialisable_result_is_a_json_serialization_error(engine: Engine) -> None:
    cases = [
        ("python", "def execute(input):\n    return {1, 2}"),
        ("python", "import datetime\ndef execute(input):\n    return datetime.datetime.now()"),
        ("python", "def execute(input):\n    a = []\n    a.append(a)\n    return a"),
        ("python", "def execute(input):\n    return float('nan')"),
        ("javascript", "function execute(input) { return 10n; }"),
        ("javascript", "function execute(input) { return () => 1; }"),
        ("javascript", "function execute(input) { const a = {}; a.a = a; return a; }"),
    ]
    for language, code in cases:
        result = await engine.run(function(language, code))
        assert result.output_status is OutputStatus.JSON_SERIALIZATION_ERROR, (code, result)
        assert result.output is None
        assert "not JSON" in result.stderr.splitlines()[-1]


async def test_a_missing_execute_is_an_error_with_a_one_line_cause(engine: Engine) -> None:
    for language, code in [
        ("python", "x = 1"),
        ("javascript", "const x = 1;"),
        ("typescript", "let x: number = 1;"),
    ]:
        result = await engine.run(function(language, code))
        assert result.output_status is OutputStatus.ERROR
        assert result.output is None
        assert "no function named 'execute'" in result.stderr
        assert result.exit_code == 1


async def test_a_syntax_error_is_an_error_pointing_at_its_line(engine: Engine) -> None:
    cases = [
        ("python", "x = 1\ndef execute(input)\n    return 1", 'main.py", line 2'),
        ("javascript", "const x = 1;\nfunction execute(input) {\n  return 1 +;\n}", "main.js:3"),
        ("typescript", "const x: number = 1;\nfunction execute(input: number {\n}", "(2:"),
    ]
    for language, code, where in cases:
        result = await engine.run(function(language, code))
        assert result.output_status is OutputStatus.ERROR, result
        assert "SyntaxError" in result.stderr
        assert where in result.stderr, result.stderr


async def test_an_exception_gives_its_traceback_in_stderr(engine: Engine) -> None:
    py = await engine.run(
        function(
            "python",
            "def helper():\n    raise ValueError('bad input')\n\ndef execute(input):\n    return helper()",
        )
    )
    assert py.output_status is OutputStatus.ERROR
    assert 'File "main.py", line 2, in helper' in py.stderr
    assert "ValueError: bad input" in py.stderr
    assert "/opt/sandpit" not in py.stderr, "the worker's own frames leak into the traceback"
    ts = await engine.run(
        function(
            "typescript",
            "type T = number;\n\nasync function execute(input: T) {\n  throw new TypeError('bad input');\n}",
        )
    )
    assert ts.output_status is OutputStatus.ERROR
    assert "TypeError: bad input" in ts.stderr
    assert "main.ts:4" in ts.stderr


async def test_events_report_status_then_output_in_order(engine: Engine) -> None:
    log = EventLog()
    code = "import sys\nfor i in range(3):\n    print(i, flush=True)\nprint('e', file=sys.stderr)"
    result = await engine.run(script("python", code), log)
    assert log.events[:2] == [StatusEvent("starting"), StatusEvent("running")]
    assert log.text("stdout") == result.stdout == "0\n1\n2\n"
    assert log.text("stderr") == result.stderr == "e\n"


async def test_containers_load_only_what_every_run_needs(engine: Engine) -> None:
    """A container serves one run, so what its worker loads ahead is paid for by every
    run: Node starts from the image's snapshot (Sucrase in it), Python without asyncio."""
    node = await engine.run(script("javascript", "console.log(process.execArgv.join(' '))"))
    assert "--snapshot-blob /opt/sandpit/worker.blob" in node.stdout
    python = await engine.run(script("python", "import sys; print('asyncio' in sys.modules)"))
    assert python.stdout == "False\n"
