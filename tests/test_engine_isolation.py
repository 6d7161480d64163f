"""What hostile or careless code must not reach: the host, the server, other runs."""

import asyncio
import os
import socket

from sandbox.engine import Engine
from sandbox.jobs import Limits, RunStatus
from tests.runs import script


async def test_code_runs_as_an_unprivileged_user(engine: Engine) -> None:
    result = await engine.run(
        script("python", "import os\nprint(os.getuid(), os.getgid(), os.geteuid())")
    )
    uid, gid, euid = map(int, result.stdout.split())
    assert 0 not in (uid, gid, euid)


async def test_no_variable_of_the_server_is_visible(engine: Engine) -> None:
    os.environ["SANDPIT_TEST_SERVER_SECRET"] = "do-not-leak"
    try:
        py = await engine.run(script("python", "import os\nprint(sorted(os.environ.items()))"))
        js = await engine.run(script("javascript", "console.log(JSON.stringify(process.env))"))
    finally:
        del os.environ["SANDPIT_TEST_SERVER_SECRET"]
    for result in (py, js):
        assert "do-not-leak" not in result.stdout
        assert "DJANGO_SETTINGS_MODULE" not in result.stdout
        assert "SECRET_KEY" not in result.stdout
        assert "PATH" in result.stdout  # the run's own minimal environment is there


async def test_writes_outside_the_working_directory_and_tmp_fail(engine: Engine) -> None:
    code = """
import os
for path in ["/etc/sandpit", "/opt/sandpit/x", "/usr/lib/x", "/x", "/run/sandpit/x", "/work/ok", "/tmp/ok", "ok"]:
    try:
        with open(path, "w") as f:
            f.write("x")
        print(path, "written")
    except OSError as exc:
        print(path, "refused")
"""
    result = await engine.run(script("python", code))
    lines = dict(line.split(" ") for line in result.stdout.splitlines())
    assert lines == {
        "/etc/sandpit": "refused",
        "/opt/sandpit/x": "refused",
        "/usr/lib/x": "refused",
        "/x": "refused",
        "/run/sandpit/x": "refused",
        "/work/ok": "written",
        "/tmp/ok": "written",
        "ok": "written",
    }, result.stdout


async def test_nothing_survives_into_the_next_run(engine: Engine) -> None:
    first = """
import os, subprocess
open("/tmp/left-behind", "w").write("x")
open("left-behind", "w").write("x")
os.environ["LEFT_BEHIND"] = "1"
subprocess.Popen(["sleep", "300"], start_new_session=True)
print("planted")
"""
    second = """
import os
print(os.path.exists("/tmp/left-behind"), os.path.exists("left-behind"), "LEFT_BEHIND" in os.environ)
commands = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            commands.append(open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")[0].decode())
        except OSError:
            pass
print(any(c.endswith("sleep") for c in commands))
"""
    planted = await engine.run(script("python", first))
    assert planted.stdout == "planted\n", planted.stderr
    result = await engine.run(script("python", second))
    assert result.stdout == "False False False\nFalse\n", result.stderr


async def test_there_is_no_network_inside(engine: Engine) -> None:
    # A listener on the host's loopback: the sandbox's 127.0.0.1 is its own, so the
    # connection must be refused there and never arrive here.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.setblocking(False)
    port = listener.getsockname()[1]
    code = f"""
import os, socket
print(sorted(os.listdir("/sys/class/net")))
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=2)
    print("connected")
except OSError as exc:
    print("refused", type(exc).__name__)
"""
    try:
        result = await engine.run(script("python", code))
        try:
            listener.accept()
            arrived = True
        except BlockingIOError:
            arrived = False
    finally:
        listener.close()
    assert result.stdout.splitlines()[0] == "['lo']"
    assert result.stdout.splitlines()[1].startswith("refused"), result.stdout
    assert not arrived


async def test_a_fork_bomb_is_contained_while_a_parallel_run_finishes(engine: Engine) -> None:
    bomb = script(
        "python",
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass",
        limits=Limits(execution_timeout_s=8),
    )
    bomb_run = asyncio.create_task(engine.run(bomb))
    await asyncio.sleep(1)  # let it fill its process table
    neighbour = await engine.run(script("javascript", "console.log('still here')"))
    assert neighbour.stdout == "still here\n"
    assert not bomb_run.done(), "the neighbour should finish while the bomb still runs"
    bombed = await bomb_run
    assert bombed.status is RunStatus.TIMED_OUT
    # The host can still make processes.
    assert await asyncio.to_thread(os.spawnlp, os.P_WAIT, "true", "true") == 0


async def test_the_kernel_config_and_the_hosts_paths_are_out_of_sight(engine: Engine) -> None:
    code = """
try:
    print(len(open('/proc/config.gz', 'rb').read()))
except OSError:
    print('no config')
print(open('/proc/self/mountinfo').read())
"""
    result = await engine.run(script("python", code))
    assert result.stdout.startswith("0\n") or result.stdout.startswith("no config"), result.stdout
    assert str(engine.config.state_dir) not in result.stdout
    assert "/work/main" not in result.stdout and "/tmp/pytest" not in result.stdout


IO_URING_PROBE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
fd = libc.syscall(425, 8, params)  # io_uring_setup(8 entries)
print("io_uring", "refused" if fd < 0 else "allowed", ctypes.get_errno())
"""


async def test_io_uring_is_refused(engine: Engine) -> None:
    result = await engine.run(script("python", IO_URING_PROBE))
    assert result.stdout == "io_uring refused 38\n", result.stdout + result.stderr
    js = await engine.run(
        script(
            "javascript",
            "console.log(require('fs').readFileSync('/etc/hostname', 'utf8').length > 0)",
        )
    )
    assert js.stdout == "true\n"  # Node's libuv falls back without io_uring


SECCOMP_PROBE = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
print(status["Seccomp"].strip(), status["NoNewPrivs"].strip(), status["CapEff"].strip())
for name, number, args in [("unshare", 272, (0x10000000,)), ("keyctl", 250, (0, 0, 0, 0))]:
    rc = libc.syscall(number, *args)
    print(name, "refused" if rc < 0 else "allowed", ctypes.get_errno())
"""


async def test_dockers_seccomp_profile_is_in_force(engine: Engine) -> None:
    # Filter mode, no new privileges, no capability; and two calls Docker's profile
    # refuses without CAP_SYS_ADMIN (a user namespace; the kernel's keyrings).
    result = await engine.run(script("python", SECCOMP_PROBE))
    assert result.stdout.splitlines() == [
        "2 1 0000000000000000",
        "unshare refused 1",
        "keyctl refused 1",
    ], result.stdout + result.stderr
