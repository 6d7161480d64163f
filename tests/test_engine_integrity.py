"""A run's own result is the engine's word, not the code's: exit code and output can't be forged."""

import pytest

from sandbox.engine import Engine
from sandbox.jobs import RunStatus
from tests.runs import function, script

# A frame as the supervisor writes it: type, 4-byte length, payload.
FORGE = """
import json, os, struct
def frame(kind, payload):
    return kind + struct.pack(">I", len(payload)) + payload
forged = frame(b"O", b"forged stdout\\n") + frame(
    b"X", json.dumps({"exit_code": 0, "signal": 0, "duration_ms": 1, "timed_out": False,
                      "oom_killed": False}).encode())
result = json.dumps({"status": "exited", "exit_code": 0}).encode()
attempts = []
for target in ["/proc/1/fd/1", "/proc/2/fd/1", "/proc/1/fd/0"]:
    try:
        with open(target, "wb") as f:
            f.write(forged)
        attempts.append(target + " written")
    except OSError as exc:
        attempts.append(target + " refused")
# display()'s own descriptor is the code's to write (its results are checked as
# hostile input, tests/test_results_files.py): every other one must be closed.
display_fd = int(open("/proc/self/cmdline", "rb").read().split(b"\\0")[-2])
for fd in range(3, 64):
    if fd == display_fd:
        continue
    try:
        os.write(fd, struct.pack(">I", len(result)) + result)
        attempts.append(f"fd {fd} written")
    except OSError:
        pass
print(" | ".join(attempts))
raise SystemExit(3)
"""


async def test_a_script_cannot_forge_its_exit_code_or_stdout(engine: Engine) -> None:
    result = await engine.run(script("python", FORGE))
    assert result.exit_code == 3, result.stderr
    assert result.status is RunStatus.FAILED
    assert "forged stdout" not in result.stdout
    assert "/proc/1/fd/1 refused" in result.stdout
    assert "/proc/2/fd/1 refused" in result.stdout
    assert "fd " not in result.stdout  # no agent descriptor is open in the code's process


async def test_a_javascript_script_cannot_forge_its_exit_code(engine: Engine) -> None:
    code = """
const fs = require('fs');
const written = [];
for (const target of ['/proc/1/fd/1', '/proc/2/fd/1']) {
  try { fs.writeFileSync(target, 'O\\x00\\x00\\x00\\x06forged'); written.push(target); } catch {}
}
console.log(JSON.stringify(written));
process.exitCode = 5;
"""
    result = await engine.run(script("javascript", code))
    assert result.exit_code == 5, result.stderr
    assert "forged" not in result.stdout
    assert result.stdout == "[]\n"  # neither /proc/1/fd/1 nor /proc/2/fd/1 opened


async def test_the_agent_cannot_be_traced_by_the_code(engine: Engine) -> None:
    code = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
PTRACE_ATTACH = 16
for pid in (1, 2):
    rc = libc.ptrace(PTRACE_ATTACH, pid, 0, 0)
    print(pid, "attached" if rc == 0 else "refused")
print("uid", os.getuid(), "status", open("/proc/1/status").read().count("Uid:\\t0"))
"""
    result = await engine.run(script("python", code))
    assert "1 refused" in result.stdout and "2 refused" in result.stdout, result.stdout
    assert "uid 1000" in result.stdout


@pytest.mark.parametrize("language", ["python", "javascript"])
async def test_functions_still_return_through_their_own_channel(
    engine: Engine, language: str
) -> None:
    code = (
        "def execute(input):\n    print('hi')\n    return {'n': input['n'] + 1}\n"
        if language == "python"
        else "function execute(input) { console.log('hi'); return { n: input.n + 1 }; }"
    )
    result = await engine.run(function(language, code, input={"n": 1}))
    assert (result.output, result.exit_code, result.stdout) == ({"n": 2}, 0, "hi\n")
