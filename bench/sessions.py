"""Benchmark: a session's call over HTTP beside a fresh-container run, and a resume; one table.

    .venv/bin/python bench/sessions.py [--runs 200] [--resumes 10] [--frozen-s 4]

First, in this process, the engine alone: the seed example as a session's cell (one
message to a live worker) beside the seed function in a fresh container (`Engine.run`),
one at a time. Then it starts Sandpit under uvicorn on a free loopback port with `make
run`'s settings (SQLite, pools of 2 growing to 8) and a database of its own and, all in
one run, with httpx:

- `GET /v1/sessions/{id}`: the API's own cost (the key, one read, the answer), no sandbox;

- the seed example as a session's cell (`execute` defined once, then each call is
  `execute({"name": "John"})`), Python and JavaScript, one call at a time at a person's
  pace (250 ms apart) and back to back: p50 / p95;
- the seed example through /v1/execute-function (a fresh container each), at the same
  pace, in the same run;
- a pause (files saved, then the sandbox frozen), a call that wakes a frozen session
  (its memory kept), and a resume after the frozen spell (a fresh sandbox, its files
  restored): p50 / p95 each.

Run it on a quiet machine; docs/benchmarks.md keeps the latest figures.
"""

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "playground.settings")

import django

django.setup()

from bench.api import SEED, free_port, percentile, prepare, start_server  # noqa: E402
from sandbox.engine import Engine, EngineConfig  # noqa: E402
from sandbox.jobs import Job, JobKind, Limits  # noqa: E402
from sandbox.languages import Language  # noqa: E402

CELLS = {
    "python": (
        'def execute(input): return { "name": input["name"], "executed": True }',
        'execute({"name": "John"})',
        "{'name': 'John', 'executed': True}",
    ),
    "javascript": (
        "function execute(input) { return { name: input.name, executed: true }; }",
        'execute({ name: "John" })',
        "{ name: 'John', executed: true }",
    ),
}
PERSON_PAUSE_S = 0.25


class Bench:
    def __init__(self, base: str, key: str) -> None:
        self.http = httpx.Client(
            base_url=f"{base}/v1", headers={"Authorization": f"Bearer {key}"}, timeout=120
        )

    def timed(self, method: str, path: str, body: dict[str, object] | None = None) -> float:
        started = time.perf_counter()
        answer = self.http.request(method, path, json=body)
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code in (200, 201), answer.text
        return elapsed

    def open(self, language: str) -> str:
        answer = self.http.post("/sessions", json={"language": language})
        assert answer.status_code == 201, answer.text
        session_id: str = answer.json()["id"]
        return session_id

    def cell(self, session_id: str, code: str, shown: str) -> float:
        started = time.perf_counter()
        answer = self.http.post(f"/sessions/{session_id}/execute", json={"code": code})
        elapsed = (time.perf_counter() - started) * 1000
        assert answer.status_code == 200, answer.text
        assert answer.json()["results"][0]["data"]["text/plain"] == shown, answer.text
        return elapsed

    def calls(self, language: str, runs: int, pause_s: float) -> list[float]:
        define, call, shown = CELLS[language]
        session_id = self.open(language)
        self.cell_untimed(session_id, define)
        latencies = []
        for _ in range(runs):
            latencies.append(self.cell(session_id, call, shown))
            time.sleep(pause_s)
        self.http.delete(f"/sessions/{session_id}")
        return latencies

    def cell_untimed(self, session_id: str, code: str) -> None:
        answer = self.http.post(f"/sessions/{session_id}/execute", json={"code": code})
        assert answer.status_code == 200 and answer.json()["exit_code"] == 0, answer.text

    def reads(self, runs: int) -> list[float]:
        session_id = self.open("python")
        latencies = []
        for _ in range(runs):
            latencies.append(self.timed("GET", f"/sessions/{session_id}"))
            time.sleep(PERSON_PAUSE_S)
        self.http.delete(f"/sessions/{session_id}")
        return latencies

    def fresh_runs(self, runs: int, pause_s: float) -> list[float]:
        latencies = []
        for _ in range(runs):
            latencies.append(self.timed("POST", "/execute-function", SEED))
            time.sleep(pause_s)
        return latencies

    def pauses_and_wakes(self, resumes: int, frozen_s: float) -> dict[str, list[float]]:
        """Pause; wake while frozen (a call); pause again; resume past the frozen spell."""
        define, call, shown = CELLS["python"]
        session_id = self.open("python")
        self.cell_untimed(session_id, define + "\nopen('data.txt', 'w').write('x' * 100_000)")
        found: dict[str, list[float]] = {"pause": [], "frozen": [], "files": []}
        for _ in range(resumes):
            found["pause"].append(self.timed("POST", f"/sessions/{session_id}/pause"))
            time.sleep(PERSON_PAUSE_S)
            found["frozen"].append(self.cell(session_id, call, shown))
            self.timed("POST", f"/sessions/{session_id}/pause")
            time.sleep(frozen_s + 2)  # past the spell: the sandbox is gone, the files kept
            found["files"].append(self.timed("POST", f"/sessions/{session_id}/resume"))
            state = self.http.get(f"/sessions/{session_id}").json()["state_kept"]
            assert state == "files", state
            self.cell_untimed(session_id, define)
        self.http.delete(f"/sessions/{session_id}")
        return found


