"""Benchmark: bench/api.py under each way of starting sandboxes, interleaved; medians.

    .venv/bin/python -m bench.backends [--rounds 3] [--seconds 20] [-- api.py's options]

Runs `python -m bench.api --private-docker` once per mode and round, the modes' order
turning from one round to the next so that the machine's drift hits all alike:

- docker+runc: SANDBOX_BACKEND=docker, SANDBOX_DOCKER_RUNTIME=runc;
- docker+crun: SANDBOX_BACKEND=docker, SANDBOX_DOCKER_RUNTIME=crun;
- crun: SANDBOX_BACKEND=crun (sandbox/crun/, no Docker daemon in a run's way).

Each round also runs plain `docker run --rm` (runc) beside it, so every figure is read
against that round's own `docker run`. Prints the median of each figure by mode; needs
root and cgroup v1 (bench/cgroups.py). Other work on the machine shows in the load
averages printed with it.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODES = {
    "docker+runc": {"SANDBOX_BACKEND": "docker", "SANDBOX_DOCKER_RUNTIME": "runc"},
    "docker+crun": {"SANDBOX_BACKEND": "docker", "SANDBOX_DOCKER_RUNTIME": "crun"},
    "crun": {"SANDBOX_BACKEND": "crun"},
}
Figures = dict[str, object]
TRIES = 2
# Each mode's figures so far, kept after every round: --resume goes on from them.
PROGRESS = REPO / ".sandpit" / "bench-backends.json"
# A function of one mode's rounds, giving its cell's text.
CellFn = Callable[[list[Figures]], str]


def one_round(mode: str, api_args: list[str], out: Path) -> Figures:
    """One bench/api.py run, tried twice: a loaded machine fails one now and then."""
    env = {**os.environ, **MODES[mode]}
    command = [sys.executable, "-m", "bench.api", "--private-docker", "--json", str(out)]
    for attempt in range(TRIES):
        done = subprocess.run([*command, *api_args], env=env, cwd=REPO)
        if done.returncode == 0:
            figures: Figures = json.loads(out.read_text())
            return figures
        print(f"{mode} failed (attempt {attempt + 1} of {TRIES})", flush=True)
    raise SystemExit(f"{mode} failed {TRIES} times")


def number(figures: Figures, *path: str) -> float:
    value: object = figures
    for key in path:
        assert isinstance(value, dict)
        value = value[key]
    assert isinstance(value, int | float)
    return float(value)


def median(rounds: list[Figures], *path: str) -> float:
    return statistics.median(number(r, *path) for r in rounds)


def ratio(rounds: list[Figures], ours: tuple[str, ...], theirs: tuple[str, ...]) -> float:
    """The median of each round's own ratio: the machine's drift cancels in a round."""
    return statistics.median(number(r, *ours) / number(r, *theirs) for r in rounds)


def cpu(rounds: list[Figures], key: str) -> str:
    parts = "/".join(
        f"{median(rounds, key, part):.0f}" for part in ("server", "daemons", "containers")
    )
    return f"{median(rounds, key, 'total'):.0f} ({parts})"


def against_docker_run(key: str, docker_key: str, digits: int) -> CellFn:
    """A figure's median, and its median ratio to the same round's `docker run`."""

    def cell(rounds: list[Figures]) -> str:
        return f"{median(rounds, key):.1f} ({ratio(rounds, (key,), (docker_key,)):.{digits}f}x)"

    return cell


def table(results: dict[str, list[Figures]]) -> list[str]:
    lines = [
        "| measure | " + " | ".join(results) + " |",
        "|---|" + "---|" * len(results),
    ]

    def row(label: str, cell: CellFn) -> None:
        lines.append(f"| {label} | " + " | ".join(cell(r) for r in results.values()) + " |")

    row("machine CPU per run, ms (server/daemons/sandboxes)", lambda r: cpu(r, "cpu"))
    row("`docker run --rm`'s, ms (the CLI's apart)", lambda r: cpu(r, "docker_run_cpu"))
    for language in ("python", "javascript"):
        cell = against_docker_run(f"{language}_rate", f"{language}_docker_rate", 2)
        row(f"{language.title()} runs/s at 8 (x `docker run`)", cell)
    for key, label in (("idle_p50", "idle p50"), ("paced_50ms_p50", "a run every 50 ms, p50")):
        row(f"{label}, ms (x `docker run` p50)", against_docker_run(key, "docker_run_p50", 3))
    row("`docker run --rm` p50, ms", lambda r: f"{median(r, 'docker_run_p50'):.0f}")
    row(
        "load average (1 min) at each round's start",
        lambda r: ", ".join(f"{number(f, 'load_1min'):.1f}" for f in r),
    )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--resume", action="store_true", help="keep the rounds done before")
    parser.add_argument("api_args", nargs="*", help="more of bench/api.py's options")
    args = parser.parse_args()
    api_args = ["--seconds", str(args.seconds), *args.api_args]
    results: dict[str, list[Figures]] = {mode: [] for mode in MODES}
    if args.resume and PROGRESS.exists():
        results.update(json.loads(PROGRESS.read_text()))
    order = list(MODES)
    with tempfile.TemporaryDirectory(prefix="sandpit-bench-") as folder:
        for index in range(args.rounds):
            for mode in order[index % len(order) :] + order[: index % len(order)]:
                if len(results[mode]) > index:
                    continue
                print(f"round {index + 1}, {mode}", flush=True)
                out = Path(folder) / f"{mode}-{index}.json"
                results[mode].append(one_round(mode, api_args, out))
                PROGRESS.write_text(json.dumps(results))
    print("\n".join(table(results)))


if __name__ == "__main__":
    main()