async def engine_rows(runs: int) -> list[tuple[str, str]]:
    """The engine alone: a session's cell, and a fresh container's run, one at a time."""
    config = replace(
        EngineConfig.from_settings(),
        instance="sandpit-bench-sessions-engine",
        state_dir=Path(tempfile.mkdtemp(prefix="sandpit-bench-")),
    )
    engine = Engine(config)
    await engine.start()
    rows = []

    async def ignore(event: object) -> None:
        return None

    try:
        await asyncio.sleep(3)  # let the pools fill
        for language, (define, call, shown) in CELLS.items():
            kind = Language(language)
            await engine.sessions.open(
                Job(kind=JobKind.SESSION, language=kind, code="", run_id="ses_bench")
            )
            cells, durations = [], []
            for code in [define] + [call] * runs:
                started = time.perf_counter()
                cell = Job(
                    kind=JobKind.CELL,
                    language=kind,
                    code=code,
                    limits=Limits(execution_timeout_s=10),
                )
                result = await engine.sessions.call("ses_bench", cell, ignore)
                cells.append((time.perf_counter() - started) * 1000)
                durations.append(result.duration_ms)
                assert result.exit_code == 0, result.stderr
                await asyncio.sleep(PERSON_PAUSE_S)
            assert result.results[0]["data"]["text/plain"] == shown, result
            await engine.sessions.end("ses_bench")
            runs_ms = []
            for _ in range(runs):
                started = time.perf_counter()
                ran = await engine.run(
                    Job(kind=JobKind.FUNCTION, language=kind, code=define, input={"name": "John"})
                )
                runs_ms.append((time.perf_counter() - started) * 1000)
                assert ran.output == {"name": "John", "executed": True}, ran.stderr
                await asyncio.sleep(PERSON_PAUSE_S)
            in_sandbox = statistics.median(durations[1:])
            rows.append(
                (
                    f"engine: {language} cell (in-sandbox {in_sandbox:.0f} ms)",
                    ms(cells[1:]),
                )
            )
            rows.append((f"engine: {language} run in a fresh container", ms(runs_ms)))
    finally:
        await engine.close()
    return rows


def ms(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--resumes", type=int, default=10)
    parser.add_argument("--frozen-s", type=float, default=4)
    args = parser.parse_args()

    rows = asyncio.run(engine_rows(args.runs // 2))
    state = tempfile.mkdtemp(prefix="sandpit-bench-")
    env = {
        **os.environ,
        "SANDPIT_STATE_DIR": state,
        "SANDBOX_INSTANCE": "sandpit-bench-sessions",
        "SANDBOX_SESSION_FROZEN_S": str(int(args.frozen_s)),
    }
    key, _ = prepare(env)
    port = free_port()
    server = start_server("uvicorn", port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        time.sleep(3)  # let the pools fill
        bench = Bench(base, key)
        bench.calls("python", 10, 0)  # first uses: imports, connections
        rows.append(("GET /v1/sessions/{id}, the API alone, idle", ms(bench.reads(args.runs))))
        for language in ("python", "javascript"):
            idle = bench.calls(language, args.runs, PERSON_PAUSE_S)
            rows.append((f"{language} cell, idle, one at a time", ms(idle)))
            rows.append(
                (
                    f"{language} cell, back to back",
                    ms(bench.calls(language, args.runs, 0)),
                )
            )
        fresh = bench.fresh_runs(args.runs, PERSON_PAUSE_S)
        rows.append(("fresh container (/v1/execute-function), idle", ms(fresh)))
        woken = bench.pauses_and_wakes(args.resumes, args.frozen_s)
        rows.append(("pause (100 kB of files saved, frozen)", ms(woken["pause"])))
        rows.append(("a call waking a frozen session (memory)", ms(woken["frozen"])))
        rows.append(("resume after the frozen spell (files)", ms(woken["files"])))
    finally:
        server.terminate()
        server.wait(timeout=60)

    print(f"{platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}; uvicorn\n")
    print(f"| {'measure':<58} | {'p50 / p95':<20} |")
    print(f"|{'-' * 60}|{'-' * 22}|")
    for label, figure in rows:
        print(f"| {label:<58} | {figure:<20} |")


if __name__ == "__main__":
    main()
